"""FBA inbound 2024-03-20: inbound plans, their shipments, items and boxes.

Built from the model's response schemas and linked to the v0 data: each 2024 shipment
is one v0 shipment seen through Send to Amazon, its `shipmentConfirmationId` the v0
`ShipmentId` (the `FBA...` id on the labels), its items the v0 items (msku = SellerSKU),
its boxes `<ShipmentId>U<n>` as on FBA box labels. Small-parcel shipments by a carrier
Amazon does not partner with carry one carrier tracking number per box in
`trackingDetails.spdTrackingDetail`; spapi_standin/shipment_tracking.py answers the
Tracking API for them.

Served as the model and live Amazon do: listInboundPlans sorts by `sortBy` (default
LAST_UPDATED_TIME) in `sortOrder` (default DESC), `pageSize` 1..30 (default 10), and a
`paginationToken` that carries the query; getInboundPlan refuses cross-border plans and
getShipment leaves out `trackingDetails` of Amazon-partnered shipments (live.py).
"""

from __future__ import annotations

import copy
import string
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from spapi_standin import live, paths
from spapi_standin.data import parse_instant
from spapi_standin.instances import iso
from spapi_standin.page_tokens import decode_token, encode_token
from spapi_standin.ratelimit import query_enum
from spapi_standin.replies import Reply, error, invalid_input, json_reply

if TYPE_CHECKING:
    from spapi_standin.config import StandInConfig
    from spapi_standin.data import Dataset, Record
    from spapi_standin.instances import InstanceGenerator
    from spapi_standin.request import Request

# v0 ShipmentStatus -> 2024-03-20 Shipment.status ("Possible values" of the model).
STATUS_2024 = {
    "WORKING": "WORKING", "SHIPPED": "SHIPPED", "IN_TRANSIT": "IN_TRANSIT",
    "DELIVERED": "DELIVERED", "CHECKED_IN": "CHECKED_IN", "RECEIVING": "RECEIVING",
    "CLOSED": "CLOSED", "CANCELLED": "CANCELLED", "DELETED": "DELETED", "ERROR": "ABANDONED",
}  # fmt: skip
CLOSED_SHIPMENTS = frozenset({"CLOSED", "CANCELLED", "DELETED", "ABANDONED"})
SORT_BY = query_enum(paths.LIST_INBOUND_PLANS, "sortBy")
SORT_ORDER = query_enum(paths.LIST_INBOUND_PLANS, "sortOrder")
PLAN_STATUSES = query_enum(paths.LIST_INBOUND_PLANS, "status")
SORT_FIELDS = {"LAST_UPDATED_TIME": "lastUpdatedAt", "CREATION_TIME": "createdAt"}
MAX_PLANS_PAGE = 30  # listInboundPlans pageSize maximum
MAX_LIST_PAGE = 1000  # listShipmentItems / listShipmentBoxes pageSize maximum
# The seller's own warehouse and Amazon's centres: business addresses, not buyer PII (the
# generator would fill any address with PII sentinels).
SOURCE_ADDRESS = {
    "name": "Stand-in Outfitters Warehouse", "companyName": "Stand-in Outfitters",
    "addressLine1": "1 Depot Way", "city": "Reno", "stateOrProvinceCode": "NV",
    "postalCode": "89502", "countryCode": "US", "phoneNumber": "+1 775 555 0100",
}  # fmt: skip
SUMMARY_FIELDS = (
    "createdAt", "inboundPlanId", "lastUpdatedAt", "marketplaceIds", "name",
    "sourceAddress", "status",
)  # fmt: skip


def identifier(gen: InstanceGenerator, prefix: str) -> str:
    """A 38-character id as the model's pattern and Amazon's examples have them."""
    hexdigits = "0123456789abcdef"
    parts = [gen.code("", n, hexdigits) for n in (8, 4, 4, 4, 12)]
    return prefix + "-".join(parts)


def build(builder: Any) -> None:
    """Plans over the v0 shipments: each v0 shipment of the newest `inbound_plans * 2`
    belongs to one plan (one to three shipments a plan)."""
    config: StandInConfig = builder.config
    data: Dataset = builder.data
    gen: InstanceGenerator = builder.generator("inbound_2024")
    schemas = builder.schemas
    plan_schema = schemas.response(*paths.INBOUND_PLAN)
    shipment_schema = schemas.response(*paths.INBOUND_PLAN_SHIPMENT)
    item_schema = schemas.item(*paths.INBOUND_PLAN_SHIPMENT_ITEMS, "items", "[]")
    box_schema = schemas.item(*paths.INBOUND_PLAN_SHIPMENT_BOXES, "boxes", "[]")
    v0 = sorted(
        data.all_inbound_shipments(), key=lambda s: data.inbound_last_updated[s["ShipmentId"]]
    )
    wanted = config.scaled(config.inbound_plans)
    pool = v0[-2 * wanted :] if wanted else []
    while pool and len(data.inbound_plans) < wanted:
        group = [pool.pop() for _ in range(min(len(pool), gen.rng.randint(1, 3)))]
        plan = _plan(gen, plan_schema, data, group)
        data.inbound_plans.append(plan)
        for v0_shipment in group:
            shipment = _shipment(builder, gen, shipment_schema, plan, v0_shipment)
            shipment_id = shipment["shipmentId"]
            plan["shipments"].append({"shipmentId": shipment_id, "status": shipment["status"]})
            data.plan_shipments[shipment_id] = shipment
            data.plan_of_shipment[shipment_id] = plan["inboundPlanId"]
            data.plan_shipment_items[shipment_id] = _items(
                gen, item_schema, data.inbound_items[v0_shipment["ShipmentId"]]
            )
            data.plan_shipment_boxes[shipment_id] = _boxes(
                gen, box_schema, shipment, data.plan_shipment_items[shipment_id]
            )
    if config.live.cross_border_plans_refused:
        data.refused_plan_ids = live.refused_plan_ids(
            config.seed, [p["inboundPlanId"] for p in data.inbound_plans], config.live
        )


