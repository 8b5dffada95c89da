"""Notifications v1 in the stand-in: the API against its model, and what it publishes to
SQS (moto's server) against Amazon's notification schemas and live Amazon's delivery."""

from __future__ import annotations

import copy
import json
import re
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest
import requests

from spapi_standin import StandIn, StandInConfig
from spapi_standin.config import DEMO_REFRESH_TOKEN
from spapi_standin.live import LiveBehaviours
from spapi_standin.notifications import ORDER_STATUS, application_id_of
from spapi_standin.paths import SHIPMENT_TRACKING
from spapi_standin.ratelimit import model_table
from spapi_standin.schemas import load_schemas, schemas_path
from spapi_standin.shipment_tracking import CARRIER_NUMBER
from testkit import MODELS, create_queue, drain_queue, load_model

if TYPE_CHECKING:
    from collections.abc import Iterator

NOW = datetime.now(UTC).replace(microsecond=0)
BASE = "/notifications/v1"
GRANTLESS_SCOPE = "sellingpartnerapi::notifications"
OTHER_SELLER = "Atzr|second-seller-refresh-token"
TRACKING = "SHIPMENT_TRACKING_MILESTONE_CHANGED"
MCF = "FULFILLMENT_ORDER_STATUS"
ORDER = "ORDER_CHANGE"
REPORT = "REPORT_PROCESSING_FINISHED"
TRACKING_BODY = "shipmentTrackingMilestoneChangedNotification"
MCF_BODY = "FulfillmentOrderStatusNotification"
VERSIONS = {TRACKING: "2026-01-30", MCF: "1.0", ORDER: "1.0", REPORT: "2020-09-04"}
REPORT_TYPE = "GET_AMAZON_FULFILLED_SHIPMENTS_DATA_GENERAL"
MONTH_AGO = NOW - timedelta(days=30)  # the report type's longest range, with rows in it
SELLER_ID = re.compile(r"^A[A-Z0-9]{13}$")
# Each message once, in the order of the change: tests of shapes and of the API.
ONCE = LiveBehaviours(notification_duplicates=0.0, notification_reorder=False)


def notification_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((MODELS / "notifications" / f"{name}.json").read_text())
    return schema


class Amazon:
    """A stand-in and the tokens a notifications client holds: the application's
    grantless one and a seller's."""

    def __init__(self, server: StandIn) -> None:
        self.server = server
        self.session = requests.Session()
        self.grantless = self._token(grant_type="client_credentials", scope=GRANTLESS_SCOPE)
        self.refresh_token = min(server.config.refresh_tokens)
        self.seller = self.seller_token(self.refresh_token)

    def _token(self, **fields: str) -> str:
        form = {"client_id": self.server.config.client_id,
                "client_secret": self.server.config.client_secret, **fields}  # fmt: skip
        answer = self.session.post(self.server.lwa_token_url, data=form, timeout=10)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def seller_token(self, refresh_token: str) -> str:
        return self._token(grant_type="refresh_token", refresh_token=refresh_token)

    def call(
        self, method: str, path: str, token: str, body: Any = None, **params: str
    ) -> requests.Response:
        headers = {
            "x-amz-date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
            "User-Agent": "notifications-test/1.0",
            "x-amz-access-token": token,
        }
        return self.session.request(
            method, self.server.base_url + path, headers=headers, json=body, params=params,
            timeout=10,
        )  # fmt: skip

    def destination(self, arn: str, name: str = "tap-spapi") -> requests.Response:
        spec = {"name": name, "resourceSpecification": {"sqs": {"arn": arn}}}
        return self.call("POST", f"{BASE}/destinations", self.grantless, spec)

    def subscribe(
        self, kind: str, destination_id: str, token: str | None = None, version: str | None = None
    ) -> requests.Response:
        body = {"payloadVersion": version or VERSIONS[kind], "destinationId": destination_id}
        return self.call("POST", f"{BASE}/subscriptions/{kind}", token or self.seller, body)


@pytest.fixture
def queue(sqs_endpoint: str) -> tuple[str, str]:
    """A fresh standard queue: (URL, ARN)."""
    return create_queue(sqs_endpoint, f"notifications-{uuid.uuid4().hex[:12]}")


