"""Building the data set: schema instances with coherent ids, times and references.

Every record kind has its own generator seeded from (seed, kind), so a change to one
kind never reshuffles another. Counts come from the config times the `size`
multiplier; timestamps fall in the `history_days` before `now`.
"""

from __future__ import annotations

import pickle
import random
import string
import threading
import uuid
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from spapi_standin import awd, inbound_plans, paths, shipment_tracking
from spapi_standin.data import (
    FINAL_TRACKING,
    Dataset,
    Record,
    parse_instant,
    utc,
)
from spapi_standin.instances import InstanceGenerator, iso
from spapi_standin.live import null_tracking_ids
from spapi_standin.marketplaces import marketplace
from spapi_standin.schemas import ResponseSchemas, load_schemas, schemas_path

if TYPE_CHECKING:
    from spapi_standin.config import StandInConfig

FULFILLMENT_CENTERS = ("ABE2", "PHX6", "ONT8", "BFI4", "MDW2", "YYZ4", "TPA1", "SMF3")
INBOUND_STATUSES = {
    "WORKING": 2, "SHIPPED": 3, "IN_TRANSIT": 3, "DELIVERED": 2, "CHECKED_IN": 2,
    "RECEIVING": 3, "CLOSED": 6, "CANCELLED": 1, "DELETED": 1, "ERROR": 1,
}  # fmt: skip
ORDER_STATUSES = {
    "New": 1, "Received": 2, "Planning": 2, "Processing": 3, "Complete": 8,
    "CompletePartialled": 1, "Cancelled": 1, "Unfulfillable": 1, "Invalid": 1,
}  # fmt: skip
SHIPPED_ORDER_STATUSES = frozenset({"Processing", "Complete", "CompletePartialled"})
# Shipping v2 event histories per summary status.
TRACKING_EVENTS = {
    "PreTransit": ("ReadyForReceive",),
    "InTransit": ("ReadyForReceive", "PickupDone", "ArrivedAtCarrierFacility", "Departed"),
    "OutForDelivery": ("ReadyForReceive", "PickupDone", "Departed", "OutForDelivery"),
    "DeliveryAttempted": ("ReadyForReceive", "PickupDone", "OutForDelivery", "DeliveryAttempted"),
    "AwaitingCustomerPickup": ("ReadyForReceive", "PickupDone", "Departed", "AvailableForPickup"),
    "Delivered": ("ReadyForReceive", "PickupDone", "ArrivedAtCarrierFacility", "Departed",
                  "OutForDelivery", "Delivered"),
    "Lost": ("ReadyForReceive", "PickupDone", "Departed", "Lost"),
    "Rejected": ("ReadyForReceive", "PickupDone", "OutForDelivery", "Rejected"),
    "PickupCancelled": ("ReadyForReceive", "PickupCancelled"),
    "Undeliverable": ("ReadyForReceive", "PickupDone", "OutForDelivery", "DeliveryAttempted",
                      "Undeliverable"),
}  # fmt: skip
# FBA outbound package events (TrackingEvent.eventCode) for a delivered package.
PACKAGE_EVENTS = (
    ("EVENT_101", "Carrier notified to pick up package."),
    ("EVENT_102", "Shipment picked up from seller's facility."),
    ("EVENT_201", "Arrival scan."),
    ("EVENT_202", "Departure scan."),
    ("EVENT_302", "Out for delivery."),
    ("EVENT_301", "Delivered."),
)


# Data sets built in this process, pickled, by `StandInConfig.data_key()`: building a
# small one takes about a second and a medium one ten, copying it from here a tenth of
# that. A test session starts dozens of stand-ins over a handful of seeds and sizes.
_BUILT: OrderedDict[tuple[object, ...], bytes] = OrderedDict()
_BUILT_MOST = 24
_BUILT_LARGEST = 64 * 1024 * 1024  # bytes pickled; larger data sets are built each time


def build_dataset(config: StandInConfig) -> Dataset:
    """The data set for `config` (deterministic for a given seed and `now`).

    Each call returns a data set of its own (a stand-in's `touch` changes it), copied
    from the first one this process built for the same data settings. With `now`
    unset, that first build's time is the data's `now` for the rest of the process.
    """
    key = config.data_key()
    with _BUILT_LOCK:
        pickled = _BUILT.get(key)
        if pickled is not None:
            _BUILT.move_to_end(key)
    if pickled is not None:
        copy: Dataset = pickle.loads(pickled)
        return copy
    dataset = _build(config)
    pickled = pickle.dumps(dataset, protocol=pickle.HIGHEST_PROTOCOL)
    if len(pickled) <= _BUILT_LARGEST:
        with _BUILT_LOCK:
            _BUILT[key] = pickled
            while len(_BUILT) > _BUILT_MOST:
                _BUILT.popitem(last=False)
    return dataset


