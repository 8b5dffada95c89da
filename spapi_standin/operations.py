"""The SP-API operations the stand-in serves: the route table and the router.

Each API's handlers live in a service of its own module (sellers.py, inbound_v0.py,
inbound_plans.py, outbound.py, outbound_2026.py, shipping.py, shipment_tracking.py,
tokens.py, merchant_fulfillment.py, orders.py, awd.py, reports.py, notifications.py),
built here on the one data set and token registry; a row of the table names an
operation, its route, the token it accepts and the service method that answers it. Each
handler validates its parameters the way the model describes them and answers from the
data set. The services that cache share one `CachedBodies`: list pages and lookups
encoded once per data set version, so repeated reads cost a dictionary lookup. Page
tokens are opaque to clients but stateless here (page_tokens.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

from spapi_standin import paths
from spapi_standin.auth_check import RESTRICTED, SELLER, SELLER_OR_RESTRICTED, AccessRule
from spapi_standin.awd import AwdService
from spapi_standin.inbound_plans import InboundPlansService
from spapi_standin.inbound_v0 import InboundV0Service
from spapi_standin.merchant_fulfillment import MerchantFulfillmentService
from spapi_standin.notifications import NotificationsService
from spapi_standin.orders import OrdersService
from spapi_standin.outbound import OutboundService
from spapi_standin.outbound_2026 import McfOrdersService
from spapi_standin.replies import CachedBodies, Reply
from spapi_standin.reports import ReportsService
from spapi_standin.request import Request
from spapi_standin.sellers import SellersService
from spapi_standin.shipment_tracking import ShipmentTrackingService
from spapi_standin.shipping import ShippingService
from spapi_standin.tokens import TokensService

if TYPE_CHECKING:
    from spapi_standin.config import StandInConfig
    from spapi_standin.data import Dataset
    from spapi_standin.lwa import TokenRegistry
    from spapi_standin.paths import Route


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
    """The route table over the services, bound to one data set and token registry."""

    def __init__(self, config: StandInConfig, dataset: Dataset, registry: TokenRegistry) -> None:
        cached = CachedBodies(dataset)
        self.reports = ReportsService(config, registry, dataset.now)
        dataset.reports = self.reports
        reports = self.reports
        sellers = SellersService(dataset, cached)
        inbound = InboundV0Service(config, dataset, cached)
        outbound = OutboundService(config, dataset, cached)
        shipping = ShippingService(dataset, cached)
        tokens = TokensService(config, registry)
        mfn = MerchantFulfillmentService(dataset)
        orders = OrdersService(config, dataset)
        plans = InboundPlansService(config, dataset)
        tracking = ShipmentTrackingService(dataset)
        mcf = McfOrdersService(config, dataset)
        awd = AwdService(config, dataset)
        self.notifications = NotificationsService(config, dataset, reports)
        notes = self.notifications
        grantless = AccessRule("grantless", "sellingpartnerapi::notifications")
        table: list[tuple[str, Route, AccessRule, Handler]] = [
            (
                "getMarketplaceParticipations",
                paths.PARTICIPATIONS,
                SELLER,
                sellers.get_marketplace_participations,
            ),
            ("getShipments", paths.INBOUND_SHIPMENTS, SELLER, inbound.get_shipments),
            (
                "getShipmentItemsByShipmentId",
                paths.INBOUND_ITEMS,
                SELLER,
                inbound.get_shipment_items_by_shipment_id,
            ),
            (
                "listAllFulfillmentOrders",
                paths.OUTBOUND_ORDERS,
                SELLER,
                outbound.list_all_fulfillment_orders,
            ),
            ("getFulfillmentOrder", paths.OUTBOUND_ORDER, SELLER, outbound.get_fulfillment_order),
            (
                "getPackageTrackingDetails",
                paths.PACKAGE_TRACKING,
                SELLER,
                outbound.get_package_tracking_details,
            ),
            ("getTracking", paths.SHIPPING_TRACKING, SELLER, shipping.get_tracking),
            ("getCarrierAccounts", paths.CARRIER_ACCOUNTS, SELLER, shipping.get_carrier_accounts),
            (
                "createRestrictedDataToken",
                paths.RESTRICTED_DATA_TOKEN,
                SELLER,
                tokens.create_restricted_data_token,
            ),
            ("getShipment", paths.MFN_SHIPMENT, RESTRICTED, mfn.get_shipment),
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
            (
                "listInboundShipments",
                paths.AWD_INBOUND_SHIPMENTS,
                SELLER,
                awd.list_inbound_shipments,
            ),
            ("getInboundShipment", paths.AWD_INBOUND_SHIPMENT, SELLER, awd.get_inbound_shipment),
            ("listOutbounds", paths.AWD_OUTBOUNDS, SELLER, awd.list_outbounds),
            ("getOutbound", paths.AWD_OUTBOUND, SELLER, awd.get_outbound),
            ("listInventory", paths.AWD_INVENTORY, SELLER, awd.list_inventory),
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
