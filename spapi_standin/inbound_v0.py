"""FBA Inbound v0: getShipments and getShipmentItemsByShipmentId.

getShipments answers SHIPMENT or DATE_RANGE queries, a page of `inbound_page_size`,
continued with QueryType NEXT_TOKEN; the token carries the marketplace, the filters and
the offset. getShipmentItemsByShipmentId answers the items of one shipment, never
paginated here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from spapi_standin import live, paths
from spapi_standin.data import InboundQuery
from spapi_standin.instances import parse_instant
from spapi_standin.page_tokens import decode_token, encode_token
from spapi_standin.ratelimit import query_enum
from spapi_standin.replies import Reply, invalid_input

if TYPE_CHECKING:
    from spapi_standin.config import StandInConfig
    from spapi_standin.data import Dataset
    from spapi_standin.replies import CachedBodies
    from spapi_standin.request import Request

INBOUND_QUERY_TYPES = ("SHIPMENT", "DATE_RANGE", "NEXT_TOKEN")
INBOUND_STATUS_FILTER = query_enum(paths.INBOUND_SHIPMENTS, "ShipmentStatusList")


class InboundV0Service:
    """getShipments and getShipmentItemsByShipmentId of FBA Inbound v0."""

    def __init__(self, config: StandInConfig, dataset: Dataset, cached: CachedBodies) -> None:
        self.config = config
        self.data = dataset
        self.cached = cached

    def get_shipments(self, request: Request) -> Reply:
        """SHIPMENT or DATE_RANGE queries, continued with NEXT_TOKEN."""
        marketplace_id = request.first("MarketplaceId")
        if marketplace_id is None:
            return invalid_input("MarketplaceId is required.")
        if marketplace_id not in self.data.participating_marketplace_ids:
            return invalid_input("Invalid marketplace id")
        query_type = request.first("QueryType")
        if query_type not in INBOUND_QUERY_TYPES:
            return invalid_input(f"QueryType must be one of {', '.join(INBOUND_QUERY_TYPES)}.")
        if query_type == "NEXT_TOKEN" and live.restarts_from_first_page(
            self.config.live, request.query
        ):
            query_type = "DATE_RANGE" if request.first("LastUpdatedAfter") else "SHIPMENT"
        if query_type == "NEXT_TOKEN":
            state = decode_token(request.first("NextToken"))
            if state is None or state.get("m") != marketplace_id:
                return invalid_input("Invalid NextToken.")
            query, offset = _inbound_query_from(state), int(state["o"])
        else:
            refusal = None
            if query_type == "DATE_RANGE":
                refusal = live.date_range_refusal(self.config.live, request.query)
            parsed = refusal or _inbound_filters(request, query_type)
            if isinstance(parsed, Reply):
                return parsed
            query, offset = parsed, 0
        return self.cached(
            ("getShipments", marketplace_id, query, offset),
            lambda: self._page(marketplace_id, query, offset),
        )

    def _page(self, marketplace_id: str, query: InboundQuery, offset: int) -> dict[str, Any]:
        limit = self.config.inbound_page_size
        ids, more = self.data.inbound_page(marketplace_id, query, offset, limit)
        end = offset + limit
        payload: dict[str, Any] = {"ShipmentData": [self.data.inbound_record(i) for i in ids]}
        if more:
            payload["NextToken"] = encode_token(
                {"m": marketplace_id, **_inbound_state(query), "o": end}
            )
        return {"payload": payload}

    def get_shipment_items_by_shipment_id(self, request: Request) -> Reply:
        """The items of one shipment (never paginated here)."""
        shipment_id = request.params["shipmentId"]
        if shipment_id not in self.data.inbound_items:
            return invalid_input(f"Shipment {shipment_id} was not found for this seller.")
        return self.cached(
            ("getShipmentItemsByShipmentId", shipment_id),
            lambda: {"payload": {"ItemData": self.data.inbound_items[shipment_id]}},
        )


# -- getShipments filters and page tokens ------------------------------------------------------


def _inbound_filters(request: Request, query_type: str) -> InboundQuery | Reply:
    """The filters of a first getShipments call (DATE_RANGE or SHIPMENT).

    Both query types honour the id and status lists ("only shipments that match both
    parameters are returned", says the model of the pair; a DATE_RANGE matches its
    range as well).
    """
    lists = _inbound_lists(request)
    if isinstance(lists, Reply):
        return lists
    if query_type == "SHIPMENT":
        if lists.ids is None and lists.statuses is None:
            return invalid_input(
                "ShipmentIdList or ShipmentStatusList is required for QueryType SHIPMENT."
            )
        return lists
    raw_after, raw_before = request.first("LastUpdatedAfter"), request.first("LastUpdatedBefore")
    if raw_after is None or raw_before is None:
        return invalid_input("LastUpdatedAfter and LastUpdatedBefore are required for DATE_RANGE.")
    after, before = parse_instant(raw_after), parse_instant(raw_before)
    if after is None or before is None:
        return invalid_input("LastUpdatedAfter and LastUpdatedBefore must be ISO 8601 date-times.")
    if after > before:
        return invalid_input("LastUpdatedAfter must not be later than LastUpdatedBefore.")
    return replace(lists, after=after, before=before)


def _inbound_lists(request: Request) -> InboundQuery | Reply:
    """`ShipmentIdList` and `ShipmentStatusList` of a first getShipments call."""
    ids, statuses = request.csv("ShipmentIdList"), request.csv("ShipmentStatusList")
    if ids and len(ids) > 999:
        return invalid_input("ShipmentIdList accepts at most 999 ids.")
    unknown = sorted(set(statuses or ()) - INBOUND_STATUS_FILTER)
    if unknown:
        return invalid_input(f"Invalid ShipmentStatusList value(s): {', '.join(unknown)}")
    # Every status of the enum selects every shipment: kept as "no status filter" so the
    # data set slices the range straight out of its index (the throughput floor).
    every_status = statuses is not None and set(statuses) >= INBOUND_STATUS_FILTER
    return InboundQuery(
        ids=frozenset(ids) if ids else None,
        statuses=frozenset(statuses) if statuses and not every_status else None,
    )


def _inbound_state(query: InboundQuery) -> dict[str, Any]:
    return {
        "a": query.after.isoformat() if query.after else None,
        "b": query.before.isoformat() if query.before else None,
        "i": sorted(query.ids) if query.ids is not None else None,
        "s": sorted(query.statuses) if query.statuses is not None else None,
    }


def _inbound_query_from(state: dict[str, Any]) -> InboundQuery:
    return InboundQuery(
        after=parse_instant(state.get("a")),
        before=parse_instant(state.get("b")),
        ids=frozenset(state["i"]) if state.get("i") is not None else None,
        statuses=frozenset(state["s"]) if state.get("s") is not None else None,
    )
