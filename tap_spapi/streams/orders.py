"""Orders 2026-01-01 streams: orders, their items, and their seller-fulfilled packages.

One searchOrders query per account (and per 50 marketplaces) returns each changed order
with its `orderItems` and, for merchant-fulfilled orders, its `packages` (carrier, ship
time, tracking number): the items and packages are emitted as streams of their own from
the same response, without a request of their own.

With notifications (issue 29), the orders ORDER_CHANGE names are read first, each with
getOrder (0.5/s), instead of waiting for searchOrders' pages (a few minutes each once
its burst is spent); searchOrders still runs as the backstop for a lost notification.

The queries and what their pages cost are orders_queries.py's; the notified orders,
orders_notified.py's.
"""

from __future__ import annotations

import functools
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from typing_extensions import override

from tap_spapi.errors import AccountUnavailableError, TapSpapiError
from tap_spapi.keys import ACCOUNT_KEY
from tap_spapi.runtime.pools import context_key
from tap_spapi.runtime.state import WINDOW_BOOKMARK
from tap_spapi.streams.base.embedded import EmbeddedListStream
from tap_spapi.streams.base.fetch_ahead import AheadOfSync
from tap_spapi.streams.base.stream import SPAPIStream
from tap_spapi.streams.base.windows import (
    instant,
    mark_in_flight,
    range_after_bookmark,
    range_read,
)
from tap_spapi.streams.orders_notified import NotifiedOrders
from tap_spapi.streams.orders_queries import PAGE_SIZE, PageCost, QueryPlan
from tap_spapi.streams.orders_queries import marketplace_batches as marketplace_batches
from tap_spapi.wire.ahead import Walk
from tap_spapi.wire.responses import decoded_body

if TYPE_CHECKING:
    import datetime
    from collections.abc import Iterable

    import requests
    from singer_sdk.helpers.types import Context

# `includedData` datasets and the top-level field each fills, per stream (the model's
# property names). A dataset filling a PII field is asked only with `include_pii`
# (Orders 2026 needs no Restricted Data Token for BUYER and RECIPIENT; access is by role).
ORDER_DATASETS = {
    "BUYER": "buyer",
    "RECIPIENT": "recipient",
    "PROCEEDS": "proceeds",
    "PAYMENT": "payment",
    "TAX": "tax",
    "FULFILLMENT": "fulfillment",
    "FULFILLMENT_ORDERS": "fulfillmentOrders",
}
ITEM_DATASETS = {
    "PROCEEDS": "proceeds",
    "EXPENSE": "expense",
    "PROMOTION": "promotion",
    "CANCELLATION": "cancellation",
    "FULFILLMENT": "fulfillment",
    "TAX": "tax",
}
# Buyer PII of an order: name and e-mail, the delivery address, and the tax registrations
# (`tax.taxRegistrations` names the buyer's legal entity and its address). Items' `tax`
# (how tax was calculated and collected) names nobody.
ORDER_PII = ("buyer", "recipient", "tax")


