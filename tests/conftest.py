"""Shared fixtures: the local SP-API stand-in and ways to run the tap against it."""

from __future__ import annotations

import copy
import datetime
import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import msgspec
import pytest
import requests

from spapi_standin import StandIn, StandInConfig
from tap_spapi.report_types import REPORT_TYPES
from tap_spapi.tap import TapSpapi

if TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk import RESTStream

    from spapi_standin import Dataset
    from tap_spapi.failures import RunFailures

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "models"  # Amazon's models, vendored (models/README.md)


def load_model(api: str) -> dict[str, Any]:
    """One of Amazon's models (Swagger JSON): the oracle tests compare the tap with."""
    model: dict[str, Any] = json.loads((MODELS / f"{api}.json").read_text(encoding="utf-8"))
    return model


def model_shipment_statuses() -> list[str]:
    """The `ShipmentStatusList` enum of getShipments, read from Amazon's model."""
    operation = load_model("fulfillmentInboundV0")["paths"]["/fba/inbound/v0/shipments"]["get"]
    (parameter,) = [p for p in operation["parameters"] if p["name"] == "ShipmentStatusList"]
    return list(parameter["items"]["enum"])


def history_start(server: StandIn) -> str:
    """A start date just before the stand-in's data: every record, and few report windows
    (createReport allows one report a minute after a burst of 15)."""
    days = server.config.history_days + 5
    return (server.dataset.now - datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def tap_config(server: StandIn, **overrides: Any) -> dict[str, Any]:
    """A config pointing the tap at `server` with its valid demo credentials."""
    config: dict[str, Any] = {
        "client_id": server.config.client_id,
        "client_secret": server.config.client_secret,
        "refresh_token": min(server.config.refresh_tokens),
        "api_url": server.base_url,
        "lwa_token_url": server.lwa_token_url,
        "start_date": history_start(server),
        "max_retry_seconds": 60,
    }
    config.update(overrides)
    return config


@dataclass
class SingerOutput:
    """Messages a tap run wrote, sorted by type."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    #: What failed in the run (in-process runs only).
    failures: RunFailures | None = None

    @classmethod
    def parse(cls, text: str) -> SingerOutput:
        return cls([json.loads(line) for line in text.splitlines() if line.strip()])

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    def schema(self, stream: str) -> dict[str, Any]:
        return next(
            m["schema"] for m in self.messages if m["type"] == "SCHEMA" and m["stream"] == stream
        )


def run_tap(
    config: dict[str, Any],
    *,
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
) -> SingerOutput:
    """Sync in-process and return what the tap wrote to stdout."""
    # singer-sdk updates the state it is given in place; keep the caller's copy intact.
    tap = TapSpapi(config=config, state=copy.deepcopy(state), catalog=catalog)
    # The msgspec writer writes bytes to sys.stdout.buffer, so capture a binary buffer.
    raw = io.BytesIO()
    text = io.TextIOWrapper(raw, encoding="utf-8")
    try:
        with redirect_stdout(text):
            tap.sync_all()
            tap.finish_output()  # what the command line does at the end of a run
    finally:
        tap.run.close()
    text.flush()
    output = SingerOutput.parse(raw.getvalue().decode("utf-8"))
    output.failures = tap.run.failures
    return output


def run_cli(
    args: list[str], *, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `python -m tap_spapi ARGS` as a user would, capturing stdout and stderr."""
    return subprocess.run(
        [sys.executable, "-m", "tap_spapi", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
        cwd=REPO,
    )


def seller_get(server: StandIn, path: str, **params: str) -> requests.Response:
    """A seller's GET to the stand-in, headers as every SP-API call carries them."""
    form = {
        "grant_type": "refresh_token",
        "refresh_token": min(server.config.refresh_tokens),
        "client_id": server.config.client_id,
        "client_secret": server.config.client_secret,
    }
    token = requests.post(server.lwa_token_url, data=form, timeout=10).json()["access_token"]
    sent = {
        "x-amz-access-token": token,
        "x-amz-date": datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ"),
        "User-Agent": "test/1.0",
    }
    return requests.get(server.base_url + path, params=params, headers=sent, timeout=10)


def select_only(tap_config_: dict[str, Any], streams: set[str]) -> dict[str, Any]:
    """A catalog from discovery with only `streams` selected."""
    tap = TapSpapi(config=tap_config_)
    catalog = tap.catalog_dict
    for entry in catalog["streams"]:
        selected = entry["tap_stream_id"] in streams
        for metadata in entry["metadata"]:
            if not metadata["breadcrumb"]:
                metadata["metadata"]["selected"] = selected
    return catalog


@pytest.fixture
def standin() -> Iterator[StandIn]:
    """A fresh stand-in with small data, no latency and Amazon's usage plans scaled up."""
    with StandIn(StandInConfig(seed=11, rate_scale=50.0)) as server:
        yield server


def expected_keys(data: Dataset) -> dict[str, set[Any]]:
    """The key of every record the stand-in holds, per stream."""
    shipments = [
        shipment
        for detail in data.outbound_details.values()
        for shipment in detail.get("fulfillmentShipments") or []
    ]
    return {
        "marketplace_participations": set(data.participating_marketplace_ids),
        "inbound_shipments": {s["ShipmentId"] for s in data.all_inbound_shipments()},
        "inbound_shipment_items": {
            (shipment_id, item["SellerSKU"])
            for shipment_id, items in data.inbound_items.items()
            for item in items
        },
        "outbound_orders": {o["sellerFulfillmentOrderId"] for o in data.outbound_orders},
        "outbound_shipments": {s["amazonShipmentId"] for s in shipments},
        "outbound_package_tracking": {
            package["packageNumber"]
            for shipment in shipments
            for package in shipment.get("fulfillmentShipmentPackage") or []
        },
        "outbound_order_items": {
            (order_id, item["sellerFulfillmentOrderItemId"])
            for order_id, detail in data.outbound_details.items()
            for item in detail.get("fulfillmentOrderItems") or []
        },
        "outbound_returns": {
            (order_id, item["sellerReturnItemId"])
            for order_id, detail in data.outbound_details.items()
            for item in detail.get("returnItems") or []
        },
        "outbound_return_authorizations": {
            (order_id, authorization["returnAuthorizationId"])
            for order_id, detail in data.outbound_details.items()
            for authorization in detail.get("returnAuthorizations") or []
        },
        # Labels live Amazon answers with a payload of nulls carry nothing to load.
        "shipping_tracking": {
            t["trackingId"]
            for t in data.shipping_trackings
            if t["trackingId"] not in data.null_tracking_ids
        },
        "shipping_carrier_accounts": {
            (a["carrierId"], a["accountId"]) for a in data.carrier_accounts
        },
        "orders": {o["orderId"] for o in data.orders},
        "order_items": {
            (o["orderId"], i["orderItemId"]) for o in data.orders for i in o["orderItems"]
        },
        # Only merchant-fulfilled orders have packages (the data set gives FBA ones none).
        "order_packages": {
            (o["orderId"], p["packageReferenceId"])
            for o in data.orders
            for p in o.get("packages") or []
        },
        **inbound_plan_keys(data),
        **{report.stream_name: data.reports.keys_of(report.report_type) for report in REPORT_TYPES},
    }


def inbound_plan_keys(data: Dataset) -> dict[str, set[Any]]:
    """Keys of the inbound 2024 and Tracking streams a run without listed identifiers
    emits: plans Amazon refuses (#4641) list but yield no shipments, partnered shipments
    (#4606) no tracking numbers."""
    shipments = {
        shipment_id: shipment
        for shipment_id, shipment in data.plan_shipments.items()
        if data.plan_of_shipment[shipment_id] not in data.refused_plan_ids
    }
    trackings = {
        # The tap names the carrier pair `carrierTracking` (the setting's type).
        (key[0].split(".")[0], key[1]): detail
        for key, detail in data.shipment_trackings.items()
        if detail["identifier"] not in data.listed_tracking_identifiers
        and (key[0] == "aftn" or _tracked_inbound(data, shipments, key[1]))
    }
    return {
        "inbound_plans": {p["inboundPlanId"] for p in data.inbound_plans},
        "inbound_plan_shipments": set(shipments),
        "inbound_plan_shipment_items": {
            (s, i["msku"]) for s in shipments for i in data.plan_shipment_items[s]
        },
        "inbound_plan_shipment_boxes": {
            (s, b["packageId"]) for s in shipments for b in data.plan_shipment_boxes[s]
        },
        "shipment_tracking": set(trackings),
        "shipment_tracking_milestones": {
            (*key, m["occurredAt"], m["status"]["code"])
            for key, detail in trackings.items()
            for m in detail["milestoneHistory"]
        },
    }


def _tracked_inbound(data: Dataset, shipments: dict[str, Any], number: str) -> bool:
    """Whether an inbound carrier number reaches the tap (its shipment is read and is not
    answered without tracking details)."""
    return any(
        item["trackingId"] == number
        for shipment_id, shipment in shipments.items()
        if shipment_id not in data.partnered_shipment_ids
        for item in shipment["trackingDetails"]["spdTrackingDetail"]["spdTrackingItems"]
    )


KEYS = {
    "marketplace_participations": ("marketplace_id",),
    "inbound_shipments": ("ShipmentId",),
    "inbound_shipment_items": ("ShipmentId", "SellerSKU"),
    "outbound_orders": ("sellerFulfillmentOrderId",),
    "outbound_shipments": ("amazonShipmentId",),
    "outbound_package_tracking": ("packageNumber",),
    "outbound_order_items": ("sellerFulfillmentOrderId", "sellerFulfillmentOrderItemId"),
    "outbound_returns": ("sellerFulfillmentOrderId", "sellerReturnItemId"),
    "outbound_return_authorizations": ("sellerFulfillmentOrderId", "returnAuthorizationId"),
    "shipping_tracking": ("trackingId",),
    "shipping_carrier_accounts": ("carrierId", "accountId"),
    "orders": ("orderId",),
    "order_items": ("orderId", "orderItemId"),
    "order_packages": ("orderId", "packageReferenceId"),
    "inbound_plans": ("inboundPlanId",),
    "inbound_plan_shipments": ("shipmentId",),
    "inbound_plan_shipment_items": ("shipmentId", "msku"),
    "inbound_plan_shipment_boxes": ("shipmentId", "packageId"),
    "shipment_tracking": ("identifierType", "identifierValue"),
    "shipment_tracking_milestones": (
        "identifierType",
        "identifierValue",
        "occurredAt",
        "statusCode",
    ),
    **{report.stream_name: report.keys for report in REPORT_TYPES},
}


def key_of(stream: str, record: dict[str, Any]) -> Any:
    """A record's primary key (a tuple when it has several fields)."""
    fields = KEYS[stream]
    values = tuple(record[field] for field in fields)
    return values[0] if len(values) == 1 else values


# What a stream's context carries besides the account (partition, parent and label keys).
SAMPLE_CONTEXT = {
    "account": "default",
    "marketplace_id": "ATVPDKIKX0DER",
    "ShipmentId": "FBA-CONTEXT",
    "sellerFulfillmentOrderId": "ORDER-CONTEXT",
    "amazonShipmentId": "SHIPMENT-CONTEXT",
    "carrierId": "X",
    "trackingId": "T-1",  # a label's partition always names it
    "orderId": "ORDER-CONTEXT",
    "inboundPlanId": "wf-CONTEXT",
    "shipmentId": "sh-CONTEXT",
    "identifierType": "aftn",
    "identifierValue": "AFTN1",
}


def parsed_records(tap: TapSpapi, stream_name: str, body: dict[str, Any]) -> list[dict]:
    """A 200 `body` through the stream's validate_response, parse_response and post_process."""
    stream = cast("RESTStream[Any]", tap.streams[stream_name])
    response = requests.Response()
    response.status_code = 200
    response._content = msgspec.json.encode(body)
    response.request = requests.PreparedRequest()
    response.request.spapi_account = "default"  # type: ignore[attr-defined]
    stream.validate_response(response)
    records = []
    for record in stream.parse_response(response):
        processed = stream.post_process(record, dict(SAMPLE_CONTEXT))
        if processed is not None:
            records.append(processed)
    return records
