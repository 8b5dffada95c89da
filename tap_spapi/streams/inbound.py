"""FBA inbound v0 streams: shipments to Amazon's fulfillment centres and their items."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from tap_spapi.client import ACCOUNT_KEY, SPAPIStream, decoded_body
from tap_spapi.errors import AccountUnavailableError, TapSpapiError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

WINDOW_BOOKMARK = "window_end"


def isoformat(moment: datetime.datetime) -> str:
    """`2026-01-02T03:04:05Z`: the form Amazon's examples use."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class QueryWindow:
    """One `LastUpdatedAfter`..`LastUpdatedBefore` range (both inclusive at Amazon)."""

    start: datetime.datetime
    end: datetime.datetime


def split_windows(
    start: datetime.datetime, end: datetime.datetime, longest: datetime.timedelta
) -> Iterator[QueryWindow]:
    """Consecutive windows from `start` to `end`, none longer than `longest`."""
    while start < end:
        window_end = min(start + longest, end)
        yield QueryWindow(start, window_end)
        start = window_end


def windows_after_bookmark(
    stream: SPAPIStream, context: Context, longest: datetime.timedelta
) -> Iterator[QueryWindow]:
    """Windows from `context`'s window bookmark minus the lookback (else `start_date`) to
    the start of the run, none longer than `longest`."""
    bookmark = stream.get_context_state(context).get(WINDOW_BOOKMARK)
    if bookmark:
        start = datetime.datetime.fromisoformat(bookmark) - stream.lookback
    else:
        start = stream._tap.default_start  # type: ignore[attr-defined]
    return split_windows(start, stream._tap.run_started_at, longest)  # type: ignore[attr-defined]


class InboundShipmentsStream(SPAPIStream):
    """Inbound shipments (getShipments), per marketplace, by last-update window.

    Window bookmark because InboundShipmentInfo has no timestamp of its own: each run
    asks `LastUpdatedAfter = bookmark - lookback` up to a `LastUpdatedBefore` fixed at
    the start of the run, and the bookmark moves to a window's end only after every page
    of that window was emitted. Long ranges are split so a failure repeats one window,
    not the whole history.
    """

    name = "inbound_shipments"
    operation_id = "getShipments"
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "ShipmentId"]
    records_jsonpath = "$.payload.ShipmentData[*]"
    next_token_path = "payload.NextToken"
    longest_window = datetime.timedelta(days=30)

    @property
    def partitions(self) -> list[dict[str, Any]]:
        """One partition (and bookmark) per account and marketplace: the query is per
        marketplace. An account whose marketplaces cannot be read is skipped here."""
        return [
            {**account, "marketplace_id": marketplace}
            for account in self.account_partitions()
            for marketplace in self._marketplaces_of(account[ACCOUNT_KEY])
        ]

    def _marketplaces_of(self, account: str) -> list[str]:
        try:
            return self._tap.marketplace_ids_of(account)  # type: ignore[attr-defined]
        except AccountUnavailableError as exc:
            self.failures.account_failed(account, exc)
            return []
        except TapSpapiError as exc:  # the participations failed: nothing to query
            self.failures.stream_stopped(self.name, account, exc, self.ancestors)
            return []

    def windows(self, context: Context) -> Iterator[QueryWindow]:
        """The windows this run asks for in `context`'s marketplace."""
        return windows_after_bookmark(self, context, self.longest_window)

    def window_contexts(self, context: Context) -> list[dict[str, Any]]:
        """Request contexts of this run's windows in `context`'s marketplace."""
        # ISO strings, not the window object: the SDK logs contexts as JSON metrics.
        return [
            {**context, "window_start": isoformat(w.start), "window_end": isoformat(w.end)}
            for w in self.windows(context)
        ]

    read_ahead = True

    def read_ahead_contexts(self) -> list[Context | None]:
        """Every window of every marketplace, in the order `get_records` asks for them."""
        return [w for partition in self.partitions for w in self.window_contexts(partition)]

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Every window's pages, then the bookmark advance for that window."""
        if context is None:
            return  # no partition: no account or marketplace to query in this run
        for window_context in self.window_contexts(context):
            yield from super().get_records(window_context)
            if self.abandoned(context):
                return  # the window was not read: its bookmark must not move
            end = datetime.datetime.fromisoformat(window_context["window_end"])
            self.save_bookmark(context, **{WINDOW_BOOKMARK: end.isoformat()})

    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """DATE_RANGE for a window's first page, then QueryType=NEXT_TOKEN with the token."""
        assert context is not None
        params: dict[str, Any] = {"MarketplaceId": context["marketplace_id"]}
        if next_page_token:
            return {**params, "QueryType": "NEXT_TOKEN", "NextToken": next_page_token}
        return {
            **params,
            "QueryType": "DATE_RANGE",
            "LastUpdatedAfter": context["window_start"],
            "LastUpdatedBefore": context["window_end"],
        }

    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        """Records carry their marketplace: ShipmentIds are per marketplace query."""
        row["marketplace_id"] = (context or {}).get("marketplace_id")
        return row

    def get_child_context(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:
        """Items are fetched per shipment."""
        return {
            ACCOUNT_KEY: record[ACCOUNT_KEY],
            "marketplace_id": record["marketplace_id"],
            "ShipmentId": record["ShipmentId"],
        }


class InboundShipmentItemsStream(SPAPIStream):
    """Items of each inbound shipment emitted in this run (getShipmentItemsByShipmentId).

    The model declares a `payload.NextToken` on this response but no way to send it
    back (reference quirk 2); a shipment's items come in one page in practice, and the
    tap logs a warning if Amazon ever returns a token here.
    """

    name = "inbound_shipment_items"
    prefetch = True
    operation_id = "getShipmentItemsByShipmentId"
    parent_stream_type = InboundShipmentsStream
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "ShipmentId", "SellerSKU"]
    derived_keys = ("ShipmentId",)  # from the parent when the item does not repeat it
    records_jsonpath = "$.payload.ItemData[*]"
    # Bookmarks live with the parent; one state partition per shipment would grow forever.
    state_partitioning_keys: ClassVar[list[str]] = []

    # Only the path id: the `MarketplaceId` query parameter is deprecated here ("Do not use").
    path_params: ClassVar[dict[str, str]] = {"shipmentId": "ShipmentId"}

    def parse_response(self, response: Any) -> Iterable[dict[str, Any]]:
        """Items of the one page, warning about a token we have no way to follow."""
        body = decoded_body(response)
        if (body.get("payload") or {}).get("NextToken"):
            self.logger.warning(
                "%s returned a NextToken, which the operation cannot accept; "
                "items beyond the first page are not available through it.",
                self.operation_id,
            )
        yield from super().parse_response(response)

    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        """Key fields from the parent when Amazon leaves them out (ShipmentId is optional)."""
        row["ShipmentId"] = row.get("ShipmentId") or (context or {}).get("ShipmentId")
        row["marketplace_id"] = (context or {}).get("marketplace_id")
        return row