def _plan(gen: InstanceGenerator, schema: Record, data: Dataset, group: list[Record]) -> Record:
    plan: Record = gen.instance(schema)
    updated = max(data.inbound_last_updated[s["ShipmentId"]] for s in group)
    created = updated - timedelta(days=gen.rng.randint(1, 20), minutes=gen.rng.randint(0, 600))
    statuses = {STATUS_2024[s["ShipmentStatus"]] for s in group}
    plan.update(
        inboundPlanId=identifier(gen, "wf"),
        name=f"STA plan ({created:%m/%d/%Y %H:%M})",
        createdAt=iso(created),
        lastUpdatedAt=iso(updated),
        marketplaceIds=sorted({data.inbound_marketplace[s["ShipmentId"]] for s in group}),
        sourceAddress=dict(SOURCE_ADDRESS),
        status="VOIDED"
        if statuses <= {"CANCELLED", "DELETED", "ABANDONED"}
        else "ACTIVE"
        if "WORKING" in statuses
        else "SHIPPED",
        shipments=[],
    )
    return plan


def _shipment(
    builder: Any, gen: InstanceGenerator, schema: Record, plan: Record, v0: Record
) -> Record:
    shipment: Record = gen.instance(schema)
    status = STATUS_2024[v0["ShipmentStatus"]]
    shipment.update(
        shipmentId=identifier(gen, "sh"),
        shipmentConfirmationId=v0["ShipmentId"],
        name=v0["ShipmentName"],
        status=status,
        placementOptionId=identifier(gen, "pl"),
    )
    center = v0["DestinationFulfillmentCenterId"]
    shipment["destination"] = {
        "address": {
            "name": f"Amazon.com Services {center}", "addressLine1": f"{center} Fulfillment Way",
            "city": "Phoenix", "stateOrProvinceCode": "AZ", "postalCode": "85043",
            "countryCode": "US",
        },
        "destinationType": "AMAZON_WAREHOUSE",
        "warehouseId": center,
    }  # fmt: skip
    shipment["source"] = {"sourceType": "SELLER_FACILITY", "address": dict(SOURCE_ADDRESS)}
    created = parse_instant(plan["createdAt"])
    start = created + timedelta(days=gen.rng.randint(2, 8))
    if "selectedDeliveryWindow" in shipment:
        shipment["selectedDeliveryWindow"].update(
            startDate=iso(start), endDate=iso(start + timedelta(days=6)), editableUntil=iso(start)
        )
    # A share of the shipments go by an Amazon-partnered carrier (no tracking numbers
    # the seller entered); the others carry one number per box, set with the boxes.
    partnered = gen.rng.random() < builder.config.inbound_partnered_share
    if partnered:
        builder.data.partnered_shipment_ids.add(shipment["shipmentId"])
    shipment["trackingDetails"] = {}
    return shipment


def _items(gen: InstanceGenerator, schema: Record, v0_items: list[Record]) -> list[Record]:
    items = []
    for v0 in v0_items:
        item: Record = gen.instance(schema)
        item.update(
            msku=v0["SellerSKU"],
            fnsku=v0.get("FulfillmentNetworkSKU") or gen.code("X00", 7),
            asin=gen.code("B0", 8),
            quantity=v0["QuantityShipped"],
            labelOwner=gen.rng.choice(("AMAZON", "SELLER", "NONE")),
        )
        item.pop("expiration", None)  # one row per msku (the stream's key)
        items.append(item)
    return items


def _boxes(
    gen: InstanceGenerator, schema: Record, shipment: Record, items: list[Record]
) -> list[Record]:
    boxes = []
    spd: list[Record] = []
    confirmation = shipment["shipmentConfirmationId"]
    for number in range(1, gen.rng.randint(1, 3) + 1):
        box: Record = gen.instance(schema)
        box_id = f"{confirmation}U{number:06d}"
        box.update(
            boxId=box_id,
            packageId=identifier(gen, "pk"),
            quantity=sum(i["quantity"] for i in items),
            items=[
                {k: i[k] for k in ("msku", "fnsku", "asin", "quantity", "labelOwner")}
                | {"prepOwner": "NONE"}
                for i in items
            ],
        )
        boxes.append(box)
        spd.append(
            {
                "boxId": box_id,
                "trackingId": gen.code("1Z", 16, string.ascii_uppercase + string.digits),
                "trackingNumberValidationStatus": "VALIDATED",
            }
        )
    shipment["trackingDetails"] = {"spdTrackingDetail": {"spdTrackingItems": spd}}
    return boxes


