"""Method and path template of every operation the stand-in serves, as in the models.

Shared by the data set (which looks up response schemas by route) and the router.
"""

from __future__ import annotations

from typing import NamedTuple


class Route(NamedTuple):
    """An operation's HTTP method and path template."""

    method: str
    path: str


PARTICIPATIONS = Route("GET", "/sellers/v1/marketplaceParticipations")
INBOUND_SHIPMENTS = Route("GET", "/fba/inbound/v0/shipments")
INBOUND_ITEMS = Route("GET", "/fba/inbound/v0/shipments/{shipmentId}/items")
OUTBOUND_ORDERS = Route("GET", "/fba/outbound/2020-07-01/fulfillmentOrders")
OUTBOUND_ORDER = Route(
    "GET", "/fba/outbound/2020-07-01/fulfillmentOrders/{sellerFulfillmentOrderId}"
)
PACKAGE_TRACKING = Route("GET", "/fba/outbound/2020-07-01/tracking")
SHIPPING_TRACKING = Route("GET", "/shipping/v2/tracking")
CARRIER_ACCOUNTS = Route("PUT", "/shipping/v2/carrierAccounts")
RESTRICTED_DATA_TOKEN = Route("POST", "/tokens/2021-03-01/restrictedDataToken")
MFN_SHIPMENT = Route("GET", "/mfn/v0/shipments/{shipmentId}")
REPORTS = Route("GET", "/reports/2021-06-30/reports")
CREATE_REPORT = Route("POST", "/reports/2021-06-30/reports")
REPORT = Route("GET", "/reports/2021-06-30/reports/{reportId}")
REPORT_DOCUMENT = Route("GET", "/reports/2021-06-30/documents/{reportDocumentId}")
SEARCH_ORDERS = Route("GET", "/orders/2026-01-01/orders")
ORDER = Route("GET", "/orders/2026-01-01/orders/{orderId}")
_PLANS = "/inbound/fba/2024-03-20/inboundPlans"
LIST_INBOUND_PLANS = Route("GET", _PLANS)
INBOUND_PLAN = Route("GET", _PLANS + "/{inboundPlanId}")
INBOUND_PLAN_SHIPMENT = Route("GET", _PLANS + "/{inboundPlanId}/shipments/{shipmentId}")
INBOUND_PLAN_SHIPMENT_ITEMS = Route("GET", _PLANS + "/{inboundPlanId}/shipments/{shipmentId}/items")
INBOUND_PLAN_SHIPMENT_BOXES = Route("GET", _PLANS + "/{inboundPlanId}/shipments/{shipmentId}/boxes")
SHIPMENT_TRACKING = Route("GET", "/tracking/2026-01-30/shipments/track")
MCF_ORDERS = Route("GET", "/fulfillment/outbound/2026-07-04/orders")
MCF_ORDER = Route("GET", "/fulfillment/outbound/2026-07-04/orders/{orderId}")
_AWD = "/awd/2024-05-09"
AWD_INBOUND_SHIPMENTS = Route("GET", _AWD + "/inboundShipments")
AWD_INBOUND_SHIPMENT = Route("GET", _AWD + "/inboundShipments/{shipmentId}")
AWD_OUTBOUNDS = Route("GET", _AWD + "/outboundOrders")
AWD_OUTBOUND = Route("GET", _AWD + "/outboundOrders/{orderId}")
AWD_INVENTORY = Route("GET", _AWD + "/inventory")
_NOTIFICATIONS = "/notifications/v1"
DESTINATIONS = Route("GET", _NOTIFICATIONS + "/destinations")
CREATE_DESTINATION = Route("POST", _NOTIFICATIONS + "/destinations")
DESTINATION = Route("GET", _NOTIFICATIONS + "/destinations/{destinationId}")
DELETE_DESTINATION = Route("DELETE", _NOTIFICATIONS + "/destinations/{destinationId}")
SUBSCRIPTIONS = Route("GET", _NOTIFICATIONS + "/subscriptions")
SUBSCRIPTION = Route("GET", _NOTIFICATIONS + "/subscriptions/{notificationType}")
CREATE_SUBSCRIPTION = Route("POST", _NOTIFICATIONS + "/subscriptions/{notificationType}")
_SUBSCRIPTION_BY_ID = _NOTIFICATIONS + "/subscriptions/{notificationType}/{subscriptionId}"
SUBSCRIPTION_BY_ID = Route("GET", _SUBSCRIPTION_BY_ID)
DELETE_SUBSCRIPTION = Route("DELETE", _SUBSCRIPTION_BY_ID)
LWA_TOKEN = Route("POST", "/auth/o2/token")