_BUILT_LOCK = threading.Lock()


def _build(config: StandInConfig) -> Dataset:
    now = utc(config.now or datetime.now(UTC)).replace(microsecond=0)
    schemas = load_schemas(schemas_path(config.response_schemas_path))
    dataset = Dataset(now=now, _touch_rng=random.Random(f"{config.seed}:touch"))
    builder = _Builder(config, schemas, dataset)
    builder.build()
    return dataset


class _Builder:
    """Fills a Dataset, one record kind at a time, each from its own seeded generator."""

    def __init__(self, config: StandInConfig, schemas: ResponseSchemas, dataset: Dataset) -> None:
        self.config = config
        self.schemas = schemas
        self.data = dataset
        self.start = dataset.now - timedelta(days=config.history_days)
        self._used: set[str] = set()

    def generator(self, kind: str) -> InstanceGenerator:
        """A generator seeded for `kind`, so adding one kind never reshuffles another."""
        return InstanceGenerator(
            random.Random(f"{self.config.seed}:{kind}"),
            start=self.start,
            end=self.data.now,
            sentinels=self.data.pii_sentinels,
        )

    def unique(
        self, gen: InstanceGenerator, prefix: str, length: int, alphabet: str | None = None
    ) -> str:
        """An id never handed out before in this data set."""
        while True:
            value = gen.code(prefix, length, alphabet or string.ascii_uppercase + string.digits)
            if value not in self._used:
                self._used.add(value)
                return value

    def build(self) -> None:
        """Every record kind, in dependency order."""
        self.participations()
        self.inbound()
        self.outbound()
        self.carrier_accounts()
        self.shipping_trackings()
        self.mfn_shipments()
        self.orders()
        inbound_plans.build(self)
        shipment_tracking.build(self)
        awd.build(self)

    # -- Sellers -------------------------------------------------------------------------------

    def participations(self) -> None:
        gen = self.generator("participations")
        schema = self.schemas.item(*paths.PARTICIPATIONS, "payload", "[]")
        for marketplace_id in self.config.marketplaces:
            record = gen.instance(schema)
            record["marketplace"] = marketplace(marketplace_id).as_model()
            record["participation"] = {"isParticipating": True, "hasSuspendedListings": False}
            record["storeName"] = "Stand-in Outfitters"
            self.data.marketplace_participations.append(record)

    # -- FBA inbound ---------------------------------------------------------------------------

    def inbound(self) -> None:
        gen = self.generator("inbound")
        shipment_schema = self.schemas.item(
            *paths.INBOUND_SHIPMENTS, "payload", "ShipmentData", "[]"
        )
        item_schema = self.schemas.item(*paths.INBOUND_ITEMS, "payload", "ItemData", "[]")
        count = self.config.scaled(self.config.inbound_shipments_per_marketplace)
        for marketplace_id in self.config.inbound_marketplaces:
            records = self.data.inbound_shipments.setdefault(marketplace_id, [])
            for _ in range(count):
                record = self.inbound_shipment(gen, shipment_schema, marketplace_id)
                records.append(record)
                shipment_id = record["ShipmentId"]
                self.data.inbound_marketplace[shipment_id] = marketplace_id
                self.data.inbound_items[shipment_id] = self.inbound_items(
                    gen, item_schema, shipment_id
                )

    def inbound_shipment(
        self, gen: InstanceGenerator, schema: Record, marketplace_id: str
    ) -> Record:
        record: Record = gen.instance(schema)
        shipment_id = self.unique(gen, "FBA", 9)
        updated = gen.moment()
        created = gen.moment(updated - timedelta(days=20), updated)
        record["ShipmentId"] = shipment_id
        record["ShipmentName"] = f"FBA STA ({created:%m/%d/%Y %H:%M})-{gen.code('', 4)}"
        record["DestinationFulfillmentCenterId"] = gen.rng.choice(FULFILLMENT_CENTERS)
        record["ShipmentStatus"] = _weighted(gen.rng, INBOUND_STATUSES)
        record["ShipFromAddress"]["CountryCode"] = marketplace(marketplace_id).country_code
        if "ConfirmedNeedByDate" in record:
            record["ConfirmedNeedByDate"] = (
                (updated + timedelta(days=gen.rng.randint(3, 30))).date().isoformat()
            )
        self.data.inbound_last_updated[shipment_id] = updated
        return record

    def inbound_items(
        self, gen: InstanceGenerator, schema: Record, shipment_id: str
    ) -> list[Record]:
        items = []
        skus: set[str] = set()
        for _ in range(gen.rng.randint(1, 5)):
            item: Record = gen.instance(schema)
            sku = gen.code("SKU-", 6)
            while sku in skus:
                sku = gen.code("SKU-", 6)
            skus.add(sku)
            shipped = gen.rng.randint(1, 200)
            item.update(ShipmentId=shipment_id, SellerSKU=sku, QuantityShipped=shipped)
            item["FulfillmentNetworkSKU"] = gen.code("X00", 7)
            if "QuantityReceived" in item:
                item["QuantityReceived"] = gen.rng.randint(0, shipped)
            if "QuantityInCase" in item:
                item["QuantityInCase"] = gen.rng.choice((0, 6, 12, 24))
            items.append(item)
        return items

    # -- FBA outbound --------------------------------------------------------------------------

    def outbound(self) -> None:
        gen = self.generator("outbound")
        order_schema = self.schemas.item(
            *paths.OUTBOUND_ORDERS, "payload", "fulfillmentOrders", "[]"
        )
        detail_schema = self.schemas.payload(*paths.OUTBOUND_ORDER)
        tracking_schema = self.schemas.payload(*paths.PACKAGE_TRACKING)
        packages = _Counter(gen.rng.randint(100_000, 900_000))
        for index in range(self.config.scaled(self.config.outbound_orders)):
            order = self.outbound_order(gen, order_schema, index)
            detail = _OrderDetail(self, gen, detail_schema, tracking_schema, packages).build(order)
            self.data.outbound_orders.append(order)
            self.data.outbound_details[order["sellerFulfillmentOrderId"]] = detail

    def outbound_order(self, gen: InstanceGenerator, schema: Record, index: int) -> Record:
        order: Record = gen.instance(schema, "fulfillmentOrder")
        order_id = f"MCF-{index + 1:06d}-{self.unique(gen, '', 6)}"
        marketplace_id = gen.rng.choice(
            self.config.inbound_marketplaces or self.config.marketplaces
        )
        ordered = gen.moment(self.start, self.data.now - timedelta(hours=2))
        received = ordered + timedelta(minutes=gen.rng.randint(1, 90))
        updated = gen.moment(received, min(received + timedelta(days=6), self.data.now))
        order.update(
            sellerFulfillmentOrderId=order_id,
            marketplaceId=marketplace_id,
            displayableOrderId=order_id,
            displayableOrderDate=iso(ordered),
            receivedDate=iso(received),
            statusUpdatedDate=iso(updated),
            fulfillmentOrderStatus=_weighted(gen.rng, ORDER_STATUSES),
            shippingSpeedCategory=gen.rng.choice(("Standard", "Standard", "Expedited", "Priority")),
        )
        order.pop("deliveryWindow", None)  # ScheduledDelivery (JP only) orders have one
        if "fulfillmentAction" in order:
            order["fulfillmentAction"] = "Ship"
        order["destinationAddress"]["countryCode"] = marketplace(marketplace_id).country_code
        return order

    # -- Amazon Shipping v2 --------------------------------------------------------------------

    def carrier_accounts(self) -> None:
        gen = self.generator("carrier_accounts")
        schema = self.schemas.item(*paths.CARRIER_ACCOUNTS, "activeAccounts", "[]")
        carriers = ("AMZN_US", "UPS", "USPS", "FEDEX", "DHL", "ONTRAC")
        for index in range(self.config.carrier_accounts):
            account: Record = gen.instance(schema)
            account["carrierId"] = carriers[index % len(carriers)]
            account["accountId"] = self.unique(gen, "", 10)
            self.data.carrier_accounts.append(account)

    def shipping_trackings(self) -> None:
        gen = self.generator("shipping_trackings")
        schema = self.schemas.payload(*paths.SHIPPING_TRACKING)
        event_schema = self.schemas.item(*paths.SHIPPING_TRACKING, "payload", "eventHistory", "[]")
        carriers = [a["carrierId"] for a in self.data.carrier_accounts] or ["AMZN_US"]
        statuses = list(TRACKING_EVENTS)
        for index in range(self.config.scaled(self.config.shipping_trackings)):
            # Alternate final and open statuses so both kinds are always present.
            final = index % 2 == 0
            status = gen.rng.choice([s for s in statuses if (s in FINAL_TRACKING) == final])
            carrier = gen.rng.choice(carriers)
            tracking = self.tracking(gen, schema, event_schema, status)
            self.data.shipping_trackings.append(tracking)
            self.data.tracking_carriers[tracking["trackingId"]] = carrier
        live = self.config.live
        if live.null_tracking_payloads:
            self.data.null_tracking_ids = null_tracking_ids(
                self.config.seed, self.data.tracking_carriers, live.null_tracking_share
            )

    def tracking(
        self, gen: InstanceGenerator, schema: Record, event_schema: Record, status: str
    ) -> Record:
        tracking: Record = gen.instance(schema)
        codes = TRACKING_EVENTS[status]
        moment = gen.moment(self.start, self.data.now - timedelta(days=len(codes)))
        events = []
        for code in codes:
            event: Record = gen.instance(event_schema)
            event.update(eventCode=code, eventTime=iso(moment))
            event["shipmentType"] = "FORWARD"
            events.append(event)
            moment += timedelta(minutes=gen.rng.randint(60, 1200))
        tracking["trackingId"] = self.unique(gen, "TBA", 12, string.digits)
        tracking["alternateLegTrackingId"] = ""
        tracking["eventHistory"] = events
        tracking["promisedDeliveryDate"] = iso(
            parse_instant(events[0]["eventTime"]) + timedelta(days=4)
        )
        tracking["summary"]["status"] = status
        return tracking

    # -- Merchant Fulfillment (restricted) -----------------------------------------------------

    def mfn_shipments(self) -> None:
        gen = self.generator("mfn_shipments")
        schema = self.schemas.payload(*paths.MFN_SHIPMENT)
        for _ in range(self.config.mfn_shipments):
            shipment: Record = gen.instance(schema)
            shipment_id = str(uuid.UUID(int=gen.rng.getrandbits(128), version=4))
            created = gen.moment()
            digits = [gen.code("", n, string.digits) for n in (3, 7, 7)]
            shipment.update(
                ShipmentId=shipment_id,
                AmazonOrderId="-".join(digits),
                Status="Purchased",
                TrackingId=self.unique(gen, "1Z", 16),
                CreatedDate=iso(created),
                LastUpdatedDate=iso(created + timedelta(minutes=5)),
            )
            shipment["ShippingService"]["ShipDate"] = iso(created + timedelta(hours=4))
            self.data.mfn_shipments[shipment_id] = shipment

    # -- Orders 2026-01-01 ---------------------------------------------------------------------

    def orders(self) -> None:
        gen = self.generator("orders_2026")
        schema = self.schemas.item(*paths.SEARCH_ORDERS, "orders", "[]")
        for _ in range(self.config.scaled(self.config.orders)):
            self.data.orders.append(self.order(gen, schema))

    def order(self, gen: InstanceGenerator, schema: Record) -> Record:
        """A whole Order: every dataset filled, buyer and recipient as PII sentinels,
        packages (with tracking) only when the merchant fulfils it and has shipped."""
        props = schema["properties"]
        order: Record = gen.instance(schema)
        digits = [gen.code("", n, string.digits) for n in (3, 7, 7)]
        # Whole seconds and settled: searchOrders never sees the last two minutes.
        created = gen.moment(self.start, self.data.now - timedelta(hours=1))
        updated = gen.moment(created, self.data.now - timedelta(minutes=5))
        merchant = gen.rng.random() < self.config.orders_merchant_share
        status = gen.rng.choice(("UNSHIPPED", "SHIPPED", "SHIPPED", "PARTIALLY_SHIPPED"))
        marketplace_id = gen.rng.choice(
            self.config.inbound_marketplaces or self.config.marketplaces
        )
        order.update(
            orderId="-".join(digits),
            createdTime=iso(created),
            lastUpdatedTime=iso(updated),
            buyer=gen.instance(props["buyer"], "buyerInfo"),
            recipient=gen.instance(props["recipient"], "buyerInfo"),
        )
        order["salesChannel"]["marketplaceId"] = marketplace_id
        order["fulfillment"] = {
            **gen.instance(props["fulfillment"]),
            "fulfilledBy": "MERCHANT" if merchant else "AMAZON",
            "fulfillmentStatus": status,
        }
        item_schema = props["orderItems"]["items"]
        order["orderItems"] = [
            {**gen.instance(item_schema), "orderItemId": self.unique(gen, "", 14, string.digits)}
            for _ in range(gen.rng.randint(1, 3))
        ]
        order.pop("packages", None)
        if merchant and status != "UNSHIPPED":
            order["packages"] = self.order_packages(gen, props["packages"]["items"], order)
        return order

    def order_packages(self, gen: InstanceGenerator, schema: Record, order: Record) -> list[Record]:
        packages = []
        shipped = parse_instant(order["createdTime"]) + timedelta(hours=gen.rng.randint(1, 30))
        for number, item in enumerate(order["orderItems"], start=1):
            package: Record = gen.instance(schema, "shipFromAddress")
            package.update(
                packageReferenceId=f"PKG-{number}",  # unique within its order (the model)
                carrier=gen.rng.choice(("UPS", "USPS", "FedEx", "DHL")),
                trackingNumber=self.unique(gen, "1Z", 16),
                shipTime=iso(shipped),
                createdTime=iso(shipped - timedelta(hours=1)),
                packageItems=[{"orderItemId": item["orderItemId"], "quantity": 1}],
            )
            package["packageStatus"] = {
                "status": gen.rng.choice(("SHIPPED", "IN_TRANSIT", "DELIVERED")),
                "detailedStatus": gen.rng.choice(("PICKED_UP", "OUT_FOR_DELIVERY", "DELIVERED")),
            }
            packages.append(package)
        return packages


