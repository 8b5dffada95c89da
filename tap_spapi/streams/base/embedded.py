"""Lists embedded in each record of a parent's page, emitted as streams of their own.

The parent hands each record's list over in its `post_process` (`keep`); singer-sdk
syncs the child for that record's context right after, so at most one parent record's
list is held at a time, and the child makes no request of its own.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from typing_extensions import override

from tap_spapi.keys import ACCOUNT_KEY, SELLER_KEY
from tap_spapi.streams.base.stream import SPAPIStream

if TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context


class EmbeddedListStream(SPAPIStream):
    """The `embedded_field` list of each parent record, a row per element."""

    state_partitioning_keys: ClassVar[list[str]] = []
    #: The parent record's property that holds the list.
    embedded_field: ClassVar[str]
    #: The parent record's id, in the parent's child context and copied onto each row.
    parent_key: ClassVar[str]

    @cached_property
    def _held(self) -> dict[tuple[str, str], list[dict[str, Any]]]:
        return {}

    def keep(self, parent: dict[str, Any]) -> None:
        """Hold `parent`'s list for the sync of its child context, when selected."""
        if self.selected:
            self._held[(parent[ACCOUNT_KEY], parent[self.parent_key])] = self.rows_of(parent)

    def rows_of(self, parent: dict[str, Any]) -> list[dict[str, Any]]:
        """The parent's list, each row naming its parent, account and seller."""
        rows = []
        for element in parent.get(self.embedded_field) or []:
            keys = {self.parent_key: parent[self.parent_key], SELLER_KEY: parent.get(SELLER_KEY)}
            row = {**element, **self.row_keys(element), **keys, ACCOUNT_KEY: parent[ACCOUNT_KEY]}
            self.records.check(row)
            rows.append(row)
        return rows

    def row_keys(self, row: dict[str, Any]) -> dict[str, Any]:
        """Key fields the stream names differently from Amazon's row (none by default)."""
        return {}

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """The list held for the context's parent record."""
        assert context is not None
        yield from self._held.pop((context[ACCOUNT_KEY], context[self.parent_key]), [])
