"""FBA inbound v0 streams: shipments to Amazon's fulfillment centres and their items."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from typing_extensions import override

from tap_spapi.errors import AccountUnavailableError, TapSpapiError
from tap_spapi.keys import ACCOUNT_KEY
from tap_spapi.runtime.pools import context_key
from tap_spapi.runtime.progress import about, describe_plan, estimate_level
from tap_spapi.runtime.state import WINDOW_BOOKMARK
from tap_spapi.streams.base.fetch_ahead import AheadOfSync
from tap_spapi.streams.base.stream import SPAPIStream
from tap_spapi.streams.base.windows import (
    context_in_window,
    halved,
    halvings_after_interruptions,
    instant,
    mark_in_flight,
    range_after_bookmark,
    range_read,
)
from tap_spapi.wire.responses import decoded_body

if TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context

    from tap_spapi.streams.base.windows import QueryWindow


class InboundShipmentsStream(SPAPIStream):
    """Inbound shipments (getShipments), per marketplace, by last-update range.

    Window bookmark because InboundShipmentInfo has no timestamp of its own: each run
    asks `LastUpdatedAfter = bookmark - lookback` up to a `LastUpdatedBefore` fixed at
    the start of the run, and the bookmark moves to a window's end only after every page
    of that window was emitted. The model sets no limit on the range, so the whole range
    is one DATE_RANGE query (an empty 30-day window costs a request like a full one); a
    range whose query a run did not finish is split in halves by the next runs (see
    windows.py), so a repeatedly killed first run still moves forward.
    """

    name = "inbound_shipments"
    operation_id = "getShipments"
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "ShipmentId"]
    records_jsonpath = "$.payload.ShipmentData[*]"
    next_token_path = "payload.NextToken"
    # Records carry their marketplace: ShipmentIds are per marketplace query.
    context_keys_on_records = ("marketplace_id",)

    @property
    @override
    def partitions(self) -> list[dict[str, Any]]:
        """One partition (and bookmark) per account and marketplace: the query is per
        marketplace. An account whose marketplaces cannot be read is skipped here."""
        return [
            {ACCOUNT_KEY: account, "marketplace_id": marketplace}
            for account in self.run.accounts
            for marketplace in self._marketplaces_of(account)
        ]

    def _marketplaces_of(self, account: str) -> list[str]:
        try:
            return self.run.marketplace_ids_of(account)
        except AccountUnavailableError as exc:
            self.run.failures.account_failed(account, exc)
            return []
        except TapSpapiError as exc:  # the participations failed: nothing to query
            self.run.failures.stream_stopped(self.name, account, exc, self.contained.ancestors)
            return []

    def windows(self, context: Context) -> list[QueryWindow]:
        """The windows this run asks for in `context`'s marketplace: the whole range, or
        its halves after interrupted runs. Fixed once per run (read ahead and synced alike)."""
        key = context_key(self.name, context)
        if key not in self._planned:
            needed = range_after_bookmark(self, context)
            halvings = halvings_after_interruptions(self.get_context_state(context), needed)
            self._planned[key] = halved(needed, halvings)
        return self._planned[key]

    @cached_property
    def _planned(self) -> dict[Any, list[QueryWindow]]:
        return {}

    def window_contexts(self, context: Context) -> list[dict[str, Any]]:
        """Request contexts of this run's windows in `context`'s marketplace."""
        return [context_in_window(context, window) for window in self.windows(context)]

    read_ahead = True

    @cached_property
    @override
    def ahead(self) -> AheadOfSync:
        """Read ahead: every window of every marketplace, in the order `get_records` asks."""
        return AheadOfSync(self, prefetch=self.prefetch, contexts=self._every_window)

    def _every_window(self) -> list[Context | None]:
        return [w for partition in self.partitions for w in self.window_contexts(partition)]

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Every window's pages, then the bookmark advance for that window."""
        if context is None:
            return  # no partition: no account or marketplace to query in this run
        if not self._cost_said:
            self._cost_said = True
            self._say_cost(context)
        window_contexts = self.window_contexts(context)
        if not window_contexts or self.abandoned(context):
            return
        mark_in_flight(self, context, len(window_contexts))
        for window_context in window_contexts:
            yield from super().get_records(window_context)
            if self.abandoned(context):
                return  # the window was not read: its bookmark must not move
            end = instant(window_context["window_end"])
            self.bookmarks.save(context, **{WINDOW_BOOKMARK: end.isoformat()})
        range_read(self, context)

    _cost_said = False

    def _say_cost(self, context: Context) -> None:
        """Log the run's DATE_RANGE queries (their pages are not known before)."""
        limiter = self.account_for(context).limiter
        queries = len(self._every_window())
        seconds = limiter.seconds_for(self.operation_id, queries)
        self.logger.log(
            estimate_level(seconds),
            "%s: %d DATE_RANGE queries (one per marketplace and window) and one request "
            "per further page; %s: %s for the queries",
            self.name,
            queries,
            describe_plan(self.operation_id, limiter.plan(self.operation_id)),
            about(seconds),
        )

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """DATE_RANGE for a window's first page, then QueryType=NEXT_TOKEN with the token.

        The DATE_RANGE query names every status of the model's `ShipmentStatusList` enum:
        live Amazon answers a DATE_RANGE without a status or id list with 400
        InvalidInput although the model marks both optional (selling-partner-api-models
        #888, selling-partner-api-docs #3304). The NEXT_TOKEN query carries only the
        token: sent with the original filters, Amazon returns the first page again
        (selling-partner-api-models #822).
        """
        assert context is not None
        params: dict[str, Any] = {"MarketplaceId": context["marketplace_id"]}
        if next_page_token:
            return {**params, "QueryType": "NEXT_TOKEN", "NextToken": next_page_token}
        return {
            **params,
            "QueryType": "DATE_RANGE",
            "ShipmentStatusList": ",".join(self.operation.query_enums["ShipmentStatusList"]),
            "LastUpdatedAfter": context["window_start"],
            "LastUpdatedBefore": context["window_end"],
        }

    @override
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
    context_keys_on_records = ("marketplace_id",)
    # Bookmarks live with the parent; one state partition per shipment would grow forever.
    state_partitioning_keys: ClassVar[list[str]] = []

    # Only the path id: the `MarketplaceId` query parameter is deprecated here ("Do not use").
    path_params: ClassVar[dict[str, str]] = {"shipmentId": "ShipmentId"}

    @override
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

    @override
    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        """Key fields from the parent when Amazon leaves them out (ShipmentId is optional)."""
        row["ShipmentId"] = row.get("ShipmentId") or (context or {}).get("ShipmentId")
        return super().post_process(row, context)
