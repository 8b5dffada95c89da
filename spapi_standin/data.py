"""The data set behind the stand-in, and the queries the operations run on it.

`builder.py` fills it (seeded, from the models' schemas); this module holds the
records, the hidden fields Amazon keeps but does not return, and the queries.

Changes between tap runs are simulated with `touch()`, which moves records forward in
time (and status) and bumps `version`, which invalidates cached response bodies.
"""

from __future__ import annotations

import bisect
import copy
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, overload

from typing_extensions import override

from spapi_standin.instances import iso

if TYPE_CHECKING:
    from collections.abc import Callable

Record = dict[str, Any]

# What a touch does to a record's status.
INBOUND_NEXT = {
    "WORKING": "SHIPPED", "SHIPPED": "IN_TRANSIT", "IN_TRANSIT": "DELIVERED",
    "DELIVERED": "CHECKED_IN", "CHECKED_IN": "RECEIVING", "RECEIVING": "CLOSED",
}  # fmt: skip
ORDER_NEXT = {"New": "Received", "Received": "Planning", "Planning": "Processing"}
FINAL_TRACKING = frozenset({"Delivered", "Lost", "Rejected", "PickupCancelled", "Undeliverable"})
# Shipping v2: summary status -> (event a touch appends, new status).
TRACKING_NEXT = {
    "PreTransit": ("PickupDone", "InTransit"),
    "InTransit": ("OutForDelivery", "OutForDelivery"),
    "OutForDelivery": ("Delivered", "Delivered"),
    "DeliveryAttempted": ("OutForDelivery", "OutForDelivery"),
    "AwaitingCustomerPickup": ("Delivered", "Delivered"),
}
# Tracking 2026-01-30: the milestones a parcel and a freight shipment pass, in order
# (shipment_tracking.py builds histories from them; a touch adds the next one).
PARCEL_MILESTONES = (
    "ORDER_PREPARING", "SHIPPED", "CARRIER_RECEIVED_SHIPMENT", "DEPARTED", "ARRIVED",
    "OUT_FOR_DELIVERY", "DELIVERED",
)  # fmt: skip
FREIGHT_MILESTONES = (
    "BOOKING_CONFIRMED", "LOADED", "DEPARTED", "ARRIVED", "CUSTOMS_CLEARED", "UNLOADED",
    "DELIVERED",
)  # fmt: skip
FREIGHT_IDENTIFIERS = frozenset({"containerNumber", "houseBillOfLadingNumber", "acsin"})
# Orders 2026-01-01: fulfillmentStatus -> the one a touch moves it to.
ORDER_2026_NEXT = {
    "PENDING": "UNSHIPPED", "UNSHIPPED": "PARTIALLY_SHIPPED", "PARTIALLY_SHIPPED": "SHIPPED",
}  # fmt: skip
# AWD InboundShipmentStatus and OutboundStatus as a touch moves them (final ones stay).
AWD_INBOUND_NEXT = {
    "CREATED": "SHIPPED", "SHIPPED": "IN_TRANSIT", "IN_TRANSIT": "DELIVERED",
    "DELIVERED": "RECEIVING", "RECEIVING": "CLOSED",
}  # fmt: skip
AWD_OUTBOUND_NEXT = {
    "DRAFT": "VALIDATING", "VALIDATING": "ELIGIBLE", "ELIGIBLE": "CONFIRMED",
    "CONFIRMED": "EXECUTING", "EXECUTING": "SUCCESS",
}  # fmt: skip
TOUCHABLE = (
    "inbound_shipments", "outbound_orders", "shipping_trackings", "inbound_plans", "orders",
    "shipment_trackings", "awd_inbound_shipments", "awd_outbound_orders",
)  # fmt: skip


@dataclass(frozen=True)
class InboundQuery:
    """The filters of one getShipments query (after NEXT_TOKEN is decoded)."""

    after: datetime | None = None
    before: datetime | None = None
    ids: frozenset[str] | None = None
    statuses: frozenset[str] | None = None


