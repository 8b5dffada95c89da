"""What the tests and the benchmarks share: the tap's settings for a stand-in, runs of the
tap in-process or as a process, the catalog of a few streams, and what a stand-in's data
set should come out as.

Not part of the wheel: tests and benchmarks import it from the checkout (the repository
root is on their path, as for `spapi_standin`).
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import io
import json
import logging
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import msgspec
import requests

from spapi_standin import StandInConfig
from tap_spapi.amazon.report_types import REPORT_TYPES
from tap_spapi.config.accounts_setting import in_shard
from tap_spapi.streams.base.embedded import EmbeddedListStream
from tap_spapi.tap import TapSpapi, main
from tap_spapi.wire.headers import ACCOUNT_HEADER

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk import RESTStream

    from spapi_standin import Dataset, StandIn
    from tap_spapi.runtime.failures import RunFailures

REPO = Path(__file__).resolve().parent
MODELS = REPO / "models"  # Amazon's models, vendored (models/README.md)


# -- Amazon's models -----------------------------------------------------------------------------


def load_model(api: str) -> dict[str, Any]:
    """One of Amazon's models (Swagger JSON): the oracle tests compare the tap with."""
    model: dict[str, Any] = json.loads((MODELS / f"{api}.json").read_text(encoding="utf-8"))
    return model


def model_shipment_statuses() -> list[str]:
    """The `ShipmentStatusList` enum of getShipments, read from Amazon's model."""
    operation = load_model("fulfillmentInboundV0")["paths"]["/fba/inbound/v0/shipments"]["get"]
    (parameter,) = [p for p in operation["parameters"] if p["name"] == "ShipmentStatusList"]
    return list(parameter["items"]["enum"])


# -- settings ------------------------------------------------------------------------------------


# The tiny data set of this seed has records in every stream (711 in all): checks that
# need every kind of record, but not volume, run over it.
EVERY_STREAM_SEED = 12


def every_stream(**settings: Any) -> StandInConfig:
    """The stand-in settings of that data set, Amazon's plans x50 (`settings` override)."""
    return StandInConfig(**{"seed": EVERY_STREAM_SEED, "size": "tiny", "rate_scale": 50.0,
                            **settings})  # fmt: skip


def listed_identifiers(data: Dataset) -> list[dict[str, str]]:
    """The data set's seller-only tracking identifiers as `shipment_tracking_ids` entries."""
    entries = []
    for identifier in data.listed_tracking_identifiers:
        ((kind, value),) = identifier.items()
        if kind == "carrierTracking":
            entries.append(
                {
                    "type": kind,
                    "value": value["trackingNumber"],
                    "carrier_code": value["carrierCode"],
                }
            )
        else:
            entries.append({"type": kind, "value": value})
    return entries


