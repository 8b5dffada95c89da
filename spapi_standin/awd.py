"""Amazon Warehousing and Distribution 2024-05-09: inbound shipments, outbound orders and
the inventory AWD stores.

Built from the model's response schemas: `awd_inbound_shipments` whole InboundShipments
(getInboundShipment; listInboundShipments lists their InboundShipmentSummary fields),
each with its SKU quantities; `awd_outbound_orders` whole OutboundOrders (listOutbounds
and getOutbound answer the same order); one InventorySummary per SKU of a pool the
shipments and orders draw from. An inbound shipment's `orderId` is its `shipmentId`
("In AWD API, `orderId` is the same as `shipmentId`": selling-partner-api-models #4885).
The origin of an inbound shipment is the seller's warehouse, its destination an AWD
centre; an outbound order leaves from an AWD centre for a destination the seller named
(the generator plants PII sentinels there: a wholesale customer may be a person).

Served as the model says: listInboundShipments sorts by `sortBy` (default UPDATED_AT) in
`sortOrder` (default DESCENDING), listOutbounds by `updatedAt` (default DESCENDING),
listInventory by SKU; `updatedAfter` and `updatedBefore` are inclusive ("updated after a
certain time (inclusive)"); `maxResults` 1..200 (listOutbounds 1..100), default 25, and
at most `awd_page_size`; a `nextToken` carries its query, and a later page must repeat
the arguments of the call that produced it ("include the same arguments"), else 400.
getInboundShipment lists SKU quantities only with `skuQuantities=SHOW`, listInventory
its details only with `details=SHOW` (both default HIDE). With
`live.awd_inventory_token_repeats`, listInventory answers its third page, the first time
it is asked, with the token it was asked with (#4713, live.py).
"""

from __future__ import annotations

import copy
import json
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from spapi_standin import paths
from spapi_standin.instances import iso, parse_instant
from spapi_standin.page_tokens import decode_token, encode_token
from spapi_standin.ratelimit import query_enum
from spapi_standin.replies import Reply, error, invalid_input, json_reply

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from spapi_standin.config import StandInConfig
    from spapi_standin.data import Dataset, Record
    from spapi_standin.instances import InstanceGenerator
    from spapi_standin.request import Request

SORT_BY = query_enum(paths.AWD_INBOUND_SHIPMENTS, "sortBy")
SORT_ORDER = query_enum(paths.AWD_INBOUND_SHIPMENTS, "sortOrder")
SHIPMENT_STATUSES = query_enum(paths.AWD_INBOUND_SHIPMENTS, "shipmentStatus")
SHOW_HIDE = query_enum(paths.AWD_INVENTORY, "details")
# OutboundStatus values ("Possible values" of the model's enum).
OUTBOUND_STATUSES = (
    "CONFIRMED", "DRAFT", "ELIGIBLE", "EXECUTING", "FAILURE", "INELIGIBLE",
    "INVENTORY_OUTBOUND", "SUCCESS", "VALIDATING",
)  # fmt: skip
SORT_FIELDS = {"UPDATED_AT": "updatedAt", "CREATED_AT": "createdAt"}
# The model's `maxResults` bounds and default, per list operation.
MOST_SHIPMENTS, MOST_OUTBOUNDS, MOST_INVENTORY, DEFAULT_PAGE = 200, 100, 200, 25
SUMMARY_FIELDS = (
    "createdAt", "externalReferenceId", "orderId", "shipmentId", "shipmentStatus", "updatedAt",
)  # fmt: skip
AWD_CENTRES = ("AWD-IUSJ", "AWD-IUSP", "AWD-IUTI", "AWD-IUSL")
SELLER_WAREHOUSE = {
    "name": "Stand-in Outfitters Warehouse", "addressLine1": "1 Depot Way", "city": "Reno",
    "stateOrRegion": "NV", "postalCode": "89502", "countryCode": "US",
    "phoneNumber": "+1 775 555 0100",
}  # fmt: skip