class InboundPlansService:
    """listInboundPlans, getInboundPlan, getShipment, listShipmentItems, listShipmentBoxes."""

    def __init__(self, config: StandInConfig, dataset: Dataset) -> None:
        self.config = config
        self.data = dataset

    def list_inbound_plans(self, request: Request) -> Reply:
        """listInboundPlans: summaries, sorted, one page."""
        token = request.first("paginationToken")
        query = {
            "sortBy": request.first("sortBy") or "LAST_UPDATED_TIME",
            "sortOrder": request.first("sortOrder") or "DESC",
            "status": request.first("status"),
        }
        if query["sortBy"] not in SORT_BY or query["sortOrder"] not in SORT_ORDER:
            return invalid_input("Invalid sortBy or sortOrder.")
        if query["status"] is not None and query["status"] not in PLAN_STATUSES:
            return invalid_input(f"Invalid status {query['status']}.")
        size = _page_size(request, MAX_PLANS_PAGE, 10)
        if isinstance(size, Reply):
            return size
        offset = 0
        if token:
            state = decode_token(token)
            if state is None or state.get("q") != query:
                return invalid_input("Invalid paginationToken.")
            offset = int(state["o"])
        field = SORT_FIELDS[query["sortBy"]]
        with self.data.lock:
            plans = [
                p
                for p in self.data.inbound_plans
                if query["status"] is None or p["status"] == query["status"]
            ]
            plans.sort(
                key=lambda p: (p[field], p["inboundPlanId"]), reverse=query["sortOrder"] == "DESC"
            )
            page = [{k: p[k] for k in SUMMARY_FIELDS if k in p} for p in plans[offset:][:size]]
            body: Record = {"inboundPlans": copy.deepcopy(page)}
        if offset + size < len(plans):
            body["pagination"] = {"nextToken": encode_token({"q": query, "o": offset + size})}
        return json_reply(body)

    def get_inbound_plan(self, request: Request) -> Reply:
        """getInboundPlan: the whole plan, or live Amazon's refusal of a cross-border one."""
        plan_id = request.params["inboundPlanId"]
        if plan_id in self.data.refused_plan_ids:
            return live.cross_border_refusal()
        with self.data.lock:
            plan = next((p for p in self.data.inbound_plans if p["inboundPlanId"] == plan_id), None)
            if plan is None:
                return error(404, "NotFound", f"Inbound plan {plan_id} was not found.")
            return json_reply(copy.deepcopy(plan))

    def get_shipment(self, request: Request) -> Reply:
        """getShipment: the shipment of the plan (partnered ones without trackingDetails)."""
        shipment = self._shipment_of(request)
        if isinstance(shipment, Reply):
            return shipment
        shown = copy.deepcopy(shipment)
        if (
            self.config.live.partnered_tracking_absent
            and shipment["shipmentId"] in self.data.partnered_shipment_ids
        ):
            shown.pop("trackingDetails", None)
        return json_reply(shown)

    def list_shipment_items(self, request: Request) -> Reply:
        """listShipmentItems: the shipment's items, paged."""
        return self._listed(request, "items", self.data.plan_shipment_items)

    def list_shipment_boxes(self, request: Request) -> Reply:
        """listShipmentBoxes: the shipment's boxes, paged."""
        return self._listed(request, "boxes", self.data.plan_shipment_boxes)

    def _listed(self, request: Request, name: str, source: dict[str, list[Record]]) -> Reply:
        shipment = self._shipment_of(request)
        if isinstance(shipment, Reply):
            return shipment
        size = _page_size(request, MAX_LIST_PAGE, 10)
        if isinstance(size, Reply):
            return size
        size = min(size, self.config.shipment_list_page_size)
        offset = 0
        token = request.first("paginationToken")
        if token:
            state = decode_token(token)
            if state is None or state.get("s") != shipment["shipmentId"]:
                return invalid_input("Invalid paginationToken.")
            offset = int(state["o"])
        rows = source.get(shipment["shipmentId"], [])
        body: Record = {name: copy.deepcopy(rows[offset : offset + size])}
        if offset + size < len(rows):
            following = {"s": shipment["shipmentId"], "o": offset + size}
            body["pagination"] = {"nextToken": encode_token(following)}
        return json_reply(body)

    def _shipment_of(self, request: Request) -> Record | Reply:
        plan_id, shipment_id = request.params["inboundPlanId"], request.params["shipmentId"]
        if self.data.plan_of_shipment.get(shipment_id) != plan_id:
            return error(404, "NotFound", f"Shipment {shipment_id} was not found in {plan_id}.")
        return self.data.plan_shipments[shipment_id]


def _page_size(request: Request, maximum: int, default: int) -> int | Reply:
    raw = request.first("pageSize")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        return invalid_input(f"pageSize must be between 1 and {maximum}.")
    return int(raw)