def history_start(server: StandIn) -> str:
    """A start date just before the stand-in's data: every record, and few report windows
    (createReport allows one report a minute after a burst of 15)."""
    days = server.config.history_days + 5
    return (server.dataset.now - datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def credentials(server: StandIn) -> dict[str, Any]:
    """The settings that point the tap at `server`, with its valid demo credentials."""
    return {
        "client_id": server.config.client_id,
        "client_secret": server.config.client_secret,
        "refresh_token": min(server.config.refresh_tokens),
        "api_url": server.base_url,
        "lwa_token_url": server.lwa_token_url,
    }


# A retry budget in seconds that no healthy test run reaches, however busy the machine:
# a test bounds retries by attempts (`max_retries`) or by a clock it controls, never by
# how fast the machine happens to be (a storm once gave up after "2 attempts in 60 s").
UNREACHED_RETRY_SECONDS = 3600


def tap_config(server: StandIn, **overrides: Any) -> dict[str, Any]:
    """A config pointing the tap at `server` with its valid demo credentials."""
    config: dict[str, Any] = {
        **credentials(server),
        "start_date": history_start(server),
        "max_retry_seconds": UNREACHED_RETRY_SECONDS,
    }
    config.update(overrides)
    return config


def full_config(server: StandIn, **overrides: Any) -> dict[str, Any]:
    """Every stream on, labels from the data set, four workers."""
    return tap_config(
        server, tracking_ids=server.dataset.tracking_labels(), max_concurrency=4, **overrides
    )


def all_streams_config(server: StandIn, **overrides: Any) -> dict[str, Any]:
    """Every stream on, labels from the data set, a short request timeout (fault tests)."""
    return full_config(server, **{"request_timeout": 2, **overrides})


# The settings a config file of the unit tests holds (made-up credentials).
VALID = {
    "client_id": "amzn1.application-oa2-client.test",
    "client_secret": "sentinel-client-secret-123",
    "refresh_token": "Atzr|sentinel-refresh-token",
}


def write_config(tmp_path: Path, **overrides: object) -> str:
    """A config file of `VALID` settings and `overrides`; its path."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**VALID, **overrides}))
    return str(path)


def sharded_accounts(shards: int, per_shard: int) -> dict[int, list[str]]:
    """The first `per_shard` account names of each of `shards` shards, by the tap's own
    hash (the orchestration test and the shards benchmark run these)."""
    found: dict[int, list[str]] = {index: [] for index in range(shards)}
    number = 0
    while any(len(names) < per_shard for names in found.values()):
        name = f"seller-{number:03d}"
        index = next(i for i in range(shards) if in_shard(name, i, shards))
        if len(found[index]) < per_shard:
            found[index].append(name)
        number += 1
    return found


# -- catalogs ------------------------------------------------------------------------------------


def catalog_selecting(config: dict[str, Any], streams: Iterable[str]) -> dict[str, Any]:
    """Discovery's catalog with only `streams` selected (their parents are read anyway,
    unselected, as singer-sdk reads a selected child's parent)."""
    wanted = set(streams)
    with redirect_stdout(io.StringIO()):
        catalog = TapSpapi(config=config).catalog_dict
    unknown = wanted - {entry["tap_stream_id"] for entry in catalog["streams"]}
    if unknown:
        raise ValueError(f"no such streams: {sorted(unknown)}")
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if not metadata["breadcrumb"]:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in wanted
    return catalog


select_only = catalog_selecting


# -- runs ----------------------------------------------------------------------------------------


@dataclass
class SingerOutput:
    """Messages a tap run wrote, sorted by type."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    #: What failed in the run (in-process runs only).
    failures: RunFailures | None = None
    #: The warnings the run gathered to say once at its end (in-process runs only).
    gathered: list[str] = field(default_factory=list)

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

    @property
    def streams(self) -> set[str]:
        """The streams that emitted a record."""
        return {m["stream"] for m in self.messages if m["type"] == "RECORD"}

    def schema(self, stream: str) -> dict[str, Any]:
        return next(
            m["schema"] for m in self.messages if m["type"] == "SCHEMA" and m["stream"] == stream
        )


def run_tap(
    config: dict[str, Any],
    *,
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
    streams: Iterable[str] | None = None,
) -> SingerOutput:
    """Sync in-process and return what the tap wrote to stdout.

    `streams` selects only those (a test syncs what it is about: a full sync costs about
    a thousand requests and seconds, one stream a few requests); neither it nor `catalog`
    syncs every stream.
    """
    if streams is not None:
        if catalog is not None:
            raise ValueError("give streams or a catalog, not both")
        catalog = catalog_selecting(config, streams)
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
    output.gathered = tap.run.gathered()
    return output


@dataclass
class CliResult:
    """What a command-line run left: the shape of `subprocess.CompletedProcess`."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def run_cli(args: list[str], *, env: dict[str, str] | None = None) -> CliResult:
    """`tap-spapi ARGS` in this process, through the console entry point (`main`), with
    stdout, stderr, the exit status and the environment as a process would have them.

    A process costs a second of imports; a test of the command line's behaviour (exit
    status, one error line, what goes to stdout) needs the entry point, not a process.
    `run_cli_process` starts a real one, for what only a process shows (signals, kills).
    """
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8")
    err = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    code: int | str | None = 0
    with _environment(env), redirect_stdout(out), redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as done:
            code = done.code
        finally:
            out.flush()
            # singer-sdk's CLI adds a handler on stderr (ours) each time it is built.
            root.handlers[:] = handlers
            root.setLevel(level)
    if isinstance(code, str):  # sys.exit("message"): the message on stderr, status 1
        err.write(code + "\n")
        code = 1
    return CliResult(list(args), int(code or 0), raw.getvalue().decode("utf-8"), err.getvalue())


@contextlib.contextmanager
def _environment(env: dict[str, str] | None) -> Iterator[None]:
    """`os.environ` with `env` laid over it while the block runs."""
    if not env:
        yield
        return
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_cli_process(
    args: list[str], *, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run `python -m tap_spapi ARGS` as a user would, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "tap_spapi", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
        cwd=REPO,
    )


def error_line(stderr: str) -> str:
    """The tap's one-line error (worker threads may still log after it)."""
    return next(line for line in stderr.splitlines() if line.startswith("tap-spapi: error:"))


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


# -- what a data set should come out as ----------------------------------------------------------


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
        **awd_keys(data),
        **{report.stream_name: data.reports.keys_of(report.report_type) for report in REPORT_TYPES},
    }


