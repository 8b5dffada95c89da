"""FBA Outbound 2026-07-04: listOrders and getOrder over the same MCF orders as 2020-07-01.

Both versions read one data set: each 2020-07-01 getFulfillmentOrder answer is rewritten
into the 2026-07-04 `FulfillmentOrder` of the model (`orderId` is the seller's
fulfillment order id; `lineItems`, `shipments`, their `items` and `packages`). What the
2026-07-04 model has no place for is not there: returns, return authorizations, and the
integer `packageNumber` that getPackageTrackingDetails (2020-07-01 only) needs; a package
is a string `packageId` here. A delivered package's `tracking.proofOfDelivery.receivedBy` is
who signed for it in its 2020-07-01 tracking (`signedForBy`).

listOrders: orders whose status changed after `updatedAfter`, oldest first, a page of
`outbound_page_size`, `pagination.nextToken` for the next one (sent back as
`pageToken`, which carries its query); `shipments=EXCLUDE` leaves shipments out
(INCLUDE is the model's default).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spapi_standin import paths
from spapi_standin.instances import parse_instant
from spapi_standin.page_tokens import decode_token, encode_token
from spapi_standin.ratelimit import query_enum
from spapi_standin.replies import Reply, error, invalid_input, json_reply

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from spapi_standin.config import StandInConfig
    from spapi_standin.data import Dataset, Record
    from spapi_standin.request import Request

SHIPMENTS = query_enum(paths.MCF_ORDERS, "shipments")
# 2020-07-01 FulfillmentOrderStatus -> 2026-07-04 OrderStatus ("Possible values" of each).
ORDER_STATUS = {
    "New": "PROCESSING",
    "Received": "PROCESSING",
    "Planning": "PROCESSING",
    "Processing": "PROCESSING",
    "Complete": "COMPLETE",
    "CompletePartialled": "COMPLETE_PARTIAL",
    "Cancelled": "CANCELLED",
    "Unfulfillable": "UNFULFILLABLE",
    "Invalid": "INVALID",
}
# 2020-07-01 FulfillmentShipmentStatus -> 2026-07-04 ShipmentStatus.
SHIPMENT_STATUS = {
    "PENDING": "PROCESSING",
    "SHIPPED": "SHIPPED",
    "CANCELLED_BY_FULFILLER": "CANCELLED",
    "CANCELLED_BY_SELLER": "CANCELLED",
}
ADDRESS_FIELDS = (
    "name",
    "addressLine1",
    "addressLine2",
    "addressLine3",
    "city",
    "districtOrCounty",
    "stateOrRegion",
    "postalCode",
    "countryCode",
    "phone",
)


def package_id(package_number: int) -> str:
    """The 2026-07-04 id of a package (a string; 2020-07-01 numbers it)."""
    return f"PKG-{package_number}"


def _amount(quantity: Any) -> dict[str, Any]:
    return {"unit": "EACHES", "value": f"{float(quantity or 0):.1f}"}


def order_2026(
    detail: Record, *, shipments: bool = True, tracking: Mapping[int, Record] | None = None
) -> Record:
    """One getFulfillmentOrder answer as a 2026-07-04 FulfillmentOrder (`tracking`: the
    2020-07-01 getPackageTrackingDetails answers by package number)."""
    old = detail["fulfillmentOrder"]
    address = old.get("destinationAddress") or {}
    order: Record = {
        "orderId": old["sellerFulfillmentOrderId"],
        "receiveTime": old["receivedDate"],
        "status": ORDER_STATUS.get(old["fulfillmentOrderStatus"], "PROCESSING"),
        "statusUpdateTime": old["statusUpdatedDate"],
        "fulfillmentConfiguration": {
            "serviceLevel": {"serviceTiers": [str(old["shippingSpeedCategory"]).upper()]},
            "action": str(old.get("fulfillmentAction") or "Ship").upper(),
        },
        "origin": {"countryCode": address.get("countryCode", "US")},
        "destination": {"deliveryAddress": {k: address[k] for k in ADDRESS_FIELDS if k in address}},
        "lineItems": [
            {
                "lineItemId": item["sellerFulfillmentOrderItemId"],
                "product": {"productIdentifier": {"amazonSku": item["sellerSku"]}},
                "amount": _amount(item["quantity"]),
                "cancelledAmount": _amount(item["cancelledQuantity"]),
                "unfulfillableAmount": _amount(item["unfulfillableQuantity"]),
            }
            for item in detail.get("fulfillmentOrderItems") or []
        ],
    }
    if shipments:
        order["shipments"] = [
            _shipment(s, tracking or {}) for s in detail.get("fulfillmentShipments") or []
        ]
    return order


def _shipment(old: Record, tracking: Mapping[int, Record]) -> Record:
    shipment_id = old["amazonShipmentId"]
    items = old.get("fulfillmentShipmentItem") or []
    packages = old.get("fulfillmentShipmentPackage") or []
    return {
        "amazonShipmentId": shipment_id,
        "amazonFacility": {"facilityId": old["fulfillmentCenterId"]},
        "status": SHIPMENT_STATUS.get(old["fulfillmentShipmentStatus"], "PROCESSING"),
        "shipTime": old.get("shippingDate"),
        "deliveryTime": old.get("estimatedArrivalDate"),
        "items": [
            {
                "shipmentItemId": f"{shipment_id}-{index + 1}",
                "productIdentifier": {"amazonSku": item["sellerSku"]},
                "lineItemId": item["sellerFulfillmentOrderItemId"],
                "amount": _amount(item["quantity"]),
                **(
                    {"packageId": package_id(item["packageNumber"])}
                    if item.get("packageNumber") is not None
                    else {}
                ),
            }
            for index, item in enumerate(items)
        ],
        "packages": [
            {
                "packageId": package_id(package["packageNumber"]),
                "deliveryTime": package.get("estimatedArrivalDate"),
                "shipmentItemIds": [
                    f"{shipment_id}-{index + 1}"
                    for index, item in enumerate(items)
                    if item.get("packageNumber") == package["packageNumber"]
                ],
                "tracking": {
                    "carrier": {
                        "carrierCode": package["carrierCode"],
                        "trackingNumber": package["trackingNumber"],
                    },
                    "amazon": {"trackingNumber": package.get("amazonFulfillmentTrackingNumber")},
                    **_proof_of_delivery(tracking.get(package["packageNumber"])),
                },
            }
            for package in packages
        ],
    }


def _proof_of_delivery(tracking: Record | None) -> Record:
    """`proofOfDelivery.receivedBy` ("the name of the person who received the package"):
    who signed for a delivered package in its 2020-07-01 tracking."""
    if not tracking or not tracking.get("signedForBy"):
        return {}
    return {"proofOfDelivery": {"receivedBy": tracking["signedForBy"]}}


def _after(order: Record, after: datetime | None) -> bool:
    """Changed after `after` ("updated after this time": strictly)."""
    updated = parse_instant(order["statusUpdatedDate"])
    return after is None or (updated is not None and updated > after)


class McfOrdersService:
    """listOrders and getOrder of FBA Outbound 2026-07-04."""

    def __init__(self, config: StandInConfig, dataset: Dataset) -> None:
        self.config = config
        self.data = dataset

    def list_orders(self, request: Request) -> Reply:
        """Orders updated after `updatedAfter`, a page at a time."""
        include = self._shipments(request)
        if include is None:
            return invalid_input(f"shipments must be one of {', '.join(sorted(SHIPMENTS))}.")
        token = request.first("pageToken")
        if token is not None:
            state = decode_token(token)
            if state is None:
                return invalid_input("Invalid pageToken.")
            raw_after, offset = state.get("u"), int(state["o"])
        else:
            raw_after, offset = request.first("updatedAfter"), 0
        after = parse_instant(raw_after)
        if raw_after is not None and after is None:
            return invalid_input("updatedAfter must be in ISO 8601 format.")
        changed = [o for o in self.data.outbound_since(after) if _after(o, after)]
        size = self.config.outbound_page_size
        page = changed[offset : offset + size]
        details = self.data.outbound_details
        body: dict[str, Any] = {
            "orders": [
                order_2026(
                    details[o["sellerFulfillmentOrderId"]],
                    shipments=include,
                    tracking=self.data.package_tracking,
                )
                for o in page
            ]
        }
        if offset + size < len(changed):
            body["pagination"] = {"nextToken": encode_token({"u": raw_after, "o": offset + size})}
        return json_reply(body)

    def get_order(self, request: Request) -> Reply:
        """One order, its shipments unless `shipments=EXCLUDE`."""
        include = self._shipments(request)
        if include is None:
            return invalid_input(f"shipments must be one of {', '.join(sorted(SHIPMENTS))}.")
        detail = self.data.outbound_details.get(request.params["orderId"])
        if detail is None:
            return error(404, "NotFound", "Requested order not found")
        order = order_2026(detail, shipments=include, tracking=self.data.package_tracking)
        return json_reply({"order": order})

    def _shipments(self, request: Request) -> bool | None:
        value = request.first("shipments") or "INCLUDE"
        return None if value not in SHIPMENTS else value == "INCLUDE"