def serve(endpoint: str | None, live: LiveBehaviours = ONCE, **settings: Any) -> StandIn:
    """A stand-in of two sellers, reports finished at once; `settings` override."""
    config = StandInConfig(**{
        "seed": 5, "size": "tiny", "now": NOW, "rate_limits": False,
        "report_processing_seconds": 0.0, "sqs_endpoint_url": endpoint,
        "live": copy.deepcopy(live), "refresh_tokens": {DEMO_REFRESH_TOKEN, OTHER_SELLER},
        **settings,
    })  # fmt: skip
    return StandIn(config)


@pytest.fixture
def amazon(sqs_endpoint: str) -> Iterator[Amazon]:
    """A stand-in publishing to moto's SQS, each notification once and in order."""
    with serve(sqs_endpoint) as server:
        yield Amazon(server)


def subscribed(amazon: Amazon, arn: str, *kinds: str) -> dict[str, str]:
    """A destination for `arn` and the seller's subscriptions of `kinds`: type -> id."""
    created = amazon.destination(arn)
    assert created.status_code == 200, created.text
    destination_id = created.json()["payload"]["destinationId"]
    ids = {}
    for kind in kinds:
        answer = amazon.subscribe(kind, destination_id)
        assert answer.status_code == 200, answer.text
        ids[kind] = answer.json()["payload"]["subscriptionId"]
    return ids


def error_of(response: requests.Response) -> tuple[int, str]:
    (error,) = response.json()["errors"]
    assert set(error) >= {"code", "message"}
    return response.status_code, error["code"]


# -- the API against its model -------------------------------------------------------------------


def test_destinations_take_the_grantless_token_and_one_queue_once(amazon, queue):
    _, arn = queue
    assert amazon.call("GET", f"{BASE}/destinations", amazon.grantless).json() == {"payload": []}
    assert error_of(amazon.call("GET", f"{BASE}/destinations", amazon.seller)) == (
        403, "Unauthorized",
    )  # fmt: skip
    created = amazon.destination(arn)
    assert created.status_code == 200
    destination = created.json()["payload"]
    assert destination["resource"] == {"sqs": {"arn": arn}} and destination["name"] == "tap-spapi"
    # The same queue again: Amazon's 409 (docs #2072), naming the ARN and the application.
    again = amazon.destination(arn, name="another")
    assert error_of(again) == (409, "Conflict")
    details = again.json()["errors"][0]["details"]
    assert arn in details and application_id_of(amazon.server.config.client_id) in details
    path = f"{BASE}/destinations/{destination['destinationId']}"
    assert amazon.call("GET", path, amazon.grantless).json() == {"payload": destination}
    listed = amazon.call("GET", f"{BASE}/destinations", amazon.grantless).json()
    assert listed == {"payload": [destination]}
    assert error_of(amazon.call("GET", f"{BASE}/destinations/nope", amazon.grantless)) == (
        404, "NotFound",
    )  # fmt: skip
    not_sqs = amazon.destination("arn:aws:sns:us-east-1:123456789012:topic")
    assert error_of(not_sqs) == (400, "InvalidInput")


def test_subscriptions_belong_to_a_seller_one_per_type(amazon, queue):
    _, arn = queue
    destination_id = amazon.destination(arn).json()["payload"]["destinationId"]
    assert error_of(amazon.call("GET", f"{BASE}/subscriptions/{TRACKING}", amazon.seller)) == (
        404, "NotFound",
    )  # fmt: skip
    assert error_of(amazon.subscribe(TRACKING, destination_id, token=amazon.grantless)) == (
        403, "Unauthorized",
    )  # fmt: skip
    assert error_of(amazon.subscribe(TRACKING, "no-such-destination")) == (400, "InvalidInput")
    assert error_of(amazon.subscribe(TRACKING, destination_id, version="1.0")) == (
        400, "InvalidInput",
    )  # fmt: skip
    created = amazon.subscribe(TRACKING, destination_id)
    assert created.status_code == 200
    subscription = created.json()["payload"]
    assert subscription["destinationId"] == destination_id
    assert subscription["payloadVersion"] == "2026-01-30"
    assert error_of(amazon.subscribe(TRACKING, destination_id)) == (409, "Conflict")
    # Another seller of the same application subscribes on its own.
    other = amazon.seller_token(OTHER_SELLER)
    assert amazon.subscribe(TRACKING, destination_id, token=other).status_code == 200
    mine = amazon.call("GET", f"{BASE}/subscriptions/{TRACKING}", amazon.seller)
    assert mine.json() == {"payload": subscription}
    listed = amazon.call(
        "GET", f"{BASE}/subscriptions", amazon.seller, notificationTypes=TRACKING
    ).json()
    assert listed == {"payload": {"subscriptions": [subscription]}}
    by_id = f"{BASE}/subscriptions/{TRACKING}/{subscription['subscriptionId']}"
    assert amazon.call("GET", by_id, amazon.grantless).json() == {"payload": subscription}
    assert error_of(amazon.call("GET", by_id, amazon.seller)) == (403, "Unauthorized")
    assert amazon.call("DELETE", by_id, amazon.grantless).status_code == 200
    assert amazon.call("GET", by_id, amazon.grantless).status_code == 404
    gone = amazon.call("GET", f"{BASE}/subscriptions/{TRACKING}", amazon.seller)
    assert error_of(gone) == (404, "NotFound")


