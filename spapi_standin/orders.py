"""Orders 2026-01-01: searchOrders and getOrder, as the model and its docs describe them.

The data set keeps every order whole (every dataset filled); an answer holds only the
datasets the request names in `includedData`, as Amazon's does. Which field belongs to
which dataset follows the model's property names (`buyer` is BUYER, an item's
`promotion` is PROMOTION, ...). `packages` exist only on merchant-fulfilled orders (the
model's note on `Order.packages`).

Filters follow the parameter notes of searchOrders: exactly one of `createdAfter` and
`lastUpdatedAfter`; the created and last-updated pairs exclude each other; a `*Before`
must not precede its `*After` and must be at least two minutes before the request (when
absent it is that instant, echoed in the answer). A `paginationToken` carries the query
it continues: a request that changes any parameter other than `maxResultsPerPage` and
`includedData` is refused, and so is a token older than 24 hours.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from spapi_standin import live, paths
from spapi_standin.data import parse_instant as record_instant
from spapi_standin.instances import iso, parse_instant
from spapi_standin.page_tokens import decode_token, encode_token
from spapi_standin.ratelimit import query_enum
from spapi_standin.replies import Reply, invalid_input, json_reply

if TYPE_CHECKING:
    from collections.abc import Callable

    from spapi_standin.config import StandInConfig
    from spapi_standin.data import Dataset, Record
    from spapi_standin.request import Request

INCLUDED_DATA = query_enum(paths.SEARCH_ORDERS, "includedData")
FULFILLED_BY = query_enum(paths.SEARCH_ORDERS, "fulfilledBy")
FULFILLMENT_STATUSES = query_enum(paths.SEARCH_ORDERS, "fulfillmentStatuses")
# Order and item properties that come back only when their dataset is asked for.
ORDER_DATASETS = {
    "buyer": "BUYER",
    "recipient": "RECIPIENT",
    "proceeds": "PROCEEDS",
    "payment": "PAYMENT",
    "tax": "TAX",
    "fulfillment": "FULFILLMENT",
    "packages": "PACKAGES",
    "fulfillmentOrders": "FULFILLMENT_ORDERS",
}
ITEM_DATASETS = {
    "proceeds": "PROCEEDS",
    "expense": "EXPENSE",
    "promotion": "PROMOTION",
    "cancellation": "CANCELLATION",
    "fulfillment": "FULFILLMENT",
    "tax": "TAX",
}
MAX_MARKETPLACES = 50  # marketplaceIds maxItems
MAX_PAGE = 100  # maxResultsPerPage: "between 1 and 100. Default: 100"
SETTLE = timedelta(minutes=2)  # "*Before ... at least two minutes before the time of the request"
TOKEN_LIFETIME = timedelta(hours=24)  # "The token will expire after 24 hours"
# Parameters a paginationToken request must repeat unchanged.
QUERY_PARAMETERS = (
    "createdAfter",
    "createdBefore",
    "lastUpdatedAfter",
    "lastUpdatedBefore",
    "marketplaceIds",
    "fulfilledBy",
    "fulfillmentStatuses",
)


@dataclass(frozen=True)
class OrderQuery:
    """The filters of one searchOrders query."""

    by: str  # "createdTime" or "lastUpdatedTime"
    after: datetime
    before: datetime
    marketplaces: frozenset[str] | None
    fulfilled_by: frozenset[str] | None
    statuses: frozenset[str] | None

    @property
    def echo(self) -> dict[str, str]:
        """The `*Before` the answer echoes."""
        name = "createdBefore" if self.by == "createdTime" else "lastUpdatedBefore"
        return {name: iso(self.before)}

    def matches(self, order: Record) -> bool:
        """Whether the whole `order` is selected by the query."""
        moment = record_instant(order[self.by])
        fulfillment = order.get("fulfillment") or {}
        marketplace = order["salesChannel"]["marketplaceId"]
        return (
            self.after <= moment <= self.before
            and (self.marketplaces is None or marketplace in self.marketplaces)
            and (self.fulfilled_by is None or fulfillment.get("fulfilledBy") in self.fulfilled_by)
            and (self.statuses is None or fulfillment.get("fulfillmentStatus") in self.statuses)
        )


class OrdersService:
    """searchOrders and getOrder over the data set's orders."""

    def __init__(
        self,
        config: StandInConfig,
        dataset: Dataset,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.data = dataset
        self.clock = clock

    def search_orders(self, request: Request) -> Reply:
        """searchOrders: one page of the orders the query selects, oldest first."""
        included = _included(request)
        if isinstance(included, Reply):
            return included
        size = _page_size(request)
        if isinstance(size, Reply):
            return size
        size = min(size, self.config.orders_page_size)
        now = self.clock()
        token = request.first("paginationToken")
        if token is None:
            query, offset, issued, started = _query(request, now), 0, now, now
        else:
            state = decode_token(token)
            if state is None or "q" not in state:
                return invalid_input("Invalid paginationToken.")
            if state["q"] != _raw_parameters(request):
                return invalid_input(
                    "All parameters other than maxResultsPerPage and includedData must "
                    "have the values of the request that returned the paginationToken."
                )
            given, first = parse_instant(state.get("t")), parse_instant(state.get("n"))
            if given is None or first is None or now - given > TOKEN_LIFETIME:
                return invalid_input("The paginationToken has expired.")
            issued, started = given, first
            # The query's own `*Before` default is fixed when its first page was asked.
            query, offset = _query(request, started), int(state["o"])
        if isinstance(query, Reply):
            return query
        with self.data.lock:
            selected = sorted(
                (o for o in self.data.orders if query.matches(o)),
                key=lambda o: (o[query.by], o["orderId"]),
            )
            page = [self._shown(o, included) for o in selected[offset : offset + size]]
        body: dict[str, Any] = {"orders": page, **query.echo}
        if offset + size < len(selected):
            following = {
                "q": _raw_parameters(request),
                "t": iso(issued),
                "n": iso(started),
                "o": offset + size,
            }
            body["pagination"] = {"nextToken": encode_token(following)}
        return json_reply(body)

    def get_order(self, request: Request) -> Reply:
        """getOrder: one order, its items always included."""
        included = _included(request)
        if isinstance(included, Reply):
            return included
        order_id = request.params["orderId"]
        with self.data.lock:
            order = next((o for o in self.data.orders if o["orderId"] == order_id), None)
            if order is None:
                return invalid_input(f"Order {order_id} was not found.")
            return json_reply({"order": self._shown(order, included)})

    def _shown(self, order: Record, included: frozenset[str]) -> Record:
        """`order` with only the asked datasets (and live Amazon's package status)."""
        shown = {k: v for k, v in order.items() if ORDER_DATASETS.get(k, "") in included | {""}}
        shown["orderItems"] = [
            {k: v for k, v in item.items() if ITEM_DATASETS.get(k, "") in included | {""}}
            for item in order["orderItems"]
        ]
        if "packages" in shown and self.config.live.package_detailed_status_absent:
            shown["packages"] = [live.without_detailed_status(p) for p in shown["packages"]]
        return copy.deepcopy(shown)


def _included(request: Request) -> frozenset[str] | Reply:
    values = request.csv("includedData") or []
    unknown = sorted(set(values) - INCLUDED_DATA)
    if unknown:
        return invalid_input(f"Invalid includedData value(s): {', '.join(unknown)}")
    return frozenset(values)


def _page_size(request: Request) -> int | Reply:
    raw = request.first("maxResultsPerPage")
    if raw is None:
        return MAX_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        return invalid_input(f"maxResultsPerPage must be between 1 and {MAX_PAGE}.")
    return int(raw)


def _raw_parameters(request: Request) -> dict[str, list[str] | None]:
    return {name: request.csv(name) for name in QUERY_PARAMETERS}


def _query(request: Request, now: datetime) -> OrderQuery | Reply:
    """The filters of a searchOrders request, checked as the parameter notes say."""
    created, updated = request.first("createdAfter"), request.first("lastUpdatedAfter")
    if (created is None) == (updated is None):
        return invalid_input("Exactly one of createdAfter and lastUpdatedAfter is required.")
    prefix, other = ("created", "lastUpdated") if created else ("lastUpdated", "created")
    if request.first(f"{other}Before") is not None:
        return invalid_input(f"{other}Before cannot be combined with {prefix}After.")
    after = parse_instant(request.first(f"{prefix}After"))
    raw_before = request.first(f"{prefix}Before")
    before = parse_instant(raw_before) if raw_before else now - SETTLE
    if after is None or before is None:
        return invalid_input(f"{prefix}After and {prefix}Before must be ISO 8601 date-times.")
    if before < after:
        return invalid_input(f"{prefix}Before must be equal to or after {prefix}After.")
    if before > now - SETTLE:
        return invalid_input(f"{prefix}Before must be at least two minutes before the request.")
    lists = _lists(request)
    if isinstance(lists, Reply):
        return lists
    marketplaces, fulfilled_by, statuses = lists
    return OrderQuery(
        f"{prefix}Time", after, before.replace(microsecond=0), marketplaces, fulfilled_by, statuses
    )


def _lists(
    request: Request,
) -> tuple[frozenset[str] | None, frozenset[str] | None, frozenset[str] | None] | Reply:
    marketplaces = request.csv("marketplaceIds")
    if marketplaces and len(marketplaces) > MAX_MARKETPLACES:
        return invalid_input(f"marketplaceIds accepts at most {MAX_MARKETPLACES} values.")
    checked = []
    for name, allowed in (
        ("fulfilledBy", FULFILLED_BY),
        ("fulfillmentStatuses", FULFILLMENT_STATUSES),
    ):
        values = request.csv(name)
        unknown = sorted(set(values or ()) - allowed)
        if unknown:
            return invalid_input(f"Invalid {name} value(s): {', '.join(unknown)}")
        checked.append(frozenset(values) if values else None)
    return (frozenset(marketplaces) if marketplaces else None, checked[0], checked[1])