@dataclass
class Dataset:
    """Everything the stand-in serves, as plain model-shaped dicts.

    Hidden fields (Amazon keeps them, the records do not show them) live beside the
    records: `inbound_last_updated` is what getShipments' DATE_RANGE filters on.
    """

    now: datetime
    marketplace_participations: list[Record] = field(default_factory=list)
    inbound_shipments: dict[str, list[Record]] = field(default_factory=dict)
    inbound_last_updated: dict[str, datetime] = field(default_factory=dict)
    inbound_items: dict[str, list[Record]] = field(default_factory=dict)
    inbound_marketplace: dict[str, str] = field(default_factory=dict)
    outbound_orders: list[Record] = field(default_factory=list)
    outbound_details: dict[str, Record] = field(default_factory=dict)
    package_tracking: dict[int, Record] = field(default_factory=dict)
    shipping_trackings: list[Record] = field(default_factory=list)
    tracking_carriers: dict[str, str] = field(default_factory=dict)
    # Labels whose getTracking payload comes back all null (live.py, #4923).
    null_tracking_ids: set[str] = field(default_factory=set)
    carrier_accounts: list[Record] = field(default_factory=list)
    mfn_shipments: dict[str, Record] = field(default_factory=dict)
    # Orders 2026-01-01, whole (every dataset filled; spapi_standin/orders.py trims).
    orders: list[Record] = field(default_factory=list)
    # FBA inbound 2024-03-20 (spapi_standin/inbound_plans.py): whole plans, and their
    # shipments (keyed by the 2024 shipmentId), items and boxes.
    inbound_plans: list[Record] = field(default_factory=list)
    plan_shipments: dict[str, Record] = field(default_factory=dict)
    plan_of_shipment: dict[str, str] = field(default_factory=dict)
    plan_shipment_items: dict[str, list[Record]] = field(default_factory=dict)
    plan_shipment_boxes: dict[str, list[Record]] = field(default_factory=dict)
    # Cross-border plans getInboundPlan refuses (#4641), and shipments by an
    # Amazon-partnered carrier, answered without trackingDetails (#4606).
    refused_plan_ids: set[str] = field(default_factory=set)
    partnered_shipment_ids: set[str] = field(default_factory=set)
    # Tracking 2026-01-30 (spapi_standin/shipment_tracking.py): (query parameter,
    # value) -> TrackingDetail; and identifiers only a seller's own records know.
    shipment_trackings: dict[tuple[str, str], Record] = field(default_factory=dict)
    listed_tracking_identifiers: list[Record] = field(default_factory=list)
    # Amazon Warehousing and Distribution (spapi_standin/awd.py): whole inbound
    # shipments by shipmentId, whole outbound orders by orderId, a summary per SKU.
    awd_inbound_shipments: dict[str, Record] = field(default_factory=dict)
    awd_outbound_orders: dict[str, Record] = field(default_factory=dict)
    awd_inventory: list[Record] = field(default_factory=list)
    pii_sentinels: set[str] = field(default_factory=set)
    # The Reports API's rows (spapi_standin/reports.py, attached when the server starts):
    # derived from the seed on demand, never stored.
    reports: Any = field(default=None, repr=False)
    # Told of every touch under the lock (kind, what changed, when): the stand-in's
    # notifications (notifications.py) read the records as the touch left them, and what
    # they return (the sending) runs once the lock is released.
    on_touch: Callable[[str, list[Any], datetime], Callable[[], None] | None] | None = field(
        default=None, repr=False
    )
    version: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _touch_rng: random.Random = field(default_factory=random.Random, repr=False)
    _index: dict[str, Any] = field(default_factory=dict, repr=False)

    # -- copies --------------------------------------------------------------------------------

    @override
    def __getstate__(self) -> dict[str, Any]:
        """The data alone: no lock, no cached indexes, no services (the server's)."""
        state = dict(self.__dict__)
        del state["lock"]
        state["_index"] = {}
        state["reports"] = None
        state["on_touch"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.lock = threading.RLock()

    # -- convenience views ---------------------------------------------------------------------

    @property
    def mfn_shipment_ids(self) -> list[str]:
        """Ids that Merchant Fulfillment getShipment answers (with an RDT)."""
        return list(self.mfn_shipments)

    @property
    def participating_marketplace_ids(self) -> list[str]:
        """Every marketplace of getMarketplaceParticipations."""
        return [p["marketplace"]["id"] for p in self.marketplace_participations]

    def all_inbound_shipments(self) -> list[Record]:
        """Inbound shipments of every marketplace."""
        return [record for records in self.inbound_shipments.values() for record in records]

    def inbound_plans_by_shipment(self, shipment_id: str) -> Record:
        """The inbound 2024 plan a 2024 shipment belongs to."""
        plan_id = self.plan_of_shipment[shipment_id]
        return next(p for p in self.inbound_plans if p["inboundPlanId"] == plan_id)

    def tracking_labels(self) -> list[dict[str, str]]:
        """The Shipping v2 labels as the tap's `tracking_ids` setting wants them."""
        return [
            {"tracking_id": t["trackingId"], "carrier_id": self.tracking_carriers[t["trackingId"]]}
            for t in self.shipping_trackings
        ]

    # -- queries -------------------------------------------------------------------------------

    def inbound_page(
        self, marketplace_id: str, query: InboundQuery, offset: int, limit: int
    ) -> tuple[list[str], bool]:
        """Shipment ids `offset`..`offset + limit` matching `query` (oldest update first,
        ties by id), and whether more follow.

        A date range is sliced straight out of the sorted index, so a page costs the
        same at the end of a 100,000-record window as at its start (the throughput
        benchmark's floor depends on it).
        """
        with self.lock:
            ordered = self._inbound_index(marketplace_id)
            low, high = 0, len(ordered)
            if query.after is not None:
                low = bisect.bisect_left(ordered, (query.after, ""))
            if query.before is not None:
                high = bisect.bisect_right(ordered, (query.before, "\uffff"))
            if query.ids is None and query.statuses is None:
                start = low + offset
                page = [sid for _, sid in ordered[start : min(start + limit, high)]]
                return page, start + limit < high
            selected = [sid for _, sid in ordered[low:high]]
            if query.ids is not None:
                selected = [sid for sid in selected if sid in query.ids]
            if query.statuses is not None:
                records = self._inbound_by_id()
                selected = [
                    sid for sid in selected if records[sid].get("ShipmentStatus") in query.statuses
                ]
            return selected[offset : offset + limit], offset + limit < len(selected)

    def inbound_record(self, shipment_id: str) -> Record | None:
        """The InboundShipmentInfo of `shipment_id`."""
        with self.lock:
            return self._inbound_by_id().get(shipment_id)

    def outbound_since(self, start: datetime | None) -> list[Record]:
        """Fulfillment orders with statusUpdatedDate >= `start`, oldest first."""
        with self.lock:
            ordered: list[tuple[datetime, str, Record]] = self._index.get("outbound") or []
            if not ordered:
                ordered = sorted(
                    (parse_instant(o["statusUpdatedDate"]), o["sellerFulfillmentOrderId"], o)
                    for o in self.outbound_orders
                )
                self._index["outbound"] = ordered
            low = 0 if start is None else bisect.bisect_left(ordered, (start, ""))
            return [order for _, _, order in ordered[low:]]

    def tracking(self, tracking_id: str, carrier_id: str) -> Record | None:
        """The GetTrackingResult of a label, if that carrier issued that tracking id."""
        with self.lock:
            if self.tracking_carriers.get(tracking_id) != carrier_id:
                return None
            by_id = self._index.get("tracking")
            if by_id is None:
                by_id = self._index["tracking"] = {
                    t["trackingId"]: t for t in self.shipping_trackings
                }
            result: Record | None = by_id.get(tracking_id)
            return result

    # -- changes between runs ------------------------------------------------------------------

    @overload  # a literal kind narrows str (as typeshed's open() modes do)
    def touch(  # type: ignore[overload-overlap]
        self, kind: Literal["shipment_trackings"], count: int, at: datetime | None = None
    ) -> list[tuple[str, str]]: ...

    @overload
    def touch(self, kind: str, count: int, at: datetime | None = None) -> list[str]: ...

    def touch(self, kind: str, count: int, at: datetime | None = None) -> list[Any]:
        """Make `count` records of `kind` look changed at `at`; return their ids.

        inbound_shipments: the hidden last-update time moves to `at` and the status
        advances. outbound_orders: `statusUpdatedDate` = `at`, status advances while not
        final. shipping_trackings: a new event at `at` (only open trackings, so fewer
        ids than `count` may come back). inbound_plans: `lastUpdatedAt` = `at` (their
        shipments unchanged). orders (2026-01-01): `lastUpdatedTime` = `at` and
        `fulfillmentStatus` advances (only orders whose status can move). shipment_trackings
        (2026-01-30): the next milestone at `at` becomes the latest and heads the history
        (only identifiers not delivered yet); returns `(identifierType, identifierValue)`
        pairs, the identifier's key in `trackingDetail.identifier` and its value (a
        carrier's tracking number for `carrierTracking`). awd_inbound_shipments:
        `updatedAt` = `at`, status one step on, every SKU received in full.
        awd_outbound_orders: `updatedAt` = `at`, status one step on.

        Amazon's notifications of the change (notifications.py) are sent before this
        returns.
        """
        if kind not in TOUCHABLE:
            raise ValueError(f"kind must be one of {', '.join(TOUCHABLE)}, not {kind!r}")
        at = utc(at or datetime.now(UTC)).replace(microsecond=0)
        with self.lock:
            touched = list(getattr(self, f"_touch_{kind}")(count, at))
            self.version += 1
            self._index.clear()
            then = self.on_touch(kind, touched, at) if self.on_touch is not None else None
        if then is not None:
            then()
        return touched

    def _touch_inbound_shipments(self, count: int, at: datetime) -> list[str]:
        records = self.all_inbound_shipments()
        chosen = self._touch_rng.sample(records, min(count, len(records)))
        for record in chosen:
            self.inbound_last_updated[record["ShipmentId"]] = at
            status = record.get("ShipmentStatus")
            if status in INBOUND_NEXT:
                record["ShipmentStatus"] = INBOUND_NEXT[status]
        return [record["ShipmentId"] for record in chosen]

    def _touch_outbound_orders(self, count: int, at: datetime) -> list[str]:
        open_orders = [o for o in self.outbound_orders if o["fulfillmentOrderStatus"] in ORDER_NEXT]
        closed = [o for o in self.outbound_orders if o["fulfillmentOrderStatus"] not in ORDER_NEXT]
        self._touch_rng.shuffle(open_orders)
        self._touch_rng.shuffle(closed)
        chosen = (open_orders + closed)[:count]  # open orders first: their status can move
        for order in chosen:
            order["statusUpdatedDate"] = iso(at)
            status = order["fulfillmentOrderStatus"]
            order["fulfillmentOrderStatus"] = ORDER_NEXT.get(status, status)
        return [order["sellerFulfillmentOrderId"] for order in chosen]

    def _touch_inbound_plans(self, count: int, at: datetime) -> list[str]:
        chosen = self._touch_rng.sample(self.inbound_plans, min(count, len(self.inbound_plans)))
        for plan in chosen:
            plan["lastUpdatedAt"] = iso(at)
        return [plan["inboundPlanId"] for plan in chosen]

    def _touch_shipping_trackings(self, count: int, at: datetime) -> list[str]:
        open_ones = [
            t
            for t in self.shipping_trackings
            if t["summary"].get("status") in TRACKING_NEXT
            and t["trackingId"] not in self.null_tracking_ids  # they never show the change
        ]
        chosen = self._touch_rng.sample(open_ones, min(count, len(open_ones)))
        for tracking in chosen:
            code, status = TRACKING_NEXT[tracking["summary"]["status"]]
            last = parse_instant(tracking["eventHistory"][-1]["eventTime"])
            event = dict(tracking["eventHistory"][-1], eventCode=code)
            event["eventTime"] = iso(max(at, last + timedelta(seconds=1)))
            tracking["eventHistory"].append(event)
            tracking["summary"]["status"] = status
        return [tracking["trackingId"] for tracking in chosen]

    def _touch_orders(self, count: int, at: datetime) -> list[str]:
        # A merchant's unshipped order stays: shipping it would need the packages the
        # builder gives every shipped merchant order, which a touch does not make.
        movable = [
            order
            for order in self.orders
            if order["fulfillment"].get("fulfillmentStatus") in ORDER_2026_NEXT
            and not (
                order["fulfillment"].get("fulfilledBy") == "MERCHANT" and "packages" not in order
            )
        ]
        chosen = self._touch_rng.sample(movable, min(count, len(movable)))
        for order in chosen:
            fulfillment = order["fulfillment"]
            fulfillment["fulfillmentStatus"] = ORDER_2026_NEXT[fulfillment["fulfillmentStatus"]]
            order["lastUpdatedTime"] = iso(at)
        return [order["orderId"] for order in chosen]

    def _touch_shipment_trackings(self, count: int, at: datetime) -> list[tuple[str, str]]:
        moving = [d for d in self.shipment_trackings.values() if next_milestone(d) is not None]
        chosen = self._touch_rng.sample(moving, min(count, len(moving)))
        for detail in chosen:
            code = next_milestone(detail)
            latest = detail["latestMilestone"]
            moment = max(at, parse_instant(latest["occurredAt"]) + timedelta(seconds=1))
            milestone: Record = {
                "status": {"code": code, "description": str(code).replace("_", " ").capitalize()},
                "occurredAt": iso(moment),
            }
            if "location" in latest:  # a parcel's next scan, where the last one was
                milestone["location"] = copy.deepcopy(latest["location"])
            detail["milestoneHistory"].insert(0, milestone)  # "from most recent to oldest"
            detail["latestMilestone"] = copy.deepcopy(milestone)
        return [tracking_identifier(detail) for detail in chosen]

    def _touch_awd_inbound_shipments(self, count: int, at: datetime) -> list[str]:
        chosen = self._touch_rng.sample(
            sorted(self.awd_inbound_shipments), min(count, len(self.awd_inbound_shipments))
        )
        for shipment_id in chosen:
            shipment = self.awd_inbound_shipments[shipment_id]
            shipment["updatedAt"] = iso(at)
            status = shipment["shipmentStatus"]
            shipment["shipmentStatus"] = AWD_INBOUND_NEXT.get(status, status)
            for quantity in shipment.get("shipmentSkuQuantities") or []:
                quantity["receivedQuantity"] = dict(quantity["expectedQuantity"])
        return chosen

    def _touch_awd_outbound_orders(self, count: int, at: datetime) -> list[str]:
        chosen = self._touch_rng.sample(
            sorted(self.awd_outbound_orders), min(count, len(self.awd_outbound_orders))
        )
        for order_id in chosen:
            order = self.awd_outbound_orders[order_id]
            order["updatedAt"] = iso(at)
            order["orderStatus"] = AWD_OUTBOUND_NEXT.get(order["orderStatus"], order["orderStatus"])
        return chosen

    # -- indexes -------------------------------------------------------------------------------

    def _inbound_index(self, marketplace_id: str) -> list[tuple[datetime, str]]:
        key = f"inbound:{marketplace_id}"
        ordered: list[tuple[datetime, str]] | None = self._index.get(key)
        if ordered is None:
            ordered = sorted(
                (self.inbound_last_updated[r["ShipmentId"]], r["ShipmentId"])
                for r in self.inbound_shipments.get(marketplace_id, [])
            )
            self._index[key] = ordered
        return ordered

    def _inbound_by_id(self) -> dict[str, Record]:
        by_id: dict[str, Record] | None = self._index.get("inbound_by_id")
        if by_id is None:
            by_id = {r["ShipmentId"]: r for r in self.all_inbound_shipments()}
            self._index["inbound_by_id"] = by_id
        return by_id


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_instant(value: str) -> datetime:
    """An RFC 3339 string as an aware UTC datetime."""
    return utc(datetime.fromisoformat(value))


def tracking_identifier(detail: Record) -> tuple[str, str]:
    """(identifierType, identifierValue) of a TrackingDetail: its identifier's key and value
    (a carrier's tracking number for `carrierTracking`)."""
    ((kind, value),) = detail["identifier"].items()
    return kind, value["trackingNumber"] if kind == "carrierTracking" else value


def next_milestone(detail: Record) -> str | None:
    """The milestone code a TrackingDetail reaches next (None once delivered)."""
    kind, _ = tracking_identifier(detail)
    codes = FREIGHT_MILESTONES if kind in FREIGHT_IDENTIFIERS else PARCEL_MILESTONES
    code = detail["latestMilestone"]["status"]["code"]
    position = codes.index(code) if code in codes else len(codes) - 1
    return codes[position + 1] if position + 1 < len(codes) else None
