"""Notifications v1: destinations, subscriptions, and the notifications Amazon sends.

The operations follow the model (models/notifications.json): destinations belong to the
application and take a grantless token (scope `sellingpartnerapi::notifications`), as do
getSubscriptionById and deleteSubscriptionById; getSubscriptions, getSubscription and
createSubscription take a seller's token, a subscription belonging to that selling
partner. Amazon's answers where the model is silent, from users of the live API: a second
destination for one queue ARN is 409 Conflict (docs #2072, docs #1800), a second
subscription of one type for one seller is 409 too (docs #1850), and a destination that
still has subscriptions cannot be deleted (docs #1800). Destinations are SQS queues only
here, and a subscription's `processingDirective` is checked and echoed but filters
nothing.

A selling partner is the refresh token behind the access token; its made-up seller id
(`seller_id_of`) is what the notifications name. The data set has one seller's records,
so every subscribed seller hears of every change of it, and of its own reports.

What is published, once a subscription of its type exists and `sqs_endpoint_url` is set,
each body shaped as the schemas of models/notifications/ say (1.0 payloads PascalCase,
newer ones camelCase; the tracking schema does not resolve, its example and
getShipmentTracking's `trackingDetail` give the shape):

- SHIPMENT_TRACKING_MILESTONE_CHANGED (2026-01-30), on `touch("shipment_trackings")`: the
  `trackingDetail` getShipmentTracking answers for the identifier at that moment;
- FULFILLMENT_ORDER_STATUS (1.0), on `touch("outbound_orders")`: the MCF order's status
  and, once it has shipped, its newest shipment with the packages' tracking numbers
  (EventType `Shipment`; `Order` before). Amazon's schema, generated from one example
  holding a shipment and a return, requires both; a notification carries the one its
  EventType names (MWS FulfillmentOrderStatusNotification), never a made-up return;
- ORDER_CHANGE (1.0), on `touch("orders")`: an OrderStatusChange per order;
- REPORT_PROCESSING_FINISHED (2020-09-04), when a report reaches DONE, CANCELLED or
  FATAL (reports.py), including reports Amazon's schedule makes (`StandIn.schedule_report`).

`eventTime` is the change's time (the touch's `at`, a report's finishing), `publishTime` a
seeded moment up to two seconds later, `notificationId` a UUID drawn from the seed, the
record and how many notifications it had before, so runs repeat. Delivery (publisher.py)
adds live Amazon's duplicates and disorder.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import re
import string
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from spapi_standin.page_tokens import decode_token, encode_token
from spapi_standin.publisher import Notice, Publisher
from spapi_standin.replies import Reply, error, invalid_input, json_reply
from spapi_standin.shipment_tracking import CARRIER_NUMBER

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from spapi_standin.config import StandInConfig
    from spapi_standin.data import Dataset, Record
    from spapi_standin.reports import Report, ReportsService
    from spapi_standin.request import Request

TRACKING = "SHIPMENT_TRACKING_MILESTONE_CHANGED"
MCF_ORDER_STATUS = "FULFILLMENT_ORDER_STATUS"
ORDER_CHANGE = "ORDER_CHANGE"
REPORT_FINISHED = "REPORT_PROCESSING_FINISHED"
TRACKING_PAYLOAD = "shipmentTrackingMilestoneChangedNotification"
SQS_ARN = re.compile(r"^arn:aws:sqs:\S+:\S+:\S+")  # SqsResource.arn's pattern
MAX_ARN = 1000
MAX_NAME = 256
PAGE_SIZES = range(30, 101)  # getSubscriptions pageSize: minimum 30, maximum 100
DEFAULT_PAGE = 30
NOT_FOUND = "The resource specified does not exist."
SELLER_ALPHABET = string.ascii_uppercase + string.digits
# getFulfillmentOrder's status -> the notification's (the schema's example spells its
# statuses as MWS did: upper case, words joined by underscores).
_WORD = re.compile(r"(?<!^)(?=[A-Z])")
# Orders 2026-01-01 fulfillmentStatus -> ORDER_CHANGE 1.0 Summary.OrderStatus.
ORDER_STATUS = {
    "PENDING_AVAILABILITY": "PendingAvailability",
    "PENDING": "Pending",
    "UNSHIPPED": "Unshipped",
    "PARTIALLY_SHIPPED": "PartiallyShipped",
    "SHIPPED": "Shipped",
    "CANCELLED": "Canceled",
    "UNFULFILLABLE": "Unfulfillable",
}


@dataclass(frozen=True)
class NotificationType:
    """A type the stand-in publishes: its payload version, its envelope's version, and
    whether its keys are PascalCase (the 1.0 payloads)."""

    name: str
    payload_version: str
    notification_version: str
    pascal: bool


TYPES = {
    t.name: t
    for t in (
        NotificationType(TRACKING, "2026-01-30", "1.0", pascal=False),
        NotificationType(MCF_ORDER_STATUS, "1.0", "1.0", pascal=True),
        NotificationType(ORDER_CHANGE, "1.0", "1.0", pascal=True),
        NotificationType(REPORT_FINISHED, "2020-09-04", "2020-09-04", pascal=False),
    )
}
# What a touch of each kind of record publishes.
TOUCH_TYPES = {
    "shipment_trackings": TRACKING,
    "outbound_orders": MCF_ORDER_STATUS,
    "orders": ORDER_CHANGE,
}


def seller_id_of(refresh_token: str) -> str:
    """The made-up selling partner id of a refresh token: `A` and 13 letters or digits,
    the same for the same token (Amazon's look like `A3TH9S8BH6GOGM`)."""
    digest = hashlib.sha256(f"spapi-standin-seller:{refresh_token}".encode()).digest()
    return "A" + "".join(SELLER_ALPHABET[byte % len(SELLER_ALPHABET)] for byte in digest[:13])


def application_id_of(client_id: str) -> str:
    """The made-up application id of an LWA client id (the app the destinations belong to)."""
    return f"amzn1.sp.solution.{uuid.uuid5(uuid.NAMESPACE_URL, f'spapi-standin:{client_id}')}"


def stamp(moment: datetime) -> str:
    """`2026-01-02T03:04:05.678Z`, the form of the notifications' examples."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Destination:
    """An SQS queue notifications go to."""

    destination_id: str
    name: str
    arn: str

    def describe(self) -> dict[str, Any]:
        """The model's `Destination`."""
        return {
            "name": self.name,
            "destinationId": self.destination_id,
            "resource": {"sqs": {"arn": self.arn}},
        }


@dataclass(frozen=True)
class Subscription:
    """A selling partner's subscription to one notification type."""

    subscription_id: str
    notification_type: str
    payload_version: str
    destination_id: str
    account: str  # the refresh token of the selling partner
    processing_directive: dict[str, Any] | None = None

    def describe(self) -> dict[str, Any]:
        """The model's `Subscription`."""
        body: dict[str, Any] = {
            "subscriptionId": self.subscription_id,
            "payloadVersion": self.payload_version,
            "destinationId": self.destination_id,
        }
        if self.processing_directive is not None:
            body["processingDirective"] = self.processing_directive
        return body


@dataclass
class NotificationsService:
    """The Notifications operations, and the notifications of the data's changes."""

    config: StandInConfig
    data: Dataset
    reports: ReportsService
    destinations: dict[str, Destination] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    publisher: Publisher = field(init=False)
    application_id: str = field(init=False)  # whose destinations these are
    # Notifications built per record so far: a notification's id is drawn from its count.
    _sequence: dict[tuple[str, ...], int] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.publisher = Publisher(self.config)
        self.application_id = application_id_of(self.config.client_id)
        self.data.on_touch = self.touched
        self.reports.listener = self

    # -- destinations (grantless) -------------------------------------------------------------

    def get_destinations(self, request: Request) -> Reply:
        """getDestinations: every destination of the application."""
        with self._lock:
            return json_reply({"payload": [d.describe() for d in self.destinations.values()]})

    def create_destination(self, request: Request) -> Reply:
        """createDestination: an SQS destination; one per queue ARN."""
        spec = _json_object(request.body)
        if isinstance(spec, Reply):
            return spec
        name, resource = spec.get("name"), spec.get("resourceSpecification")
        if not isinstance(name, str) or not name or len(name) > MAX_NAME:
            return invalid_input(f"name is required: a string of at most {MAX_NAME} characters.")
        if not isinstance(resource, dict) or set(resource) - {"sqs", "eventBridge"}:
            return invalid_input("resourceSpecification must name one sqs or eventBridge resource.")
        if "eventBridge" in resource:
            return invalid_input("The stand-in delivers notifications to SQS queues only.")
        sqs = resource.get("sqs")
        arn = sqs.get("arn") if isinstance(sqs, dict) else None
        if not isinstance(arn, str) or not SQS_ARN.match(arn) or len(arn) > MAX_ARN:
            return invalid_input("resourceSpecification.sqs.arn must be an SQS queue ARN.")
        with self._lock:
            if any(d.arn == arn for d in self.destinations.values()):
                # Amazon's words (docs #2072, docs #1800).
                return error(
                    409,
                    "Conflict",
                    "The requested resource conflict with a resource in the server.",
                    f"A destination with arn {arn} already exists for the application "
                    f"{self.application_id}",
                )
            destination = Destination(str(uuid.uuid4()), name, arn)
            self.destinations[destination.destination_id] = destination
        return json_reply({"payload": destination.describe()})

    def get_destination(self, request: Request) -> Reply:
        """getDestination: one destination."""
        destination_id = request.params["destinationId"]
        with self._lock:
            destination = self.destinations.get(destination_id)
        if destination is None:
            return _not_found(f"Destination {destination_id} was not found.")
        return json_reply({"payload": destination.describe()})

    def delete_destination(self, request: Request) -> Reply:
        """deleteDestination: refused while subscriptions deliver to it (docs #1800)."""
        destination_id = request.params["destinationId"]
        with self._lock:
            if destination_id not in self.destinations:
                return _not_found(f"Destination {destination_id} was not found.")
            if any(s.destination_id == destination_id for s in self.subscriptions.values()):
                return error(
                    403, "Unauthorized", "The requested action is forbidden.",
                    "Destination has subscriptions",
                )  # fmt: skip
            del self.destinations[destination_id]
        return json_reply({})

    # -- subscriptions ------------------------------------------------------------------------

    def get_subscriptions(self, request: Request) -> Reply:
        """getSubscriptions: the caller's subscriptions of one type, paged."""
        assert request.token is not None
        token = request.first("nextToken")
        if token is not None:
            state = decode_token(token)
            if state is None or "t" not in state:
                return invalid_input("Invalid nextToken.")
        else:
            types = request.csv("notificationTypes") or []
            if len(types) != 1:
                return invalid_input("notificationTypes must name exactly one notification type.")
            size = _page_size(request.first("pageSize"))
            if size is None:
                return invalid_input("pageSize must be an integer from 30 to 100.")
            state = {"t": types[0], "v": request.first("payloadVersion"), "s": size, "o": 0}
        with self._lock:
            found = [
                s
                for s in self.subscriptions.values()
                if s.account == request.token.account
                and s.notification_type == state["t"]
                and state["v"] in (None, s.payload_version)
            ]
        offset, size = state["o"], state["s"]
        payload: dict[str, Any] = {
            "subscriptions": [s.describe() for s in found[offset : offset + size]]
        }
        if offset + size < len(found):
            payload["nextToken"] = encode_token({**state, "o": offset + size})
        return json_reply({"payload": payload})

    def get_subscription(self, request: Request) -> Reply:
        """getSubscription: the caller's subscription of a type (404 when none)."""
        assert request.token is not None
        kind = request.params["notificationType"]
        found = self.subscription_of(request.token.account, kind, request.first("payloadVersion"))
        if found is None:
            return _not_found(f"No subscription of {kind} for this selling partner.")
        return json_reply({"payload": found.describe()})

    def create_subscription(self, request: Request) -> Reply:
        """createSubscription: one subscription per type and selling partner."""
        assert request.token is not None
        kind = TYPES.get(request.params["notificationType"])
        if kind is None:
            return invalid_input(
                f"The stand-in publishes no {request.params['notificationType']} "
                f"notifications (it publishes {', '.join(TYPES)})."
            )
        spec = _json_object(request.body)
        if isinstance(spec, Reply):
            return spec
        version, destination_id = spec.get("payloadVersion"), spec.get("destinationId")
        if not isinstance(version, str) or not isinstance(destination_id, str):
            return invalid_input("payloadVersion and destinationId are required.")
        if version != kind.payload_version:
            return invalid_input(
                f"{kind.name} notifications have payloadVersion {kind.payload_version}."
            )
        directive = spec.get("processingDirective")
        problem = _directive_problem(directive)
        if problem:
            return invalid_input(problem)
        with self._lock:
            if destination_id not in self.destinations:
                return invalid_input(f"Destination {destination_id} does not exist.")
            existing = self.subscription_of(request.token.account, kind.name)
            if existing is not None:
                return error(
                    409,
                    "Conflict",
                    "The resource specified conflicts with the current state.",
                    f"Subscription {existing.subscription_id} of {kind.name} already exists "
                    "for this selling partner.",
                )
            subscription = Subscription(
                str(uuid.uuid4()), kind.name, version, destination_id, request.token.account,
                directive,
            )  # fmt: skip
            self.subscriptions[subscription.subscription_id] = subscription
        return json_reply({"payload": subscription.describe()})

    def get_by_id(self, request: Request) -> Reply:
        """getSubscriptionById (grantless): any subscription of the application."""
        found = self._by_id(request)
        if found is None:
            return _not_found(f"Subscription {request.params['subscriptionId']} was not found.")
        return json_reply({"payload": found.describe()})

    def delete_by_id(self, request: Request) -> Reply:
        """deleteSubscriptionById (grantless): no more notifications for it."""
        with self._lock:
            found = self._by_id(request)
            if found is None:
                return _not_found(f"Subscription {request.params['subscriptionId']} was not found.")
            del self.subscriptions[found.subscription_id]
        return json_reply({})

    def subscription_of(
        self, account: str, kind: str, version: str | None = None
    ) -> Subscription | None:
        """The account's subscription of `kind` (and payload version), if any."""
        with self._lock:
            return next(
                (
                    s
                    for s in self.subscriptions.values()
                    if s.account == account
                    and s.notification_type == kind
                    and version in (None, s.payload_version)
                ),
                None,
            )

    def _by_id(self, request: Request) -> Subscription | None:
        with self._lock:
            found = self.subscriptions.get(request.params["subscriptionId"])
        if found is None or found.notification_type != request.params["notificationType"]:
            return None
        return found

    # -- publishing ---------------------------------------------------------------------------

    def touched(self, kind: str, changed: list[Any], at: datetime) -> Callable[[], None] | None:
        """Dataset.touch's listener (under the data lock): the notices of what changed,
        built from the records as they are now; what it returns sends them."""
        name = TOUCH_TYPES.get(kind)
        if name is None or not changed or self.config.sqs_endpoint_url is None:
            return None
        with self._lock:
            subscribed = [s for s in self.subscriptions.values() if s.notification_type == name]
        notices = [
            self._notice(subscription, key, payload, at)
            for subscription in subscribed
            for key, payload in self._payloads(kind, changed, seller_id_of(subscription.account))
        ]
        return partial(self.publisher.publish, notices) if notices else None

    def listening(self, account: str) -> bool:
        """Whether the account's finished reports are published (reports.py asks)."""
        return (
            self.config.sqs_endpoint_url is not None
            and self.subscription_of(account, REPORT_FINISHED) is not None
        )

    def finished(self, report: Report) -> None:
        """REPORT_PROCESSING_FINISHED for `report`, to its account's subscription."""
        subscription = self.subscription_of(report.account, REPORT_FINISHED)
        if subscription is None or self.config.sqs_endpoint_url is None:
            return
        seller = seller_id_of(report.account)
        body: dict[str, Any] = {
            "sellerId": seller,
            "accountId": f"amzn1.merchant.o.{seller}",
            "reportId": report.report_id,
            "reportType": report.report_type,
            "processingStatus": report.status(),
        }
        if report.document_id is not None:
            body["reportDocumentId"] = report.document_id
        payload = {"reportProcessingFinishedNotification": body}
        notice = self._notice(subscription, (report.report_id,), payload, datetime.now(UTC))
        self.publisher.publish([notice])

    def _payloads(
        self, kind: str, changed: list[Any], seller: str
    ) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
        """(record key, payload) of each changed record."""
        if kind == "shipment_trackings":
            for kind_of_id, value in changed:
                parameter = CARRIER_NUMBER if kind_of_id == "carrierTracking" else kind_of_id
                # What getShipmentTracking answers (shipment_tracking.py): the detail whole.
                detail = copy.deepcopy(self.data.shipment_trackings[parameter, value])
                changed_detail = {"trackingDetail": detail}
                yield (kind_of_id, value), {TRACKING_PAYLOAD: changed_detail}
        elif kind == "outbound_orders":
            for order_id in changed:
                status = _mcf_status(self.data.outbound_details[order_id], seller)
                yield (order_id,), {"FulfillmentOrderStatusNotification": status}
        elif kind == "orders":
            by_id = {order["orderId"]: order for order in self.data.orders}
            for order_id in changed:
                change = _order_change(by_id[order_id], seller)
                yield (order_id,), {"OrderChangeNotification": change}

    def _notice(
        self,
        subscription: Subscription,
        key: tuple[str, ...],
        payload: dict[str, Any],
        event_time: datetime,
    ) -> Notice:
        kind = TYPES[subscription.notification_type]
        topic = (kind.name, seller_id_of(subscription.account), *key)
        with self._lock:
            count = self._sequence.get(topic, 0)
            self._sequence[topic] = count + 1
        rng = random.Random(f"{self.config.seed}:notification:{'|'.join(topic)}:{count}")
        notification_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        published = event_time + timedelta(milliseconds=rng.randint(20, 2000))
        with self._lock:
            arn = self.destinations[subscription.destination_id].arn
        metadata = {
            "applicationId": self.application_id,
            "subscriptionId": subscription.subscription_id,
            "publishTime": stamp(published),
            "notificationId": notification_id,
        }
        envelope = {
            "notificationVersion": kind.notification_version,
            "notificationType": kind.name,
            "payloadVersion": kind.payload_version,
            "eventTime": stamp(event_time),
            "payload": payload,
            "notificationMetadata": metadata,
        }
        if kind.pascal:
            envelope = {_pascal(k): v for k, v in envelope.items()}
            envelope["NotificationMetadata"] = {_pascal(k): v for k, v in metadata.items()}
        return Notice(arn, topic, notification_id, json.dumps(envelope, separators=(",", ":")))


# -- payloads ------------------------------------------------------------------------------------


def _mcf_status(detail: Record, seller: str) -> dict[str, Any]:
    """FulfillmentOrderStatusNotification of a getFulfillmentOrder payload."""
    order = detail["fulfillmentOrder"]
    body: dict[str, Any] = {
        "SellerId": seller,
        "EventType": "Order",
        "StatusUpdatedDateTime": order["statusUpdatedDate"],
        "SellerFulfillmentOrderId": order["sellerFulfillmentOrderId"],
        "FulfillmentOrderStatus": _WORD.sub("_", order["fulfillmentOrderStatus"]).upper(),
    }
    shipments = detail.get("fulfillmentShipments") or []
    if shipments:
        shipment = max(shipments, key=lambda s: s.get("shippingDate") or "")
        packages = [
            {
                "PackageNumber": package["packageNumber"],
                "CarrierCode": package["carrierCode"],
                "TrackingNumber": package["trackingNumber"],
            }
            for package in shipment.get("fulfillmentShipmentPackage") or []
        ]
        body["EventType"] = "Shipment"
        body["FulfillmentShipment"] = {
            "FulfillmentShipmentStatus": shipment["fulfillmentShipmentStatus"],
            "AmazonShipmentId": shipment["amazonShipmentId"],
            "EstimatedArrivalDateTime": shipment["estimatedArrivalDate"],
            # Required by the schema, described nowhere: its example repeats the first
            # package here.
            "info": dict(packages[0]) if packages else {},
            "FulfillmentShipmentPackages": packages,
        }
    return body


def _order_change(order: Record, seller: str) -> dict[str, Any]:
    """OrderChangeNotification (OrderStatusChange, OrderLevel) of an Orders 2026 order."""
    fulfillment = order.get("fulfillment") or {}
    status = fulfillment.get("fulfillmentStatus") or "PENDING"
    items = [_order_item(item, status) for item in order["orderItems"]]
    shipped = sum(item["QuantityShipped"] for item in items)
    address = (order.get("recipient") or {}).get("deliveryAddress") or {}
    summary: dict[str, Any] = {
        "MarketplaceId": order["salesChannel"]["marketplaceId"],
        "OrderStatus": ORDER_STATUS[status],
        "PurchaseDate": order.get("createdTime"),
        "DestinationPostalCode": address.get("postalCode"),
        "FulfillmentType": "MFN" if fulfillment.get("fulfilledBy") == "MERCHANT" else "AFN",
        "OrderType": "StandardOrder",
        "NumberOfItemsShipped": shipped,
        "NumberOfItemsUnshipped": sum(item["Quantity"] for item in items) - shipped,
    }
    windows = [("shipByWindow", "ShipDate")]
    if summary["FulfillmentType"] == "MFN":  # "Returned only for seller-fulfilled orders"
        windows.append(("deliverByWindow", "DeliveryDate"))
    for window, name in windows:
        for bound, prefix in (("earliestDateTime", "Earliest"), ("latestDateTime", "Latest")):
            value = (fulfillment.get(window) or {}).get(bound)
            if value:
                summary[prefix + name] = value
    summary["OrderItems"] = items
    return {
        "NotificationLevel": "OrderLevel",
        "SellerId": seller,
        "AmazonOrderId": order["orderId"],
        "OrderChangeType": "OrderStatusChange",
        "OrderChangeTrigger": {
            "TimeOfOrderChange": order.get("lastUpdatedTime"),
            "ChangeReason": "Order status changed",
        },
        "Summary": summary,
    }


def _order_item(item: Record, status: str) -> dict[str, Any]:
    quantity = int(item.get("quantityOrdered") or 0)
    shipped = {"SHIPPED": quantity, "PARTIALLY_SHIPPED": quantity // 2}.get(status, 0)
    return {
        "OrderItemId": item["orderItemId"],
        "SellerSKU": (item.get("product") or {}).get("sellerSku") or "",
        "SupplySourceId": None,
        "OrderItemStatus": "Shipped" if quantity and shipped == quantity else "Unshipped",
        "Quantity": quantity,
        "QuantityShipped": shipped,
    }


# -- helpers -------------------------------------------------------------------------------------


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def _not_found(details: str) -> Reply:
    return error(404, "NotFound", NOT_FOUND, details)


def _json_object(body: bytes) -> dict[str, Any] | Reply:
    try:
        document = json.loads(body or b"null")
    except ValueError:
        return invalid_input("The request body is not valid JSON.")
    if not isinstance(document, dict):
        return invalid_input("The request body must be a JSON object.")
    return document


def _page_size(raw: str | None) -> int | None:
    if raw is None:
        return DEFAULT_PAGE
    return int(raw) if raw.isdigit() and int(raw) in PAGE_SIZES else None


def _directive_problem(directive: object) -> str | None:
    """Why a processingDirective is refused (None: accepted, or absent)."""
    if directive is None:
        return None
    if not isinstance(directive, dict):
        return "processingDirective must be an object."
    if "eventFilter" in directive and "filterExpression" in directive:
        return "eventFilter and filterExpression are mutually exclusive."
    event_filter = directive.get("eventFilter")
    if event_filter is not None and not (
        isinstance(event_filter, dict) and isinstance(event_filter.get("eventFilterType"), str)
    ):
        return "processingDirective.eventFilter needs an eventFilterType."
    expression = directive.get("filterExpression")
    if expression is not None and not (isinstance(expression, str) and 1 <= len(expression) <= 256):
        return "processingDirective.filterExpression must be 1 to 256 characters."
    return None