def test_get_subscriptions_checks_its_parameters(amazon):
    path = f"{BASE}/subscriptions"
    assert amazon.call("GET", path, amazon.seller).status_code == 400  # notificationTypes
    two = amazon.call("GET", path, amazon.seller, notificationTypes=f"{TRACKING},{ORDER}")
    assert error_of(two) == (400, "InvalidInput")  # "limited to a single notification type"
    small = amazon.call("GET", path, amazon.seller, notificationTypes=TRACKING, pageSize="10")
    assert error_of(small) == (400, "InvalidInput")  # minimum 30
    empty = amazon.call("GET", path, amazon.seller, notificationTypes=TRACKING, pageSize="30")
    assert empty.json() == {"payload": {"subscriptions": []}}


def test_a_destination_in_use_is_not_deleted(amazon, queue):
    _, arn = queue
    ids = subscribed(amazon, arn, ORDER)
    (destination,) = amazon.call("GET", f"{BASE}/destinations", amazon.grantless).json()["payload"]
    path = f"{BASE}/destinations/{destination['destinationId']}"
    refused = amazon.call("DELETE", path, amazon.grantless)
    assert error_of(refused) == (403, "Unauthorized")  # docs #1800
    assert refused.json()["errors"][0]["details"] == "Destination has subscriptions"
    by_id = f"{BASE}/subscriptions/{ORDER}/{ids[ORDER]}"
    assert amazon.call("DELETE", by_id, amazon.grantless).status_code == 200
    assert amazon.call("DELETE", path, amazon.grantless).json() == {}
    assert amazon.call("GET", path, amazon.grantless).status_code == 404


def test_answers_validate_against_the_model(amazon, queue):
    _, arn = queue
    schemas = load_schemas(schemas_path())
    ids = subscribed(amazon, arn, ORDER)
    destination_id = amazon.call("GET", f"{BASE}/subscriptions/{ORDER}", amazon.seller).json()[
        "payload"
    ]["destinationId"]
    cases = [
        ("GET", f"{BASE}/destinations", f"{BASE}/destinations", amazon.grantless, {}),
        ("GET", f"{BASE}/destinations/{{destinationId}}",
         f"{BASE}/destinations/{destination_id}", amazon.grantless, {}),
        ("GET", f"{BASE}/subscriptions", f"{BASE}/subscriptions", amazon.seller,
         {"notificationTypes": ORDER}),
        ("GET", f"{BASE}/subscriptions/{{notificationType}}", f"{BASE}/subscriptions/{ORDER}",
         amazon.seller, {}),
        ("GET", f"{BASE}/subscriptions/{{notificationType}}/{{subscriptionId}}",
         f"{BASE}/subscriptions/{ORDER}/{ids[ORDER]}", amazon.grantless, {}),
    ]  # fmt: skip
    for method, template, path, token, params in cases:
        answer = amazon.call(method, path, token, **params)
        assert answer.status_code == 200, (path, answer.text)
        jsonschema.validate(answer.json(), schemas.response(method, template))
    conflict = amazon.subscribe(ORDER, destination_id)
    model = load_model("notifications")
    error_list = {**model["definitions"]["ErrorList"], "definitions": model["definitions"]}
    jsonschema.validate(conflict.json()["errors"], error_list)