def _centre(name: str) -> Record:
    return {
        "name": f"Amazon Warehousing and Distribution {name}",
        "addressLine1": "500 Distribution Parkway",
        "city": "Stockton", "stateOrRegion": "CA", "postalCode": "95206", "countryCode": "US",
    }  # fmt: skip


# -- the data set ----------------------------------------------------------------------------


def build(builder: Any) -> None:
    """SKUs with their inventory, inbound shipments and outbound orders over them."""
    config: StandInConfig = builder.config
    data: Dataset = builder.data
    gen: InstanceGenerator = builder.generator("awd")
    schemas = builder.schemas
    skus = sorted({builder.unique(gen, "AWD-", 8) for _ in range(config.scaled(config.awd_skus))})
    inventory_schema = schemas.item(*paths.AWD_INVENTORY, "inventory", "[]")
    for sku in skus:
        data.awd_inventory.append(_inventory(gen, inventory_schema, sku))
    shipment_schema = schemas.response(*paths.AWD_INBOUND_SHIPMENT)
    for _ in range(config.scaled(config.awd_inbound_shipments)):
        shipment = _inbound_shipment(builder, gen, shipment_schema, skus)
        data.awd_inbound_shipments[shipment["shipmentId"]] = shipment
    order_schema = schemas.response(*paths.AWD_OUTBOUND)
    for _ in range(config.scaled(config.awd_outbound_orders)):
        order = _outbound_order(builder, gen, order_schema, skus)
        data.awd_outbound_orders[order["orderId"]] = order


def _inventory(gen: InstanceGenerator, schema: Record, sku: str) -> Record:
    summary: Record = gen.instance(schema)
    onhand = gen.rng.randint(0, 4000)
    summary.update(
        sku=sku,
        totalOnhandQuantity=onhand,
        totalInboundQuantity=gen.rng.randint(0, 1200),
        inventoryDetails={
            "availableDistributableQuantity": onhand // 2,
            "reservedDistributableQuantity": onhand // 4,
            "replenishmentQuantity": onhand - onhand // 2 - onhand // 4,
        },
    )
    return summary


def _inbound_shipment(
    builder: Any, gen: InstanceGenerator, schema: Record, skus: list[str]
) -> Record:
    shipment: Record = gen.instance(schema)
    shipment_id = builder.unique(gen, "STAR-", 10)
    updated = gen.moment()
    created = gen.moment(updated - timedelta(days=30), updated)
    shipment.update(
        shipmentId=shipment_id,
        orderId=shipment_id,  # #4885: the same id
        shipmentStatus=gen.rng.choice(sorted(SHIPMENT_STATUSES)),
        createdAt=iso(created),
        updatedAt=iso(updated),
        originAddress=dict(SELLER_WAREHOUSE),
        destinationAddress=_centre(gen.rng.choice(AWD_CENTRES)),
        shipmentSkuQuantities=[
            _sku_quantity(gen, sku)
            for sku in gen.rng.sample(skus, min(len(skus), gen.rng.randint(1, 4)))
        ],
    )
    return shipment


def _sku_quantity(gen: InstanceGenerator, sku: str) -> Record:
    expected = gen.rng.randint(1, 40) * 12
    return {
        "sku": sku,
        "expectedQuantity": {"quantity": expected, "unitOfMeasurement": "PRODUCT_UNITS"},
        "receivedQuantity": {
            "quantity": gen.rng.randint(0, expected),
            "unitOfMeasurement": "PRODUCT_UNITS",
        },
    }