class _OrderDetail:
    """The getFulfillmentOrder payload of one order and the tracking of its packages."""

    def __init__(
        self,
        builder: _Builder,
        gen: InstanceGenerator,
        schema: Record,
        tracking_schema: Record,
        packages: _Counter,
    ) -> None:
        self.builder = builder
        self.gen = gen
        self.schema = schema
        self.tracking_schema = tracking_schema
        self.packages = packages

    def build(self, order: Record) -> Record:
        gen = self.gen
        detail: Record = gen.instance(self.schema)
        detail["fulfillmentOrder"] = order
        items = self.items(order)
        detail["fulfillmentOrderItems"] = items
        shipments = []
        if order["fulfillmentOrderStatus"] in SHIPPED_ORDER_STATUSES:
            shipments = [self.shipment(order, items) for _ in range(gen.rng.randint(1, 2))]
        detail["fulfillmentShipments"] = shipments
        detail["returnItems"], detail["returnAuthorizations"] = self.returns(
            order, items, shipments
        )
        for payment in detail.get("paymentInformation") or []:
            payment["paymentDate"] = order["receivedDate"]
        return detail

    def items(self, order: Record) -> list[Record]:
        schema = self.schema["properties"]["fulfillmentOrderItems"]["items"]
        items = []
        for number in range(1, self.gen.rng.randint(1, 3) + 1):
            item: Record = self.gen.instance(schema)
            item.update(
                sellerSku=f"MCF-SKU-{number}-{self.gen.code('', 5)}",
                sellerFulfillmentOrderItemId=f"{order['sellerFulfillmentOrderId']}-{number}",
                quantity=self.gen.rng.randint(1, 5),
                cancelledQuantity=0,
                unfulfillableQuantity=0,
            )
            received = parse_instant(order["receivedDate"])
            if "estimatedShipDate" in item:
                item["estimatedShipDate"] = iso(received + timedelta(hours=20))
            if "estimatedArrivalDate" in item:
                item["estimatedArrivalDate"] = iso(received + timedelta(days=3))
            items.append(item)
        return items

    def shipment(self, order: Record, items: list[Record]) -> Record:
        gen = self.gen
        schema = self.schema["properties"]["fulfillmentShipments"]["items"]
        shipment: Record = gen.instance(schema)
        shipped = gen.moment(
            parse_instant(order["receivedDate"]), parse_instant(order["statusUpdatedDate"])
        )
        arrival = shipped + timedelta(days=gen.rng.randint(1, 5))
        status = "SHIPPED" if order["fulfillmentOrderStatus"] != "Processing" else "PENDING"
        shipment.update(
            amazonShipmentId=self.builder.unique(gen, "T", 9),
            fulfillmentCenterId=gen.rng.choice(FULFILLMENT_CENTERS),
            fulfillmentShipmentStatus=status,
            shippingDate=iso(shipped),
            estimatedArrivalDate=iso(arrival),
        )
        packages = [
            self.package(gen, schema, shipped, arrival, order) for _ in range(gen.rng.randint(1, 2))
        ]
        shipment["fulfillmentShipmentPackage"] = packages
        shipment["fulfillmentShipmentItem"] = [
            {
                "sellerSku": item["sellerSku"],
                "sellerFulfillmentOrderItemId": item["sellerFulfillmentOrderItemId"],
                "quantity": item["quantity"],
                "packageNumber": packages[index % len(packages)]["packageNumber"],
            }
            for index, item in enumerate(items)
        ]
        return shipment

    def package(
        self,
        gen: InstanceGenerator,
        shipment_schema: Record,
        shipped: datetime,
        arrival: datetime,
        order: Record,
    ) -> Record:
        schema = shipment_schema["properties"]["fulfillmentShipmentPackage"]["items"]
        package: Record = gen.instance(schema)
        carrier = gen.rng.choice(("UPS", "USPS", "AMZN_US", "FEDEX"))
        package.update(
            packageNumber=self.packages.next(),
            carrierCode=carrier,
            trackingNumber=self.builder.unique(
                gen, "1Z" if carrier == "UPS" else "TBA", 14, string.digits
            ),
            # The Tracking API's `aftn` pattern (^AFTN\\d+$): the number it is asked by.
            amazonFulfillmentTrackingNumber=self.builder.unique(gen, "AFTN", 12, string.digits),
            estimatedArrivalDate=iso(arrival),
        )
        package.pop("lockerDetails", None)
        delivered = (
            order["fulfillmentOrderStatus"] != "Processing" and arrival <= self.builder.data.now
        )
        self.builder.data.package_tracking[package["packageNumber"]] = self.tracking(
            package, shipped, arrival, delivered
        )
        return package

    def tracking(
        self, package: Record, shipped: datetime, arrival: datetime, delivered: bool
    ) -> Record:
        gen = self.gen
        tracking: Record = gen.instance(self.tracking_schema)
        events = PACKAGE_EVENTS if delivered else PACKAGE_EVENTS[:4]
        event_schema = self.tracking_schema["properties"]["trackingEvents"]["items"]
        step = (arrival - shipped) / len(PACKAGE_EVENTS)
        tracking_events = []
        for index, (code, description) in enumerate(events):
            event: Record = gen.instance(event_schema)
            event.update(
                eventDate=iso(shipped + step * index), eventCode=code, eventDescription=description
            )
            tracking_events.append(event)
        tracking.update(
            packageNumber=package["packageNumber"],
            trackingNumber=package["trackingNumber"],
            carrierCode=package["carrierCode"],
            shipDate=iso(shipped),
            estimatedArrivalDate=iso(arrival),
            currentStatus="DELIVERED" if delivered else "IN_TRANSIT",
            currentStatusDescription=events[-1][1],
            trackingEvents=tracking_events,
            deliveryWindow={"earliest": iso(arrival - timedelta(hours=8)), "latest": iso(arrival)},
        )
        if delivered:
            tracking["signedForBy"] = gen.sentinel("signedForBy")
        else:
            tracking.pop("signedForBy", None)
        return tracking

    def returns(
        self, order: Record, items: list[Record], shipments: list[Record]
    ) -> tuple[list[Record], list[Record]]:
        """Returns for one order in ten of the completed ones; none otherwise."""
        gen = self.gen
        if (
            order["fulfillmentOrderStatus"] != "Complete"
            or not shipments
            or gen.rng.random() >= 0.1
        ):
            return [], []
        props = self.schema["properties"]
        authorization: Record = gen.instance(props["returnAuthorizations"]["items"])
        item: Record = gen.instance(props["returnItems"]["items"])
        authorization_id = self.builder.unique(gen, "RA", 10)
        authorization.update(
            returnAuthorizationId=authorization_id,
            fulfillmentCenterId=shipments[0]["fulfillmentCenterId"],
        )
        item.update(
            sellerReturnItemId=self.builder.unique(gen, "RET", 8),
            sellerFulfillmentOrderItemId=items[0]["sellerFulfillmentOrderItemId"],
            amazonShipmentId=shipments[0]["amazonShipmentId"],
            statusChangedDate=order["statusUpdatedDate"],
            returnAuthorizationId=authorization_id,
        )
        return [item], [authorization]


class _Counter:
    """Consecutive integers (package numbers are unique across the data set)."""

    def __init__(self, start: int) -> None:
        self.value = start

    def next(self) -> int:
        self.value += 1
        return self.value


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]
