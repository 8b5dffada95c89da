"""The SP-API operations the stand-in serves: routing, parameter checks and bodies.

Each handler validates its parameters the way the model describes them and answers
from the data set. List pages and lookups are cached as encoded bytes per data set
version, so repeated reads cost a dictionary lookup. Page tokens are opaque to clients
but stateless here: base64 of the query and the offset, so the server keeps nothing
per client and a token stays valid while the process runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from spapi_standin import live, paths
from spapi_standin.auth_check import RESTRICTED, SELLER, SELLER_OR_RESTRICTED, AccessRule
from spapi_standin.data import Dataset, InboundQuery
from spapi_standin.inbound_plans import InboundPlansService
from spapi_standin.instances import parse_instant
from spapi_standin.lwa import RestrictedGrant, TokenRegistry
from spapi_standin.notifications import NotificationsService
from spapi_standin.orders import OrdersService
from spapi_standin.outbound_2026 import McfOrdersService
from spapi_standin.page_tokens import decode_token, encode_token
from spapi_standin.ratelimit import query_enum
from spapi_standin.replies import BodyCache, Reply, error, invalid_input, json_reply
from spapi_standin.reports import ReportsService
from spapi_standin.request import Request
from spapi_standin.shipment_tracking import ShipmentTrackingService

if TYPE_CHECKING:
    from datetime import datetime

    from spapi_standin.config import StandInConfig
    from spapi_standin.paths import Route


INBOUND_QUERY_TYPES = ("SHIPMENT", "DATE_RANGE", "NEXT_TOKEN")
INBOUND_STATUS_FILTER = query_enum(paths.INBOUND_SHIPMENTS, "ShipmentStatusList")
SHIPPING_BUSINESSES = frozenset(
    {"AmazonShipping_US", "AmazonShipping_IN", "AmazonShipping_UK", "AmazonShipping_UAE",
     "AmazonShipping_SA", "AmazonShipping_EG", "AmazonShipping_IT", "AmazonShipping_ES",
     "AmazonShipping_FR", "AmazonShipping_JP"}
)  # fmt: skip
RDT_METHODS = frozenset({"GET", "PUT", "POST", "DELETE"})
MAX_RESTRICTED_RESOURCES = 50
MFN_SHIPMENT_ID = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_PARAMETER = re.compile(r"\\\{([^}]+)\\\}")


Handler = Callable[[Request], Reply]


@dataclass(frozen=True)
class Operation:
    """One served operation: id, route, which token it accepts, and its handler."""

    operation_id: str
    route: Route
    access: AccessRule
    handler: Handler
    pattern: re.Pattern[str]

    def params(self, path: str) -> dict[str, str] | None:
        """Path parameters if `path` is this operation's, else None."""
        match = self.pattern.match(path)
        if match is None:
            return None
        return {name: unquote(value) for name, value in match.groupdict().items()}


def compile_route(route: Route) -> re.Pattern[str]:
    """`/a/{b}/c` -> a regex with a named group per parameter (one path segment each)."""
    return re.compile("^" + _PARAMETER.sub(r"(?P<\1>[^/]+)", re.escape(route.path)) + "$")


