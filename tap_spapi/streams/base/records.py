"""Records as Amazon sends them: found in a decoded body, checked, stamped.

`Records`, a collaborator each stream holds (`SPAPIStream.records`), finds a body's
records at the stream's `records_jsonpath`, checks that each has the fields the stream
is keyed and bookmarked by (`required_fields`), and stamps it with its account and
seller. What it reads of its stream is `RecordsStream`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from singer_sdk.helpers.jsonpath import extract_jsonpath

from tap_spapi.keys import ACCOUNT_KEY, SELLER_KEY
from tap_spapi.streams.base.pii import drop_pii
from tap_spapi.wire.responses import MissingKeyError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context

    from tap_spapi.runtime.run import Run
    from tap_spapi.wire.account import Account


class RecordsStream(Protocol):
    """What finding records reads of its stream (SPAPIStream has it all)."""

    name: str

    @property
    def records_jsonpath(self) -> str: ...
    @property
    def operation_id(self) -> str: ...
    @property
    def required_fields(self) -> list[str]: ...
    @property
    def context_keys_on_records(self) -> tuple[str, ...]: ...
    @property
    def pii_fields(self) -> tuple[str, ...]: ...
    @property
    def run(self) -> Run: ...


class Records:
    """The records of one stream's decoded answers."""

    def __init__(self, stream: RecordsStream) -> None:
        self._stream = stream

    def in_body(self, body: Any, account: Account) -> Iterator[dict[str, Any]]:
        """Records at `records_jsonpath` of a decoded `body` of `account`'s."""
        seller = account.settings.selling_partner_id
        for record in extract_jsonpath(self._stream.records_jsonpath, input=body):
            self.check(record)
            record[ACCOUNT_KEY] = account.name
            record[SELLER_KEY] = seller
            yield record

    def finish(self, row: dict[str, Any], context: Context | None) -> dict[str, Any] | None:
        """`row` as loaded: `context_keys_on_records` copied from the context, `pii_fields`
        dropped unless `include_pii` (pii.py)."""
        stream = self._stream
        for key in stream.context_keys_on_records:
            row[key] = (context or {}).get(key)
        return drop_pii(row, stream.pii_fields, keep=stream.run.settings.include_pii)

    def check(self, record: dict[str, Any]) -> None:
        """A record without its key or bookmark field cannot be loaded: say which."""
        for field in self._stream.required_fields:
            if record.get(field) is None:
                raise MissingKeyError(
                    f"stream '{self._stream.name}' ({self._stream.operation_id}): Amazon sent "
                    f"a record without '{field}', which the stream is keyed or bookmarked by"
                )
