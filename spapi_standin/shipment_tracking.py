"""Tracking 2026-01-30: getShipmentTracking over the parcels and freight of the data set.

The identifiers are the ones the rest of the data set hands out: every MCF package's
`amazonFulfillmentTrackingNumber` (as `aftn`), every carrier tracking number of an
inbound 2024 small-parcel box (as `carrierTracking.trackingNumber`, its carrier code
kept beside it), and a few identifiers only a seller knows from elsewhere (a container
number, a house bill of lading, an ACSIN, a carrier number and code), listed by
`Dataset.listed_tracking_identifiers` for tests to configure.

A request names exactly one identifier (the carrier pair counts as one; its
`carrierCode` is optional, the model requiring only the number); `aftn` must match the
model's `^AFTN\\d+$`. `milestoneHistory` runs from the most recent milestone to the
oldest, as the model describes it. A touch of `shipment_trackings` (data.py) adds the next
milestone of identifiers not delivered yet, and the SHIPMENT_TRACKING_MILESTONE_CHANGED
notification carries the same `trackingDetail` (notifications.py).
"""

from __future__ import annotations

import copy
import re
import string
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from spapi_standin import paths
from spapi_standin.data import FREIGHT_MILESTONES, PARCEL_MILESTONES, parse_instant
from spapi_standin.instances import iso
from spapi_standin.replies import Reply, error, invalid_input, json_reply

if TYPE_CHECKING:
    from spapi_standin.data import Dataset, Record
    from spapi_standin.instances import InstanceGenerator

SINGLE_IDENTIFIERS = ("id", "acsin", "aftn", "containerNumber", "houseBillOfLadingNumber")
CARRIER_NUMBER = "carrierTracking.trackingNumber"
CARRIER_CODE = "carrierTracking.carrierCode"
AFTN = re.compile(r"^AFTN\d+$")
IN_TRANSIT_STEPS = 4  # milestones of a parcel or container not yet delivered
DELIVERED_INBOUND = frozenset({"DELIVERED", "CHECKED_IN", "RECEIVING", "CLOSED"})
CITIES = (("Seattle", "Washington", "US"), ("Phoenix", "Arizona", "US"),
          ("Ontario", "California", "US"), ("Allentown", "Pennsylvania", "US"))  # fmt: skip


def build(builder: Any) -> None:
    """A TrackingDetail for every identifier the data set hands out."""
    data: Dataset = builder.data
    gen: InstanceGenerator = builder.generator("shipment_tracking")
    schema = builder.schemas.item(*paths.SHIPMENT_TRACKING, "trackingDetail")
    for detail in data.outbound_details.values():
        for shipment in detail.get("fulfillmentShipments") or []:
            for package in shipment.get("fulfillmentShipmentPackage") or []:
                events = data.package_tracking[package["packageNumber"]]
                delivered = events.get("currentStatus") == "DELIVERED"
                shipped = parse_instant(events["shipDate"])
                identifier = {"aftn": package["amazonFulfillmentTrackingNumber"]}
                _add(data, gen, schema, identifier, PARCEL_MILESTONES, shipped, delivered)
    for shipment_id, shipment in data.plan_shipments.items():
        spd = (shipment.get("trackingDetails") or {}).get("spdTrackingDetail") or {}
        delivered = shipment["status"] in DELIVERED_INBOUND
        shipped = parse_instant(data.inbound_plans_by_shipment(shipment_id)["createdAt"])
        for item in spd.get("spdTrackingItems") or []:
            carrier = {"trackingNumber": item["trackingId"], "carrierCode": "UPS"}
            identifier = {"carrierTracking": carrier}
            _add(data, gen, schema, identifier, PARCEL_MILESTONES, shipped, delivered)
    for kind in ("containerNumber", "houseBillOfLadingNumber", "acsin", "carrierTracking"):
        for number in range(builder.config.listed_shipment_trackings):
            value: Any = {
                "containerNumber": lambda: builder.unique(gen, "MSKU", 7, string.digits),
                "houseBillOfLadingNumber": lambda: builder.unique(gen, "AMZD", 12),
                "acsin": lambda: builder.unique(gen, "", 11, string.digits),
                "carrierTracking": lambda: {
                    "trackingNumber": builder.unique(gen, "1Z", 16),
                    "carrierCode": "UPS",
                },
            }[kind]()
            milestones = PARCEL_MILESTONES if kind == "carrierTracking" else FREIGHT_MILESTONES
            shipped = gen.moment(builder.start, data.now - timedelta(days=10))
            _add(data, gen, schema, {kind: value}, milestones, shipped, number % 2 == 0)
            data.listed_tracking_identifiers.append({kind: value})