class Operations:
    """The route table and the handlers, bound to one data set and token registry."""

    def __init__(self, config: StandInConfig, dataset: Dataset, registry: TokenRegistry) -> None:
        self.config = config
        self.data = dataset
        self.registry = registry
        self.cache = BodyCache()
        self.reports = ReportsService(config, registry, dataset.now)
        dataset.reports = self.reports
        reports = self.reports
        orders = OrdersService(config, dataset)
        plans = InboundPlansService(config, dataset)
        tracking = ShipmentTrackingService(dataset)
        mcf = McfOrdersService(config, dataset)
        self.notifications = NotificationsService(config, dataset, reports)
        notes = self.notifications
        grantless = AccessRule("grantless", "sellingpartnerapi::notifications")
        table: list[tuple[str, Route, AccessRule, Handler]] = [
            ("getMarketplaceParticipations", paths.PARTICIPATIONS, SELLER, self.participations),
            ("getShipments", paths.INBOUND_SHIPMENTS, SELLER, self.inbound_shipments),
            ("getShipmentItemsByShipmentId", paths.INBOUND_ITEMS, SELLER, self.inbound_items),
            ("listAllFulfillmentOrders", paths.OUTBOUND_ORDERS, SELLER, self.outbound_orders),
            ("getFulfillmentOrder", paths.OUTBOUND_ORDER, SELLER, self.outbound_order),
            ("getPackageTrackingDetails", paths.PACKAGE_TRACKING, SELLER, self.package_tracking),
            ("getTracking", paths.SHIPPING_TRACKING, SELLER, self.shipping_tracking),
            ("getCarrierAccounts", paths.CARRIER_ACCOUNTS, SELLER, self.carrier_accounts),
            ("createRestrictedDataToken", paths.RESTRICTED_DATA_TOKEN, SELLER, self.create_rdt),
            ("getShipment", paths.MFN_SHIPMENT, RESTRICTED, self.mfn_shipment),
            ("getDestinations", paths.DESTINATIONS, grantless, notes.get_destinations),
            ("createDestination", paths.CREATE_DESTINATION, grantless, notes.create_destination),
            ("getDestination", paths.DESTINATION, grantless, notes.get_destination),
            ("deleteDestination", paths.DELETE_DESTINATION, grantless, notes.delete_destination),
            ("getSubscriptions", paths.SUBSCRIPTIONS, SELLER, notes.get_subscriptions),
            ("getSubscription", paths.SUBSCRIPTION, SELLER, notes.get_subscription),
            ("createSubscription", paths.CREATE_SUBSCRIPTION, SELLER, notes.create_subscription),
            ("getSubscriptionById", paths.SUBSCRIPTION_BY_ID, grantless, notes.get_by_id),
            ("deleteSubscriptionById", paths.DELETE_SUBSCRIPTION, grantless, notes.delete_by_id),
            ("searchOrders", paths.SEARCH_ORDERS, SELLER, orders.search_orders),
            ("orders_2026-01-01.getOrder", paths.ORDER, SELLER, orders.get_order),
            ("listInboundPlans", paths.LIST_INBOUND_PLANS, SELLER, plans.list_inbound_plans),
            ("getInboundPlan", paths.INBOUND_PLAN, SELLER, plans.get_inbound_plan),
            (
                "fulfillmentInbound_2024-03-20.getShipment",
                paths.INBOUND_PLAN_SHIPMENT,
                SELLER,
                plans.get_shipment,
            ),
            (
                "listShipmentItems",
                paths.INBOUND_PLAN_SHIPMENT_ITEMS,
                SELLER,
                plans.list_shipment_items,
            ),
            (
                "listShipmentBoxes",
                paths.INBOUND_PLAN_SHIPMENT_BOXES,
                SELLER,
                plans.list_shipment_boxes,
            ),
            (
                "getShipmentTracking",
                paths.SHIPMENT_TRACKING,
                SELLER,
                tracking.get_shipment_tracking,
            ),
            ("listOrders", paths.MCF_ORDERS, SELLER, mcf.list_orders),
            ("fulfillmentOutbound_2026-07-04.getOrder", paths.MCF_ORDER, SELLER, mcf.get_order),
            ("getReports", paths.REPORTS, SELLER, reports.get_reports),
            ("createReport", paths.CREATE_REPORT, SELLER, reports.create_report),
            ("getReport", paths.REPORT, SELLER, reports.get_report),
            # Restricted report types need an RDT; the handler checks, by report type.
            (
                "getReportDocument",
                paths.REPORT_DOCUMENT,
                SELLER_OR_RESTRICTED,
                reports.get_report_document,
            ),
        ]
        # Literal paths before templated ones, so a literal segment never reads as an id.
        table.sort(key=lambda row: row[1].path.count("{"))
        self.table = [
            Operation(op, route, access, handler, compile_route(route))
            for op, route, access, handler in table
        ]

    @property
    def routes(self) -> dict[str, Route]:
        """operationId -> route of every served operation."""
        return {op.operation_id: op.route for op in self.table}

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation serving `method path`, with its path parameters."""
        for operation in self.table:
            if operation.route.method == method:
                params = operation.params(path)
                if params is not None:
                    return operation, params
        return None

    def cached(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Reply:
        """A 200 JSON reply of `build()`, encoded once per data set version."""

        def encoded() -> Reply:
            with self.data.lock:  # records may be touched by another thread meanwhile
                return json_reply(build())

        return self.cache.get((*key, self.data.version), encoded)

    # -- Sellers ---------------------------------------------------------------------------------

    def participations(self, request: Request) -> Reply:
        """getMarketplaceParticipations: every participation, one page."""
        return self.cached(
            ("participations",), lambda: {"payload": self.data.marketplace_participations}
        )

    # -- FBA inbound v0 --------------------------------------------------------------------------

    def inbound_shipments(self, request: Request) -> Reply:
        """getShipments: SHIPMENT or DATE_RANGE queries, continued with NEXT_TOKEN."""
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
            lambda: self._inbound_page(marketplace_id, query, offset),
        )

    def _inbound_page(
        self, marketplace_id: str, query: InboundQuery, offset: int
    ) -> dict[str, Any]:
        limit = self.config.inbound_page_size
        ids, more = self.data.inbound_page(marketplace_id, query, offset, limit)
        end = offset + limit
        payload: dict[str, Any] = {"ShipmentData": [self.data.inbound_record(i) for i in ids]}
        if more:
            payload["NextToken"] = encode_token(
                {"m": marketplace_id, **_inbound_state(query), "o": end}
            )
        return {"payload": payload}

    def inbound_items(self, request: Request) -> Reply:
        """getShipmentItemsByShipmentId: the items of one shipment (never paginated here)."""
        shipment_id = request.params["shipmentId"]
        if shipment_id not in self.data.inbound_items:
            return invalid_input(f"Shipment {shipment_id} was not found for this seller.")
        return self.cached(
            ("getShipmentItemsByShipmentId", shipment_id),
            lambda: {"payload": {"ItemData": self.data.inbound_items[shipment_id]}},
        )

    # -- FBA outbound 2020-07-01 -----------------------------------------------------------------

    def outbound_orders(self, request: Request) -> Reply:
        """listAllFulfillmentOrders: statusUpdatedDate >= queryStartDate, oldest first."""
        token = request.first("nextToken")
        if token is not None:
            state = decode_token(token)
            if state is None or "o" not in state:
                return invalid_input("Invalid nextToken.")
            start, offset = parse_instant(state.get("s")), int(state["o"])
        else:
            raw_start = request.first("queryStartDate")
            start = parse_instant(raw_start)
            if raw_start is not None and start is None:
                return invalid_input("queryStartDate must be an ISO 8601 date-time.")
            offset = 0
        return self.cached(
            ("listAllFulfillmentOrders", start, offset), lambda: self._outbound_page(start, offset)
        )

    def _outbound_page(self, start: datetime | None, offset: int) -> dict[str, Any]:
        orders = self.data.outbound_since(start)
        size = self.config.outbound_page_size
        end = offset + size
        first = offset - 1 if self.config.overlapping_pages and offset else offset
        payload: dict[str, Any] = {"fulfillmentOrders": orders[first:end]}
        if end < len(orders):
            following = size if self.config.looping_page_tokens and offset >= 2 * size else end
            payload["nextToken"] = encode_token(
                {"s": start.isoformat() if start else None, "o": following}
            )
        return {"payload": payload}

    def outbound_order(self, request: Request) -> Reply:
        """getFulfillmentOrder: the order with items, shipments, packages and returns."""
        order_id = request.params["sellerFulfillmentOrderId"]
        if len(order_id) > 40:
            return invalid_input("sellerFulfillmentOrderId is longer than 40 characters.")
        if order_id not in self.data.outbound_details:
            return invalid_input("Requested order not found")
        return self.cached(
            ("getFulfillmentOrder", order_id),
            lambda: {"payload": self.data.outbound_details[order_id]},
        )

    def package_tracking(self, request: Request) -> Reply:
        """getPackageTrackingDetails: one package's tracking events."""
        raw = request.first("packageNumber")
        if raw is None or not raw.lstrip("-").isdigit():
            return invalid_input("packageNumber is required and must be an integer.")
        number = int(raw)
        if number not in self.data.package_tracking:
            return invalid_input("Requested package not found")
        return self.cached(
            ("getPackageTrackingDetails", number),
            lambda: {"payload": self.data.package_tracking[number]},
        )

    # -- Amazon Shipping v2 ----------------------------------------------------------------------

    def shipping_tracking(self, request: Request) -> Reply:
        """getTracking: a label's events; both ids must match a label of the data set."""
        business = _business_problem(request)
        if business is not None:
            return business
        tracking_id, carrier_id = request.first("trackingId"), request.first("carrierId")
        if tracking_id is None or carrier_id is None:
            return error(400, "InvalidRequest", "trackingId and carrierId are required.")
        result = self.data.tracking(tracking_id, carrier_id)
        if result is None:
            return error(400, "InvalidRequest", "Invalid trackingId or carrierId.")
        if tracking_id in self.data.null_tracking_ids:
            return json_reply({"payload": live.null_tracking_payload(result)})
        return self.cached(
            ("getTracking", tracking_id, carrier_id),
            lambda: {"payload": self.data.tracking(tracking_id, carrier_id)},
        )

    def carrier_accounts(self, request: Request) -> Reply:
        """getCarrierAccounts (a PUT read): the body must be a JSON object, `{}` will do."""
        business = _business_problem(request)
        if business is not None:
            return business
        try:
            body = json.loads(request.body) if request.body else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return error(400, "InvalidRequest", "The request body must be a JSON object.")
        return self.cached(
            ("getCarrierAccounts",), lambda: {"activeAccounts": self.data.carrier_accounts}
        )

    # -- Tokens and restricted data --------------------------------------------------------------

    def create_rdt(self, request: Request) -> Reply:
        """createRestrictedDataToken: an RDT for the listed method + path resources."""
        assert request.token is not None
        grants = _restricted_resources(request.body)
        if isinstance(grants, Reply):
            return grants
        rdt = self.registry.issue(
            "rdt", request.token.account, self.config.rdt_lifetime, resources=grants
        )
        return json_reply({"restrictedDataToken": rdt.value, "expiresIn": self.config.rdt_lifetime})

    def mfn_shipment(self, request: Request) -> Reply:
        """Merchant Fulfillment getShipment (restricted: the access check demanded an RDT)."""
        shipment_id = request.params["shipmentId"]
        if not MFN_SHIPMENT_ID.match(shipment_id):
            return invalid_input("shipmentId must be a UUID.")
        shipment = self.data.mfn_shipments.get(shipment_id)
        if shipment is None:
            return invalid_input("Shipment not found.")
        return json_reply({"payload": shipment})


