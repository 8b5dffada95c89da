"""A stream read, unselected, only for the selected streams that need its records.

Such a stream keeps its bookmarks but writes nothing: `SPAPIStream.mask` selects every
field (`EVERY_FIELD`) and `SPAPIStream.stream_maps` is `silent_maps`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from singer_sdk.mapper import RemoveRecordTransform
from singer_sdk.singerlib.catalog import SelectionMask
from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Sequence

    from singer_sdk.mapper import StreamMap

# A selection mask in which every field is selected (missing entries follow the root).
EVERY_FIELD = SelectionMask({(): True})


class ReadWithoutOutput(RemoveRecordTransform):
    """The map of a stream read only for the streams that need its records: no SCHEMA,
    no RECORD (singer-sdk's map that removes a stream), but its children still synced
    (that one would stop them, as a filter that drops every record)."""

    @override
    def get_filter_result(self, record: dict[str, Any]) -> bool:
        return True


class SilencedStream(Protocol):
    """What the silent map reads of its stream (SPAPIStream has it all)."""

    name: str

    @property
    def schema(self) -> dict[str, Any]: ...
    @property
    def primary_keys(self) -> Sequence[str] | None: ...


def silent_maps(stream: SilencedStream) -> list[StreamMap]:
    """The stream's maps while it is read only for others: one that writes nothing."""
    return [
        ReadWithoutOutput(
            stream_alias=stream.name,
            raw_schema=stream.schema,
            key_properties=stream.primary_keys,
            flattening_options=None,
        )
    ]