def test_every_operation_has_the_models_usage_plan(sqs_endpoint):
    operations = {
        "getDestinations", "createDestination", "getDestination", "deleteDestination",
        "getSubscriptions", "getSubscription", "createSubscription", "getSubscriptionById",
        "deleteSubscriptionById",
    }  # fmt: skip
    table = {entry["operationId"]: entry for entry in model_table().values()}
    # Amazon's rates, scaled down so that no token comes back while the test runs.
    with serve(sqs_endpoint, rate_limits=True, rate_scale=0.0001) as server:
        routes = server.app.operations.routes
        assert operations <= set(routes)
        for operation_id in operations:
            entry = table[operation_id]
            assert entry["api"] == "notifications"
            assert (entry["rate"], entry["burst"]) == (1.0, 5)  # "| 1 | 5 |" in the model
            assert server.app.limiter.plan(operation_id)[1] == 5
        amazon = Amazon(server)
        answers = [amazon.call("GET", f"{BASE}/destinations", amazon.grantless) for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 5 + [429]


def test_sellers_have_stable_made_up_ids():
    first = StandIn.seller_id_of("Atzr|one")
    assert SELLER_ID.match(first) and first == StandIn.seller_id_of("Atzr|one")
    assert StandIn.seller_id_of("Atzr|two") != first


# -- what is published ---------------------------------------------------------------------------


def _metadata(message: dict[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = (
        message.get("notificationMetadata") or message["NotificationMetadata"]
    )
    return {key[:1].lower() + key[1:]: value for key, value in metadata.items()}


def _type_of(message: dict[str, Any]) -> str:
    return str(message.get("notificationType") or message["NotificationType"])


def _check_metadata(message: dict[str, Any], subscriptions: dict[str, str], app: str) -> None:
    metadata = _metadata(message)
    assert metadata["subscriptionId"] == subscriptions[_type_of(message)]
    assert metadata["applicationId"] == app
    assert uuid.UUID(metadata["notificationId"]).version == 4
    event_time = message.get("eventTime") or message["EventTime"]
    assert metadata["publishTime"] >= event_time  # one format: compares as text


def test_each_notification_is_shaped_as_amazons_schema_says(amazon, queue, sqs_endpoint):
    url, arn = queue
    server = amazon.server
    subscriptions = subscribed(amazon, arn, TRACKING, MCF, ORDER, REPORT)
    seller = StandIn.seller_id_of(amazon.refresh_token)
    at = NOW + timedelta(hours=1)
    trackings = server.touch("shipment_trackings", 3, at=at)
    mcf_orders = server.touch("outbound_orders", len(server.dataset.outbound_orders), at=at)
    orders = server.touch("orders", 3, at=at)
    report_id = server.schedule_report(
        REPORT_TYPE, MONTH_AGO, NOW, refresh_token=amazon.refresh_token
    )
    messages = drain_queue(sqs_endpoint, url)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for message in messages:
        by_type.setdefault(_type_of(message), []).append(message)
        _check_metadata(message, subscriptions, server.notifications.application_id)
    assert Counter({k: len(v) for k, v in by_type.items()}) == Counter(
        {TRACKING: len(trackings), MCF: len(mcf_orders), ORDER: len(orders), REPORT: 1}
    )

    for message in by_type[ORDER]:
        jsonschema.validate(message, notification_schema("OrderChangeNotification"))
        change = message["Payload"]["OrderChangeNotification"]
        assert change["SellerId"] == seller and change["AmazonOrderId"] in orders
        (order,) = [o for o in server.dataset.orders if o["orderId"] == change["AmazonOrderId"]]
        assert (
            change["Summary"]["OrderStatus"]
            == ORDER_STATUS[order["fulfillment"]["fulfillmentStatus"]]
        )
        assert change["OrderChangeTrigger"]["TimeOfOrderChange"] == order["lastUpdatedTime"]

    # Amazon's schema was generated from one example holding a shipment and a return, and
    # requires both; a notification carries the one its EventType names.
    schema = notification_schema("FulfillmentOrderStatusNotification")
    body_schema = schema["properties"]["Payload"]["properties"][
        "FulfillmentOrderStatusNotification"
    ]
    body_schema["required"] = [
        k
        for k in body_schema["required"]
        if k not in {"FulfillmentShipment", "FulfillmentReturnItem"}
    ]
    shipped = 0
    for message in by_type[MCF]:
        jsonschema.validate(message, schema)
        status = message["Payload"][MCF_BODY]
        detail = server.dataset.outbound_details[status["SellerFulfillmentOrderId"]]
        assert status["SellerId"] == seller
        assert status["StatusUpdatedDateTime"] == detail["fulfillmentOrder"]["statusUpdatedDate"]
        assert "FulfillmentReturnItem" not in status
        if not detail["fulfillmentShipments"]:
            assert status["EventType"] == "Order" and "FulfillmentShipment" not in status
            continue
        shipped += 1
        assert status["EventType"] == "Shipment"
        shipment = status["FulfillmentShipment"]
        (source,) = [
            s for s in detail["fulfillmentShipments"]
            if s["amazonShipmentId"] == shipment["AmazonShipmentId"]
        ]  # fmt: skip
        numbers = [p["TrackingNumber"] for p in shipment["FulfillmentShipmentPackages"]]
        assert numbers == [p["trackingNumber"] for p in source["fulfillmentShipmentPackage"]]
    assert shipped  # the data set has shipped orders, and every order was touched

    (finished,) = by_type[REPORT]
    jsonschema.validate(finished, notification_schema("ReportProcessingFinishedNotification"))
    body = finished["payload"]["reportProcessingFinishedNotification"]
    report = amazon.call("GET", f"/reports/2021-06-30/reports/{report_id}", amazon.seller).json()
    assert body["reportId"] == report_id and body["processingStatus"] == "DONE"
    assert body["reportDocumentId"] == report["reportDocumentId"]
    assert body["sellerId"] == seller and body["accountId"] == f"amzn1.merchant.o.{seller}"

    # The tracking schema's root does not resolve: the keys of its example, and the
    # Tracking model's TrackingDetail.
    (example,) = notification_schema("ShipmentTrackingMilestoneChangedNotification")["examples"]
    detail_schema = load_schemas(schemas_path()).item(*SHIPMENT_TRACKING, "trackingDetail")
    for message in by_type[TRACKING]:
        assert set(message) == set(example)
        assert set(message["notificationMetadata"]) == set(example["notificationMetadata"])
        assert set(message["payload"]) == set(example["payload"])
        assert message["payloadVersion"] == example["payloadVersion"]
        detail = message["payload"][TRACKING_BODY]
        assert set(detail) == {"trackingDetail"}
        jsonschema.validate(detail["trackingDetail"], detail_schema)
        assert detail["trackingDetail"]["latestMilestone"]["occurredAt"] >= at.strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )


def test_a_tracking_notification_carries_what_get_shipment_tracking_answers(
    amazon, queue, sqs_endpoint
):
    url, arn = queue
    server = amazon.server
    subscribed(amazon, arn, TRACKING)
    at = NOW + timedelta(hours=2)
    touched = server.touch("shipment_trackings", 5, at=at)
    assert len(touched) == 5
    messages = drain_queue(sqs_endpoint, url)
    notified = {}
    for message in messages:
        detail = message["payload"]["shipmentTrackingMilestoneChangedNotification"][
            "trackingDetail"
        ]
        ((kind, value),) = detail["identifier"].items()
        notified[kind, value["trackingNumber"] if kind == "carrierTracking" else value] = detail
    assert set(notified) == set(touched)
    for (kind, value), detail in notified.items():
        parameter = CARRIER_NUMBER if kind == "carrierTracking" else kind
        answer = amazon.call("GET", SHIPMENT_TRACKING.path, amazon.seller, **{parameter: value})
        assert answer.status_code == 200, answer.text
        assert answer.json()["trackingDetail"] == detail
        latest = detail["latestMilestone"]
        assert detail["milestoneHistory"][0] == latest
        assert latest["occurredAt"] >= at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_touching_trackings_advances_open_identifiers_until_delivered():
    with serve(None) as server:
        data = server.dataset
        moving = [k for k, d in data.shipment_trackings.items()
                  if d["latestMilestone"]["status"]["code"] != "DELIVERED"]  # fmt: skip
        at = NOW + timedelta(hours=1)
        first = server.touch("shipment_trackings", len(data.shipment_trackings), at=at)
        assert len(first) == len(moving)
        for _ in range(10):
            at += timedelta(hours=1)
            server.touch("shipment_trackings", len(data.shipment_trackings), at=at)
        codes = {d["latestMilestone"]["status"]["code"] for d in data.shipment_trackings.values()}
        assert codes == {"DELIVERED"}
        assert server.touch("shipment_trackings", 5, at=at) == []


def test_duplicates_repeat_one_notification_id_and_body(sqs_endpoint, queue):
    url, arn = queue
    live = LiveBehaviours(notification_duplicates=1.0, notification_reorder=False)
    with serve(sqs_endpoint, live) as server:
        amazon = Amazon(server)
        subscribed(amazon, arn, ORDER)
        touched = server.touch("orders", 3, at=NOW + timedelta(hours=1))
        messages = drain_queue(sqs_endpoint, url)
    copies = Counter(_metadata(m)["notificationId"] for m in messages)
    assert len(copies) == len(touched)
    assert all(2 <= n <= 10 for n in copies.values())
    for notification_id in copies:
        bodies = {json.dumps(m, sort_keys=True) for m in messages
                  if _metadata(m)["notificationId"] == notification_id}  # fmt: skip
        assert len(bodies) == 1  # every copy the same notification


def _tracking_key(message: dict[str, Any]) -> tuple[str, str]:
    detail = message["payload"][TRACKING_BODY]["trackingDetail"]
    ((kind, value),) = detail["identifier"].items()
    return kind, value["trackingNumber"] if kind == "carrierTracking" else value


def test_notifications_arrive_out_of_order_as_the_seed_says(sqs_endpoint, queue):
    url, arn = queue
    live = LiveBehaviours(notification_duplicates=1.0, notification_reorder=True)
    with serve(sqs_endpoint, live) as server:
        subscribed(Amazon(server), arn, TRACKING)
        first_at, second_at = NOW + timedelta(hours=1), NOW + timedelta(hours=2)
        first = server.touch("shipment_trackings", 100, at=first_at)
        first_messages = drain_queue(sqs_endpoint, url)
        held = server.notifications.publisher.held_back()
        second = server.touch("shipment_trackings", 100, at=second_at)
        second_messages = drain_queue(sqs_endpoint, url)
    assert held > 0  # copies kept back for later
    # One change's notifications arrive shuffled, not in the order the records changed.
    first_seen = list(dict.fromkeys(_tracking_key(m) for m in first_messages))
    assert set(first_seen) == set(first) and first_seen != first
    # Late copies of the first touch's notifications arrive after the second touch's
    # notification about the same identifier (those delivered at the first touch have
    # no newer one: their late copies wait).
    first_ids = {_metadata(m)["notificationId"] for m in first_messages}
    late = [
        (index, _tracking_key(m)) for index, m in enumerate(second_messages)
        if _metadata(m)["notificationId"] in first_ids
    ]  # fmt: skip
    assert late
    newer: dict[tuple[str, str], int] = {}
    for index, message in enumerate(second_messages):
        if _metadata(message)["notificationId"] not in first_ids:
            newer.setdefault(_tracking_key(message), index)
    assert {key for _, key in late} <= set(second)
    assert all(index > newer[key] for index, key in late)


def test_the_same_seed_delivers_the_same_sequence(sqs_endpoint):
    def run(seed: int) -> list[str]:
        url, arn = create_queue(sqs_endpoint, f"seeded-{uuid.uuid4().hex[:12]}")
        live = LiveBehaviours(notification_duplicates=0.5, notification_reorder=True)
        with serve(sqs_endpoint, live, seed=seed) as server:
            subscribed(Amazon(server), arn, MCF)
            server.touch("outbound_orders", 8, at=NOW + timedelta(hours=1))
            server.touch("outbound_orders", 8, at=NOW + timedelta(hours=2))
            return [_metadata(m)["notificationId"] for m in drain_queue(sqs_endpoint, url)]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_nothing_is_published_without_a_subscription(amazon, queue, sqs_endpoint):
    url, arn = queue
    amazon.destination(arn)
    server = amazon.server
    server.touch("orders", 2, at=NOW + timedelta(hours=1))
    server.schedule_report(REPORT_TYPE, MONTH_AGO, NOW, refresh_token=amazon.refresh_token)
    assert drain_queue(sqs_endpoint, url) == []
    # Another seller's subscription: its own notifications only.
    destination_id = amazon.call("GET", f"{BASE}/destinations", amazon.grantless).json()["payload"][
        0
    ]["destinationId"]
    other = amazon.seller_token(OTHER_SELLER)
    assert amazon.subscribe(REPORT, destination_id, token=other).status_code == 200
    server.schedule_report(REPORT_TYPE, MONTH_AGO, NOW, refresh_token=amazon.refresh_token)
    assert drain_queue(sqs_endpoint, url) == []
    server.schedule_report(REPORT_TYPE, MONTH_AGO, NOW, refresh_token=OTHER_SELLER)
    (message,) = drain_queue(sqs_endpoint, url)
    body = message["payload"]["reportProcessingFinishedNotification"]
    assert body["sellerId"] == StandIn.seller_id_of(OTHER_SELLER)


def test_nothing_is_published_without_an_endpoint(sqs_endpoint, queue):
    url, arn = queue
    with serve(None) as server:
        amazon = Amazon(server)
        subscribed(amazon, arn, ORDER, TRACKING)
        server.touch("orders", 2, at=NOW + timedelta(hours=1))
        server.touch("shipment_trackings", 2, at=NOW + timedelta(hours=1))
        assert drain_queue(sqs_endpoint, url) == []
        server.config.sqs_endpoint_url = sqs_endpoint  # read while serving
        touched = server.touch("orders", 1, at=NOW + timedelta(hours=2))
        (message,) = drain_queue(sqs_endpoint, url)
    assert message["Payload"]["OrderChangeNotification"]["AmazonOrderId"] == touched[0]


def test_deleting_a_subscription_stops_its_notifications(amazon, queue, sqs_endpoint):
    url, arn = queue
    ids = subscribed(amazon, arn, ORDER)
    amazon.server.touch("orders", 1, at=NOW + timedelta(hours=1))
    assert len(drain_queue(sqs_endpoint, url)) == 1
    path = f"{BASE}/subscriptions/{ORDER}/{ids[ORDER]}"
    assert amazon.call("DELETE", path, amazon.grantless).status_code == 200
    amazon.server.touch("orders", 1, at=NOW + timedelta(hours=2))
    assert drain_queue(sqs_endpoint, url) == []


def test_a_created_report_is_announced_when_it_finishes(amazon, queue, sqs_endpoint):
    url, arn = queue
    subscribed(amazon, arn, REPORT)
    server = amazon.server
    spec = {"reportType": REPORT_TYPE, "marketplaceIds": ["ATVPDKIKX0DER"],
            "dataStartTime": MONTH_AGO.isoformat(),
            "dataEndTime": NOW.isoformat()}  # fmt: skip
    server.reports.script(REPORT_TYPE, "CANCELLED")
    cancelled = amazon.call("POST", "/reports/2021-06-30/reports", amazon.seller, spec)
    server.config.report_processing_seconds = 3600.0  # still processing while the test runs
    pending = amazon.call("POST", "/reports/2021-06-30/reports", amazon.seller, spec)
    (message,) = drain_queue(sqs_endpoint, url)
    body = message["payload"]["reportProcessingFinishedNotification"]
    assert body["reportId"] == cancelled.json()["reportId"]
    assert body["processingStatus"] == "CANCELLED" and "reportDocumentId" not in body
    report_id = pending.json()["reportId"]
    path = f"/reports/2021-06-30/reports/{report_id}"
    assert amazon.call("GET", path, amazon.seller).json()["processingStatus"] == "IN_QUEUE"
    assert drain_queue(sqs_endpoint, url) == []
    server.reports.reports[report_id].ready_at = time.monotonic()  # processing is over
    done = amazon.call("GET", path, amazon.seller).json()
    assert done["processingStatus"] == "DONE"
    (message,) = drain_queue(sqs_endpoint, url)  # there before the client saw DONE
    body = message["payload"]["reportProcessingFinishedNotification"]
    assert (body["reportId"], body["reportDocumentId"]) == (report_id, done["reportDocumentId"])
    amazon.call("GET", path, amazon.seller)
    assert drain_queue(sqs_endpoint, url) == []  # announced once