def awd_keys(data: Dataset) -> dict[str, set[Any]]:
    """Keys of the Amazon Warehousing and Distribution streams."""
    return {
        "awd_inbound_shipments": set(data.awd_inbound_shipments),
        "awd_inbound_shipment_items": {
            (shipment_id, quantity["sku"])
            for shipment_id, shipment in data.awd_inbound_shipments.items()
            for quantity in shipment.get("shipmentSkuQuantities") or []
        },
        "awd_outbound_orders": set(data.awd_outbound_orders),
        "awd_inventory": {summary["sku"] for summary in data.awd_inventory},
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
    "awd_inbound_shipments": ("shipmentId",),
    "awd_inbound_shipment_items": ("shipmentId", "sku"),
    "awd_outbound_orders": ("orderId",),
    "awd_inventory": ("sku",),
    **{report.stream_name: report.keys for report in REPORT_TYPES},
}


def key_of(stream: str, record: dict[str, Any]) -> Any:
    """A record's primary key (a tuple when it has several fields)."""
    fields = KEYS[stream]
    values = tuple(record[field] for field in fields)
    return values[0] if len(values) == 1 else values


def assert_complete(
    output: SingerOutput, server: StandIn, streams: Iterable[str] | None = None
) -> None:
    """Every key of the stand-in's data set (of `streams`, or all), each emitted once."""
    expected = expected_keys(server.dataset)
    for stream in expected if streams is None else streams:
        keys = [key_of(stream, record) for record in output.records(stream)]
        assert set(keys) == expected[stream], stream
        assert len(keys) == len(set(keys)), f"{stream}: a record emitted twice"


# -- one stream's parsing, without a server ------------------------------------------------------

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
    response.request.prepare_headers({ACCOUNT_HEADER: "default"})
    stream.validate_response(response)
    rows: Iterable[dict[str, Any]] = stream.parse_response(response)
    if isinstance(stream, EmbeddedListStream):  # its rows are in the parent's records
        parent = next(s for s in tap.streams.values() if type(s) is stream.parent_stream_type)
        orders = cast("RESTStream[Any]", parent).parse_response(response)
        rows = [row for order in orders for row in stream.rows_of(order)]
    records = []
    for record in rows:
        processed = stream.post_process(record, dict(SAMPLE_CONTEXT))
        if processed is not None:
            records.append(processed)
    return records


# -- SQS for the stand-in's notifications ---------------------------------------------------------

# moto's account and region: a queue's ARN is `arn:aws:sqs:us-east-1:123456789012:<name>`.
SQS_REGION = "us-east-1"
LOCAL_AWS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@contextlib.contextmanager
def sqs_server() -> Iterator[str]:
    """moto's server on 127.0.0.1 and a free port, in this process; yields its endpoint
    URL (`StandInConfig.sqs_endpoint_url`, the tap's `notifications_endpoint_url`)."""
    from moto.server import ThreadedMotoServer  # the test tier's dependency, not the tap's

    # Its request handler logs a line per request through werkzeug's logger.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


# A client costs a third of a second to make, and is thread-safe: one per endpoint.
_SQS_CLIENTS: dict[str, Any] = {}


def sqs_client(endpoint_url: str) -> Any:
    """A boto3 SQS client of moto's server at `endpoint_url`."""
    client = _SQS_CLIENTS.get(endpoint_url)
    if client is None:
        import boto3

        client = boto3.client("sqs", endpoint_url=endpoint_url, region_name=SQS_REGION, **LOCAL_AWS)
        _SQS_CLIENTS[endpoint_url] = client
    return client


def create_queue(endpoint_url: str, name: str) -> tuple[str, str]:
    """A standard queue named `name`: its URL and ARN (a destination's `sqs.arn`)."""
    client = sqs_client(endpoint_url)
    url = str(client.create_queue(QueueName=name)["QueueUrl"])
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, str(attributes["Attributes"]["QueueArn"])


def drain_queue(endpoint_url: str, queue_url: str) -> list[dict[str, Any]]:
    """Every message body in the queue, parsed, in the order SQS hands them out (each
    received once and deleted: a test reads what the stand-in sent since it last looked)."""
    client = sqs_client(endpoint_url)
    bodies: list[dict[str, Any]] = []
    while True:
        answer = client.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=0
        )
        messages = answer.get("Messages") or []
        if not messages:
            return bodies
        bodies += [json.loads(message["Body"]) for message in messages]
        client.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)
            ],
        )