def _add(
    data: Dataset,
    gen: InstanceGenerator,
    schema: Record,
    identifier: Record,
    codes: tuple[str, ...],
    shipped: datetime,
    delivered: bool,
) -> None:
    detail: Record = gen.instance(schema)
    steps = codes if delivered else codes[:IN_TRANSIT_STEPS]
    milestone_schema = schema["properties"]["milestoneHistory"]["items"]
    history = []
    moment = shipped
    for code in steps:
        milestone: Record = gen.instance(milestone_schema)
        city, region, country = gen.rng.choice(CITIES)
        milestone.update(
            status={**milestone.get("status", {}), "code": code},
            occurredAt=iso(min(moment, data.now)),
            location={"address": {"city": city, "region": region, "countryCode": country}},
        )
        history.append(milestone)
        moment += timedelta(hours=gen.rng.randint(2, 30))
    history.reverse()  # "from most recent to oldest"
    arrival = shipped + timedelta(days=5)
    detail.update(
        identifier=identifier,
        milestoneHistory=history,
        latestMilestone=copy.deepcopy(history[0]),
        trackingUrl=f"https://www.swiship.com/track/{_key(identifier)[1]}",
        trackingEstimates=[
            {
                "type": "ESTIMATED_DELIVERY_DATE",
                "estimatedInterval": {
                    "startTime": iso(arrival - timedelta(hours=8)),
                    "endTime": iso(arrival),
                },
                "lastUpdatedTime": history[0]["occurredAt"],
            }
        ],
    )
    data.shipment_trackings[_key(identifier)] = detail


def _key(identifier: Record) -> tuple[str, str]:
    (kind, value), *_ = identifier.items()
    if kind == "carrierTracking":
        return CARRIER_NUMBER, value["trackingNumber"]
    return kind, value


class ShipmentTrackingService:
    """getShipmentTracking by one identifier."""

    def __init__(self, dataset: Dataset) -> None:
        self.data = dataset

    def get_shipment_tracking(self, request: Any) -> Reply:
        """The tracking of the one identifier the request names."""
        given = [name for name in (*SINGLE_IDENTIFIERS, CARRIER_NUMBER) if request.first(name)]
        if request.first(CARRIER_CODE) and CARRIER_NUMBER not in given:
            given.append(CARRIER_CODE)
        if len(given) != 1 or given == [CARRIER_CODE]:
            return invalid_input(
                "Exactly one of id, acsin, aftn, containerNumber, houseBillOfLadingNumber or "
                "carrierTracking.trackingNumber (with carrierTracking.carrierCode) is required."
            )
        (name,) = given
        value = request.first(name)
        if name == "aftn" and not AFTN.match(value):
            return invalid_input("aftn must match ^AFTN\\d+$.")
        with self.data.lock:
            detail = self.data.shipment_trackings.get((name, value))
            code = request.first(CARRIER_CODE)
            if detail is not None and code is not None:
                carrier = detail["identifier"].get("carrierTracking") or {}
                if carrier.get("carrierCode") != code:
                    detail = None
            if detail is None:
                return error(404, "NotFound", f"No tracking found for {name} {value}.")
            return json_reply({"trackingDetail": copy.deepcopy(detail)})