def _business_problem(request: Request) -> Reply | None:
    business = request.headers.get("x-amzn-shipping-business-id")
    if business is not None and business not in SHIPPING_BUSINESSES:
        return error(400, "InvalidRequest", "Invalid x-amzn-shipping-business-id.")
    return None


def _restricted_resources(body: bytes) -> tuple[RestrictedGrant, ...] | Reply:
    """The grants of a createRestrictedDataToken body, or its 400."""
    try:
        document = json.loads(body or b"null")
    except ValueError:
        return error(400, "InvalidRequest", "The request body is not valid JSON.")
    resources = document.get("restrictedResources") if isinstance(document, dict) else None
    if not isinstance(resources, list) or not resources:
        return error(400, "InvalidRequest", "Resource not provided.")
    if len(resources) > MAX_RESTRICTED_RESOURCES:
        return error(
            400, "InvalidRequest", f"At most {MAX_RESTRICTED_RESOURCES} restricted resources."
        )
    grants = []
    for resource in resources:
        method = resource.get("method") if isinstance(resource, dict) else None
        path = resource.get("path") if isinstance(resource, dict) else None
        if not method or not path or not isinstance(path, str):
            return error(400, "InvalidRequest", "Resource not provided.")
        if method not in RDT_METHODS or not path.startswith("/"):
            return error(400, "InvalidRequest", f"Invalid restricted resource: {method} {path}")
        grants.append(RestrictedGrant(method, path))
    return tuple(grants)


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
