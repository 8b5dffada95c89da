"""Sellers API v1 streams."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk.helpers.jsonpath import extract_jsonpath
from typing_extensions import override

from tap_spapi.errors import AccountUnavailableError, TapSpapiError
from tap_spapi.keys import ACCOUNT_KEY, SELLER_KEY
from tap_spapi.streams.base.stream import SPAPIStream
from tap_spapi.wire.responses import MissingKeyError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context

    from tap_spapi.wire.client import SPAPIClient


class MarketplaceParticipationsStream(SPAPIStream):
    """Marketplaces the account sells in (getMarketplaceParticipations), full table.

    Amazon's record nests the id as `marketplace.id`; key properties must be top-level
    fields, so `marketplace_id` is copied up and the nested objects are kept as they are.
    """

    name = "marketplace_participations"
    operation_id = "getMarketplaceParticipations"
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "marketplace_id"]
    derived_keys = ("marketplace_id",)
    records_jsonpath = "$.payload[*]"
    partitioned_by_account = True

    @override
    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        """Copy the key up from `marketplace.id` (`get_records` checked it is there, so a
        missing one stops this stream only; checked again for callers other than it)."""
        self._check_key(row)
        row["marketplace_id"] = row["marketplace"]["id"]
        return row

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The account's participations: the run may already have fetched them to find
        its marketplaces, and at 1 request per minute a second call is costly."""
        if not (context or {}).get(ACCOUNT_KEY) or self.abandoned(context):
            return  # no account in this run's shard, or the account failed
        account = self.account_for(context).name
        try:
            records = self.run.marketplaces.participations_of(account)
            for record in records:
                self._check_key(record)
        except AccountUnavailableError as exc:
            self.run.failures.account_failed(account, exc)
            return
        except TapSpapiError as exc:
            self.contained.contain(exc, context)
            return
        yield from records
        self.contained.succeeded(account)

    def _check_key(self, record: dict[str, Any]) -> None:
        # Here, not in post_process: a failure inside get_records is contained to the stream.
        if (record.get("marketplace") or {}).get("id") is None:
            raise MissingKeyError(
                f"stream '{self.name}' ({self.operation_id}): a participation without "
                "marketplace.id (the key field 'marketplace_id')"
            )


def fetch_participations(client: SPAPIClient) -> list[dict[str, Any]]:
    """getMarketplaceParticipations of `client`'s account, as the stream's records before
    `post_process` (the run calls it once and caches the answer: reading ahead needs
    the marketplaces before any stream syncs)."""
    stream = MarketplaceParticipationsStream
    body = client.call(stream.operation_id, where=stream.name)
    account = client.account
    return [
        {**record, ACCOUNT_KEY: account.name, SELLER_KEY: account.settings.selling_partner_id}
        for record in extract_jsonpath(stream.records_jsonpath, input=body)
    ]