def _outbound_order(
    builder: Any, gen: InstanceGenerator, schema: Record, skus: list[str]
) -> Record:
    order: Record = gen.instance(schema)
    order_id = builder.unique(gen, "OUT-", 10)
    updated = gen.moment()
    created = gen.moment(updated - timedelta(days=20), updated)
    order.update(
        orderId=order_id,
        orderStatus=gen.rng.choice(OUTBOUND_STATUSES),
        createdAt=iso(created),
        updatedAt=iso(updated),
    )
    for shipment in order.get("outboundShipments") or []:
        shipment.update(
            orderId=order_id,
            shipmentId=builder.unique(gen, "OSH-", 10),
            originAddress=_centre(gen.rng.choice(AWD_CENTRES)),
            createdAt=iso(created),
            updatedAt=iso(gen.moment(created, updated)),
        )
    for products in ("productsToOutbound", "eligibleProductsToOutbound", "shippedOutboundProducts"):
        for product in order.get(products) or []:
            product["sku"] = gen.rng.choice(skus)
    return order


# -- serving -----------------------------------------------------------------------------------


class AwdService:
    """listInboundShipments, getInboundShipment, listOutbounds, getOutbound, listInventory."""

    def __init__(self, config: StandInConfig, dataset: Dataset) -> None:
        self.config = config
        self.data = dataset
        self._repeated: set[str] = set()  # listInventory tokens answered with themselves
        self._lock = threading.Lock()

    def list_inbound_shipments(self, request: Request) -> Reply:
        """Shipment summaries in the window, sorted, one page."""
        query = {
            "sortBy": request.first("sortBy") or "UPDATED_AT",
            "sortOrder": request.first("sortOrder") or "DESCENDING",
            "shipmentStatus": request.first("shipmentStatus"),
            "updatedAfter": request.first("updatedAfter"),
            "updatedBefore": request.first("updatedBefore"),
        }
        if query["sortBy"] not in SORT_BY or query["sortOrder"] not in SORT_ORDER:
            return invalid_input("Invalid sortBy or sortOrder.")
        status = query["shipmentStatus"]
        if status is not None and status not in SHIPMENT_STATUSES:
            return invalid_input(f"Invalid shipmentStatus {status}.")
        field = SORT_FIELDS[query["sortBy"]]

        def rows() -> list[Record] | Reply:
            window = _window(query)
            if isinstance(window, Reply):
                return window
            return [
                {k: s[k] for k in SUMMARY_FIELDS if k in s}
                for s in self.data.awd_inbound_shipments.values()
                if (status is None or s["shipmentStatus"] == status)
                and _in_window(s["updatedAt"], *window)
            ]

        return self._page(request, query, rows, "shipments", field, MOST_SHIPMENTS)

    def get_inbound_shipment(self, request: Request) -> Reply:
        """One shipment; its SKU quantities only with `skuQuantities=SHOW`."""
        shown = request.first("skuQuantities") or "HIDE"
        if shown not in SHOW_HIDE:
            return invalid_input(f"Invalid skuQuantities {shown}.")
        with self.data.lock:
            shipment = self.data.awd_inbound_shipments.get(request.params["shipmentId"])
            if shipment is None:
                return error(404, "NotFound", "The requested shipment was not found.")
            answer = copy.deepcopy(shipment)
        if shown == "HIDE":
            answer.pop("shipmentSkuQuantities", None)
        return json_reply(answer)

    def list_outbounds(self, request: Request) -> Reply:
        """Whole outbound orders in the window, by `updatedAt`, one page."""
        query = {
            "sortOrder": request.first("sortOrder") or "DESCENDING",
            "updatedAfter": request.first("updatedAfter"),
            "updatedBefore": request.first("updatedBefore"),
        }
        if query["sortOrder"] not in SORT_ORDER:
            return invalid_input("Invalid sortOrder.")

        def rows() -> list[Record] | Reply:
            window = _window(query)
            if isinstance(window, Reply):
                return window
            return [
                o
                for o in self.data.awd_outbound_orders.values()
                if _in_window(o["updatedAt"], *window)
            ]

        return self._page(request, query, rows, "outboundOrders", "updatedAt", MOST_OUTBOUNDS)

    def get_outbound(self, request: Request) -> Reply:
        """One outbound order."""
        with self.data.lock:
            order = self.data.awd_outbound_orders.get(request.params["orderId"])
            if order is None:
                return error(404, "NotFound", "The requested outbound order was not found.")
            return json_reply(copy.deepcopy(order))

    def list_inventory(self, request: Request) -> Reply:
        """Inventory summaries by SKU; details only with `details=SHOW`."""
        query = {
            "sku": request.first("sku"),
            "sortOrder": request.first("sortOrder") or "ASCENDING",
            "details": request.first("details") or "HIDE",
        }
        if query["sortOrder"] not in SORT_ORDER or query["details"] not in SHOW_HIDE:
            return invalid_input("Invalid sortOrder or details.")

        def rows() -> list[Record]:
            return [
                s if query["details"] == "SHOW" else _totals(s)
                for s in self.data.awd_inventory
                if query["sku"] is None or s["sku"] == query["sku"]
            ]

        reply = self._page(request, query, rows, "inventory", "sku", MOST_INVENTORY)
        return self._repeat_token(request, reply)

    def _page(
        self,
        request: Request,
        query: dict[str, Any],
        rows: Callable[[], list[Record] | Reply],
        name: str,
        field: str,
        most: int,
    ) -> Reply:
        size = _max_results(request, most)
        if isinstance(size, Reply):
            return size
        size = min(size, self.config.awd_page_size)
        offset = 0
        token = request.first("nextToken")
        if token is not None:
            state = decode_token(token)
            if state is None or state.get("q") != query:
                return invalid_input(
                    "Invalid nextToken: call with the same arguments as the call that produced it."
                )
            offset = int(state["o"])
        with self.data.lock:
            found = rows()
            if isinstance(found, Reply):
                return found
            found.sort(
                key=lambda r: (r.get(field) or "", r.get("shipmentId") or r.get("orderId") or ""),
                reverse=query["sortOrder"] == "DESCENDING",
            )
            body: Record = {name: copy.deepcopy(found[offset : offset + size])}
        if offset + size < len(found):
            body["nextToken"] = encode_token({"q": query, "o": offset + size, "s": size})
        return json_reply(body)

    def _repeat_token(self, request: Request, reply: Reply) -> Reply:
        """#4713: the third page, asked for the first time, hands back the token it was
        asked with instead of the next page's."""
        token = request.first("nextToken")
        state = decode_token(token)
        if not self.config.live.awd_inventory_token_repeats or state is None or not reply.ok:
            return reply
        if int(state["o"]) != 2 * int(state.get("s") or 1):
            return reply  # the report's token was its third page's (startFrom 50, size 25)
        with self._lock:
            if token in self._repeated:
                return reply
            self._repeated.add(str(token))
        body = _decoded(reply)
        body["nextToken"] = token
        return json_reply(body)


def _decoded(reply: Reply) -> Record:
    document: Record = json.loads(reply.body)
    return document


def _totals(summary: Record) -> Record:
    """An InventorySummary as `details=HIDE` answers it: the totals only."""
    return {k: v for k, v in summary.items() if k not in ("inventoryDetails", "expirationDetails")}


def _window(query: dict[str, Any]) -> tuple[datetime | None, datetime | None] | Reply:
    after, before = parse_instant(query["updatedAfter"]), parse_instant(query["updatedBefore"])
    if (query["updatedAfter"] is not None and after is None) or (
        query["updatedBefore"] is not None and before is None
    ):
        return invalid_input("updatedAfter and updatedBefore must be ISO 8601 date-times.")
    return after, before


def _in_window(updated: str, after: datetime | None, before: datetime | None) -> bool:
    """Inclusive at both ends, as the model says of `updatedAfter` and `updatedBefore`."""
    moment = parse_instant(updated)
    return (
        moment is not None
        and (after is None or moment >= after)
        and (before is None or moment <= before)
    )


def _max_results(request: Request, most: int) -> int | Reply:
    raw = request.first("maxResults")
    if raw is None:
        return DEFAULT_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        return invalid_input(f"maxResults must be between 1 and {most}.")
    return int(raw)