class OrdersStream(SPAPIStream):
    """Orders changed since the bookmark (searchOrders, `lastUpdatedAfter`).

    `lastUpdatedAfter` = bookmark - `lookback_window`. The tap sends no
    `lastUpdatedBefore`: Amazon picks the latest instant it may (two minutes before the
    request) and echoes it, and that echo is the end of what was read, so it becomes
    the bookmark once every page of the query was emitted. A page token expires after
    24 hours, so none is kept: a killed run asks its query again from the bookmark
    (duplicates, never gaps).
    """

    name = "orders"
    operation_id = "searchOrders"
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "orderId"]
    replication_key = "lastUpdatedTime"
    is_sorted = False  # Amazon promises no order
    after_a_kill = (
        "the next run asks the range in halves, its bookmark moving window by window "
        "(query_in_flight)"
    )
    pii_fields = ORDER_PII
    records_jsonpath = "$.orders[*]"
    next_token_path = "pagination.nextToken"
    # Query contexts carry their marketplaces and start; the bookmark is the account's.
    state_partitioning_keys: ClassVar[list[str]] = [ACCOUNT_KEY]

    partitioned_by_account = True

    @cached_property
    def included_data(self) -> list[str]:
        """The datasets the selected streams and fields need, in the model's order."""
        pii = self.run.settings.include_pii
        wanted = {
            dataset
            for stream in (self, *self.child_streams)
            if stream.selected
            for dataset, field in _datasets_of(stream).items()
            if stream.mask.get(("properties", field), True)
            and (pii or field not in getattr(stream, "pii_fields", ()))
        }
        if any(
            stream.name == "order_packages" and stream.selected for stream in self.child_streams
        ):
            wanted.add("PACKAGES")
        return [name for name in self.operation.query_enums["includedData"] if name in wanted]

    # The stream syncs last (tap.STREAM_TYPES: its plan is the slowest, and output goes
    # stream by stream), but its pages are asked from the start of the run: each query
    # is walked by a thread of its own (wire/ahead.py), with no limit on the pages it
    # runs ahead (at most one a few minutes once the burst is spent).
    read_ahead = True

    @cached_property
    @override
    def ahead(self) -> AheadOfSync:
        """Read ahead: every query walked from the start of the run (`_start_walks`)."""
        return AheadOfSync(self, prefetch=self.prefetch, start=self._start_walks)

    def _start_walks(self) -> None:
        """Start walking every account's queries now."""
        if self.run.sequential:
            return
        sdk_loop = super().request_records
        for partition in self.partitions or []:
            if self.abandoned(partition):
                continue
            for query in self._queries.queries_of(partition):
                key = context_key(self.name, query)
                self._walks[key] = Walk(
                    functools.partial(sdk_loop, query), limit=0, name=f"{self.name}-pages"
                )

    @cached_property
    def _walks(self) -> dict[Any, Walk[dict[str, Any]]]:
        return {}

    @cached_property
    def _queries(self) -> QueryPlan:
        """The account's searchOrders queries of this run (orders_queries.py)."""
        return QueryPlan(
            marketplaces=self._marketplaces_of,
            range_start=lambda context: range_after_bookmark(self, context).start,
            state=self.get_context_state,
            until=self.run.run_started_at,
        )

    @override
    def request_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The query's pages: from its walk, if one was started, else asked here."""
        walk = self._walks.pop(context_key(self.name, context), None)
        if walk is not None:
            yield from walk
        else:
            yield from super().request_records(context)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Each query's pages, then the bookmark moves to what Amazon says it read."""
        if context is None:
            return  # no account in this run's shard
        try:
            yield from self._records_then_bookmark(context)
        finally:  # a query not synced (the account failed): no further page of it
            for query in self._queries.queries_of(context):
                walk = self._walks.pop(context_key(self.name, query), None)
                if walk is not None:
                    walk.stop()

    def _records_then_bookmark(self, context: Context) -> Iterable[dict[str, Any]]:
        windows = self._queries.windows_of(context)
        if not windows or self.abandoned(context):
            return
        yield from self._notified.read(context, windows[0], self.included_data)
        limiter = self.account_for(context).limiter
        self._pages.say_cost(context[ACCOUNT_KEY], sum(map(len, windows)), limiter)
        mark_in_flight(self, context, len(windows))
        for queries in windows:
            ends: list[datetime.datetime] = []
            for query in queries:
                newest = None
                for record in super().get_records(query):
                    newest = max(
                        newest or record[self.replication_key], record[self.replication_key]
                    )
                    if self._notified.emitted(record):
                        continue  # the version getOrder gave this run: out once (and its items)
                    yield record
                if self.abandoned(context):
                    return  # the query was not read to its end: the bookmark must not move
                key = (context[ACCOUNT_KEY], query["marketplace_ids"], query["last_updated_after"])
                echoed = self._read_until.pop(key, None)
                end = query.get("last_updated_before") or echoed or newest
                if end is None:
                    return  # nothing read and nothing echoed: keep the bookmark
                ends.append(instant(end))
            # every batch of the window read: the bookmark moves to its end
            self.bookmarks.save(context, **{WINDOW_BOOKMARK: min(ends).isoformat()})
        range_read(self, context)

    @cached_property
    def _notified(self) -> NotifiedOrders:
        """The orders ORDER_CHANGE notified this run, read first (orders_notified.py)."""
        return NotifiedOrders(
            self, replication_key=self.replication_key, records_in=self.records.in_body
        )

    def _marketplaces_of(self, account: str) -> list[str]:
        try:
            return self.run.marketplace_ids_of(account)
        except AccountUnavailableError as exc:
            self.run.failures.account_failed(account, exc)
        except TapSpapiError as exc:  # the participations failed: nothing to query
            self.run.failures.stream_stopped(self.name, account, exc, self.contained.ancestors)
        return []

    @cached_property
    def _read_until(self) -> dict[tuple[str, str, str], str]:
        """The `lastUpdatedBefore` Amazon echoed, per account and query (marketplaces,
        `lastUpdatedAfter`)."""
        return {}

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """The query; later pages repeat it with the token (Amazon requires the same
        parameters, except `maxResultsPerPage` and `includedData`)."""
        assert context is not None
        params: dict[str, Any] = {
            "lastUpdatedAfter": context["last_updated_after"],
            "marketplaceIds": context["marketplace_ids"],
            "maxResultsPerPage": PAGE_SIZE,
        }
        if context.get("last_updated_before"):
            params["lastUpdatedBefore"] = context["last_updated_before"]
        if self.included_data:
            params["includedData"] = ",".join(self.included_data)
        if next_page_token:
            params["paginationToken"] = next_page_token
        return params

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """The page's orders; note the `lastUpdatedBefore` it echoes."""
        body = decoded_body(response)
        account = self._account_of(response)
        if body.get("lastUpdatedBefore"):
            query = parse_qs(urlsplit(str(response.request.url)).query)
            marketplaces = (query.get("marketplaceIds") or [""])[0]
            after = (query.get("lastUpdatedAfter") or [""])[0]
            self._read_until[(account.name, marketplaces, after)] = body["lastUpdatedBefore"]
        if (body.get("pagination") or {}).get("nextToken"):
            wait = account.limiter.seconds_for(self.operation_id, 1)
            self._pages.say_progress(account.name, wait)
        yield from super().parse_response(response)

    @cached_property
    def _pages(self) -> PageCost:
        """What searchOrders' pages cost, said (orders_queries.py)."""
        return PageCost(self.name, self.operation_id, self.logger)

    @override
    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        """Hand the embedded items and packages to their streams; drop buyer PII
        unless `include_pii`."""
        for child in self.child_streams:
            if isinstance(child, EmbeddedListStream):
                child.keep(row)
        for child_type in EMBEDDED_STREAM_TYPES:
            row.pop(child_type.embedded_field, None)
        return super().post_process(row, context)

    @override
    def get_child_context(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:
        """Items and packages belong to one order."""
        return {ACCOUNT_KEY: record[ACCOUNT_KEY], "orderId": record["orderId"]}


# The lists embedded in each order of searchOrders, emitted as streams of their own: the
# same response as the parent's (no request here), each row keyed by its order's id.
class OrderItemsStream(EmbeddedListStream):
    """Items of each changed order (`orderItems`, always returned)."""

    operation_id = "searchOrders"
    parent_stream_type = OrdersStream
    parent_key = "orderId"
    derived_keys = ("orderId",)

    name = "order_items"
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "orderId", "orderItemId"]
    embedded_field = "orderItems"
    # "Personal message from the buyer to be included with the gift-wrapped item" (the
    # model): the buyer's words, often names; the gift-wrap level stays.
    pii_fields = ("fulfillment.packing.giftOption.giftMessage",)


class OrderPackagesStream(EmbeddedListStream):
    """Packages of each changed merchant-fulfilled order (`packages`, `includedData=PACKAGES`).

    Amazon returns packages only for seller-fulfilled (FBM) orders: FBA orders have none.
    Live answers carry `packageStatus.status` without `detailedStatus`
    (selling-partner-api-models #5127), so nothing here depends on it and the column
    stays nullable.
    """

    name = "order_packages"
    operation_id = "searchOrders"
    parent_stream_type = OrdersStream
    parent_key = "orderId"
    derived_keys = ("orderId",)
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "orderId", "packageReferenceId"]
    embedded_field = "packages"


EMBEDDED_STREAM_TYPES: tuple[type[EmbeddedListStream], ...] = (
    OrderItemsStream,
    OrderPackagesStream,
)
ORDER_STREAM_TYPES: tuple[type[SPAPIStream], ...] = (OrdersStream, *EMBEDDED_STREAM_TYPES)


def _datasets_of(stream: Any) -> dict[str, str]:
    if isinstance(stream, OrdersStream):
        return ORDER_DATASETS
    if isinstance(stream, OrderItemsStream):
        return ITEM_DATASETS
    return {}
