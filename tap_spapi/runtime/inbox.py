"""Amazon's notifications, read from the seller's SQS queue once per run (`Inbox`).

Amazon pushes what changed (a tracking milestone, an MCF order's status, an order, a
finished report) through its Notifications API into a standard SQS queue the seller
owns (`notifications_queue_url`; `tap-spapi-notifications setup` subscribes). The tap
reads the queue once, at the start of the first stream that needs it (`drain`), and
the streams use what it holds: shipment_tracking emits a notified tracking with no request, and
asks Amazon only for identifiers the notifications do not cover (`due`).

Delivery is at least once: the same notification up to 10 times, hours late, out of
order (LIVE-AMAZON.md, #2616, #4509). So:

- a message is deleted from the queue only when a later run starts from a state that
  records its notification as processed (with Meltano: the state the target committed).
  Until then its visibility timeout hides it from other readers, and at the end of the
  run it is made visible again, for the next run to delete (or, if the state never
  reached the target, to process again);
- the `notifications` stream records each processed id in its state when it syncs, last
  of all streams, after every record a notification gave; a bounded, expiring list
  (`PROCESSED_KEEP`, `PROCESSED_LIMIT`) that also drops later duplicates;
- a notification older than what a stream already loaded yields nothing (the streams'
  own bookmarks: shipment_tracking keeps each identifier's newest milestone).

A report stream waiting for the reports it asked for reads the queue again
(`receive_more`) for REPORT_PROCESSING_FINISHED only: those become news like the
first read's; any other message read then is only held, and made visible again at the
end of the run, since the stream it serves may have synced already.

boto3 comes with the `notifications` extra (`pip install 'tap-spapi[notifications]'`);
AWS credentials come from botocore's usual chain (environment, profile, instance role).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import re
import threading
import zlib
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from tap_spapi.amazon.report_types import REPORT_TYPES
from tap_spapi.errors import SettingError, TapSpapiError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

TRACKING_CHANGED = "SHIPMENT_TRACKING_MILESTONE_CHANGED"
MCF_ORDER_STATUS = "FULFILLMENT_ORDER_STATUS"
ORDER_CHANGE = "ORDER_CHANGE"
REPORT_FINISHED = "REPORT_PROCESSING_FINISHED"

#: Each notification type the tap reads, and the payload version it reads (the schemas of
#: models/notifications); in the order the setup command subscribes them.
PAYLOAD_VERSIONS: Mapping[str, str] = MappingProxyType(
    {
        TRACKING_CHANGED: "2026-01-30",
        MCF_ORDER_STATUS: "1.0",
        ORDER_CHANGE: "1.0",
        REPORT_FINISHED: "2020-09-04",
    }
)

#: Stream -> the notification type that says when its records change: the one table of
#: which notifications serve which streams (the setup command subscribes the types of the
#: selected streams; the tap reads them for the same streams). Names, not the stream
#: classes: the streams may import this module.
STREAM_NOTIFICATION_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "shipment_tracking": TRACKING_CHANGED,
        "shipment_tracking_milestones": TRACKING_CHANGED,
        **dict.fromkeys(
            (
                "outbound_orders",
                "outbound_shipments",
                "outbound_package_tracking",
                "outbound_order_items",
                "outbound_returns",
                "outbound_return_authorizations",
            ),
            MCF_ORDER_STATUS,
        ),
        **dict.fromkeys(("orders", "order_items", "order_packages"), ORDER_CHANGE),
        **dict.fromkeys((report.stream_name for report in REPORT_TYPES), REPORT_FINISHED),
    }
)

#: The state key of the processed notification ids, `{id: epoch second processed}`.
PROCESSED = "processed"
# How long a processed id is remembered: Amazon's duplicates come up to 24 h late.
PROCESSED_KEEP = datetime.timedelta(hours=48)
# At most this many ids are remembered (the newest): about 50 bytes each in the state.
PROCESSED_LIMIT = 20_000
# Messages read per run at most; the rest wait in the queue for the next run.
MESSAGES_PER_RUN = 100_000
# Messages read at most by one pass of `receive_more` (a wait between report polls).
MESSAGES_PER_PASS = 1_000
# How long a received message stays hidden from other readers while the run works.
VISIBILITY_SECONDS = 1800
# A receive waits this long for messages (long polling asks every SQS server; a short
# poll samples some, and may come back empty while messages wait).
RECEIVE_WAIT_SECONDS = 1
SQS_BATCH = 10  # ReceiveMessage, DeleteMessageBatch and ChangeMessageVisibilityBatch
_QUEUE_URL = re.compile(r"^https?://sqs[.-]([a-z0-9-]+)\.amazonaws\.com(\.cn)?/")


@dataclass(frozen=True)
class Notification:
    """One notification as Amazon sent it, read from either key casing: version 1.0
    payloads use PascalCase (`NotificationMetadata.NotificationId`), newer ones
    camelCase (`notificationMetadata.notificationId`)."""

    notification_id: str
    notification_type: str
    payload_version: str | None
    event_time: str | None
    publish_time: str | None
    subscription_id: str | None
    payload: dict[str, Any]

    def record(self) -> dict[str, Any]:
        """The `notifications` stream's record (without account and seller)."""
        return {
            "notificationId": self.notification_id,
            "notificationType": self.notification_type,
            "payloadVersion": self.payload_version,
            "eventTime": self.event_time,
            "publishTime": self.publish_time,
            "subscriptionId": self.subscription_id,
            "payload": self.payload,
        }

    def tracking_detail(self) -> dict[str, Any] | None:
        """SHIPMENT_TRACKING_MILESTONE_CHANGED's `trackingDetail`: what getShipmentTracking
        answers (the schema's root does not resolve; its example and the Tracking model's
        TrackingDetail give the shape)."""
        body = self.payload.get("shipmentTrackingMilestoneChangedNotification") or {}
        detail = body.get("trackingDetail")
        return detail if isinstance(detail, dict) else None


def _get(data: Mapping[str, Any], camel: str) -> Any:
    """`data[camel]`, or its PascalCase twin."""
    if camel in data:
        return data[camel]
    return data.get(camel[:1].upper() + camel[1:])


def parse_notification(body: str) -> Notification | None:
    """The notification of an SQS message body; None if it is not one of Amazon's."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    metadata = _get(data, "notificationMetadata") or {}
    payload = _get(data, "payload")
    notification_id = isinstance(metadata, dict) and _get(metadata, "notificationId")
    kind = _get(data, "notificationType")
    if not notification_id or not isinstance(kind, str) or not isinstance(payload, dict):
        return None
    return Notification(
        notification_id=str(notification_id),
        notification_type=kind,
        payload_version=_get(data, "payloadVersion"),
        event_time=_get(data, "eventTime"),
        publish_time=_get(metadata, "publishTime"),
        subscription_id=_get(metadata, "subscriptionId"),
        payload=payload,
    )


def tracked_identifier(detail: Mapping[str, Any]) -> tuple[str, str] | None:
    """(identifierType, identifierValue) of a trackingDetail, as the tap asks for it
    (`carrierTracking` by its tracking number)."""
    identifier = detail.get("identifier")
    if not isinstance(identifier, dict) or len(identifier) != 1:
        return None
    ((kind, value),) = identifier.items()
    if isinstance(value, dict):  # carrierTracking: {trackingNumber, carrierCode}
        value = value.get("trackingNumber")
    return (kind, str(value)) if value else None


def newest_milestone(detail: Mapping[str, Any]) -> str:
    """The newest `occurredAt` of a trackingDetail ("" if none): ISO 8601 UTC times of
    one format compare as text."""
    latest = (detail.get("latestMilestone") or {}).get("occurredAt") or ""
    history = [m.get("occurredAt") or "" for m in detail.get("milestoneHistory") or []]
    return max([latest, *history])


def region_of(queue_url: str) -> str | None:
    """The AWS region of an SQS queue URL (`https://sqs.us-east-1.amazonaws.com/…`)."""
    found = _QUEUE_URL.match(queue_url)
    return found.group(1) if found else None


def due(kind: str, value: str, last: int | None, now: int, period: int) -> bool:
    """Whether an identifier that notifications cover is polled anyway this run (the
    backstop): once per `period` seconds, each identifier at a phase of its own, so
    the polls spread evenly over the runs of a period. `last`: the previous run's start
    (None: never, so due). Nothing to remember per identifier."""
    if last is None or period <= 0:
        return True
    phase = zlib.crc32(f"{kind}:{value}".encode()) % period
    return (now - phase) // period > (last - phase) // period


def kept_processed(processed: Mapping[str, int], now: int) -> dict[str, int]:
    """The processed ids still worth remembering: younger than `PROCESSED_KEEP`, the
    newest `PROCESSED_LIMIT` of them."""
    young = {k: v for k, v in processed.items() if v >= now - PROCESSED_KEEP.total_seconds()}
    if len(young) > PROCESSED_LIMIT:
        newest = sorted(young.items(), key=lambda item: item[1])[-PROCESSED_LIMIT:]
        young = dict(newest)
    return young


def _one_by_one(action: Callable[[Any], None], items: list[Any]) -> None:
    for item in items:
        action(item)


@dataclass
class _Held:
    """Receipt handles of messages this run received and did not delete."""

    receipts: list[str] = field(default_factory=list)


class Inbox:
    """The notifications of one run, read from the queue once (`drain`).

    `subscription_of(account, type)` answers getSubscription for an account (None: no
    subscription): the subscription ids say whose a message is, and a subscription says
    which accounts notifications cover. `processed`: the ids the incoming state records.
    """

    def __init__(
        self,
        *,
        queue_url: str,
        region: str | None,
        endpoint_url: str | None,
        accounts: Iterable[str],
        types: Iterable[str],
        subscription_of: Callable[[str, str], str | None],
        processed: Mapping[str, int],
        for_each: Callable[[Callable[[Any], None], list[Any]], None] | None = None,
        client: Any = None,
    ) -> None:
        self.queue_url = queue_url
        self._region = region or region_of(queue_url) or "us-east-1"
        self._endpoint_url = endpoint_url
        self._accounts = list(accounts)
        self._types = list(types)
        self._subscription_of = subscription_of
        self._processed = processed
        self._for_each = for_each or _one_by_one
        self._client = client
        self._lock = threading.Lock()
        self._drained = False
        self._held = _Held()
        self._owners: dict[str, str] = {}  # subscription id -> account (`drain`)
        self._seen: set[str] = set()  # the ids received this run
        #: account -> type -> subscribed (getSubscription answered one).
        self.covered: dict[str, set[str]] = {}
        #: The run's new notifications, per account, each id once, in the order received.
        self.news: dict[str, dict[str, Notification]] = {}
        #: Messages deleted (processed by an earlier run), and duplicates dropped.
        self.acknowledged = 0
        self.duplicates = 0
        self.foreign = 0
        #: Why the queue could not be read this run (None: it was).
        self.failure: TapSpapiError | None = None

    @property
    def client(self) -> Any:
        """boto3's SQS client (boto3 comes with the `notifications` extra)."""
        if self._client is None:
            try:
                import boto3  # optional: imported only when the queue is set
            except ImportError as exc:
                raise SettingError(
                    "notifications_queue_url",
                    "needs boto3: pip install 'tap-spapi[notifications]'",
                ) from exc
            self._client = boto3.client(
                "sqs", region_name=self._region, endpoint_url=self._endpoint_url
            )
        return self._client

    def drain(self) -> None:
        """Read the queue (once a run): subscriptions first, then every message."""
        with self._lock:
            if self._drained:
                return
            self._drained = True
            self._owners = self._subscriptions()
            try:
                with self._reading():
                    self._receive_until_empty(MESSAGES_PER_RUN, None)
            except TapSpapiError as exc:
                # The queue cannot be read (its URL, credentials, an outage): this run
                # polls everything, as without notifications, and fails at its end
                # (the `notifications` stream reports it); nothing read was processed.
                self.failure = exc
                self.covered = {account: set() for account in self._accounts}
                self.news = {}

    def receive_more(self, kinds: frozenset[str]) -> list[Notification]:
        """Read the queue again during the run, for notifications of `kinds` only (a
        report stream waiting for its reports): one pass of receives until the queue
        gives nothing (at most `MESSAGES_PER_PASS`). The new ones of `kinds` for the
        run's accounts become news, as `drain`'s (the `notifications` stream, synced
        last, emits them); those an earlier run processed are deleted; every other
        message is only held, for `release` to make visible again: it is not news, since
        the stream it is for may have synced already, and the next run reads it.
        Returns the new notifications."""
        self.drain()
        if self.failure is not None:
            return []  # this run polls: the queue could not be read at its start
        with self._lock, self._reading():
            return self._receive_until_empty(MESSAGES_PER_PASS, kinds)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except TapSpapiError:
            raise
        except Exception as exc:  # botocore's errors: one line naming the setting
            raise SettingError(
                "notifications_queue_url", f"reading {self.queue_url} failed: {exc}"
            ) from exc

    def _receive_until_empty(self, limit: int, kinds: frozenset[str] | None) -> list[Notification]:
        """Receive until the queue gives nothing (or `limit` messages): the new ones of
        `kinds` (None: of every kind) become news and are returned; those the incoming
        state records are deleted; every other message is held (`release`)."""
        new: list[Notification] = []
        received = 0
        while received < limit:
            messages = self._receive()
            if not messages:
                break
            received += len(messages)
            done: list[str] = []
            for message in messages:
                receipt = message["ReceiptHandle"]
                notification = parse_notification(message.get("Body") or "")
                if notification is None:
                    self.foreign += 1  # not Amazon's: left in the queue for its owner
                    self._held.receipts.append(receipt)
                elif notification.notification_id in self._processed:
                    done.append(receipt)  # an earlier run's, and the target has it
                elif kinds is not None and notification.notification_type not in kinds:
                    self._held.receipts.append(receipt)  # for the next run: not news
                elif self._keep(notification, receipt):
                    new.append(notification)
            self._delete(done)
        return new

    def _receive(self) -> list[dict[str, Any]]:
        answer = self.client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=SQS_BATCH,
            VisibilityTimeout=VISIBILITY_SECONDS,
            WaitTimeSeconds=RECEIVE_WAIT_SECONDS,
        )
        return list(answer.get("Messages") or [])

    def _subscriptions(self) -> dict[str, str]:
        """subscription id -> account, for the run's accounts and types."""
        owners: dict[str, str] = {}
        found = threading.Lock()
        for account in self._accounts:
            self.covered[account] = set()

        def ask(pair: tuple[str, str]) -> None:
            account, kind = pair
            subscription = self._subscription_of(account, kind)
            if subscription:
                with found:
                    owners[subscription] = account
                    self.covered[account].add(kind)

        # One getSubscription per account and type: the accounts' plans are their own,
        # so they are asked side by side (`for_each`), each account's in turn.
        self._for_each(ask, [(a, k) for a in self._accounts for k in self._types])
        return owners

    def _keep(self, notification: Notification, receipt: str) -> bool:
        """Hold the message; its notification is news if it is the run's and new."""
        self._held.receipts.append(receipt)
        account = self._owners.get(notification.subscription_id or "")
        if account is None:
            self.foreign += 1  # another shard's, or another app's: left for them
            return False
        if notification.notification_id in self._seen:
            self.duplicates += 1
            return False
        self._seen.add(notification.notification_id)
        self.news.setdefault(account, {})[notification.notification_id] = notification
        return True

    def _delete(self, receipts: list[str]) -> None:
        self._in_batches(self.client.delete_message_batch, receipts)
        self.acknowledged += len(receipts)

    def _in_batches(self, send: Callable[..., Any], receipts: list[str], **entry: Any) -> None:
        """`send` (a batch operation of SQS) for `receipts`, `SQS_BATCH` at a time, each
        entry with `entry`'s fields too."""
        for start in range(0, len(receipts), SQS_BATCH):
            batch = receipts[start : start + SQS_BATCH]
            send(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(n), "ReceiptHandle": r, **entry} for n, r in enumerate(batch)],
            )

    def release(self) -> None:
        """Make the messages this run received and kept visible again (the end of a
        run): the next run deletes those its state records as processed, and reads the
        others again. A run killed before this leaves them hidden for
        `VISIBILITY_SECONDS`, then the same happens."""
        with self._lock:
            receipts, self._held = self._held.receipts, _Held()
        self._in_batches(self.client.change_message_visibility_batch, receipts, VisibilityTimeout=0)

    def covers(self, account: str, kind: str) -> bool:
        """Whether the account has a subscription of `kind` (read by `drain`)."""
        self.drain()
        return kind in self.covered.get(account, set())

    def of_type(self, account: str, kind: str) -> list[Notification]:
        """The account's new notifications of `kind`, in the order received."""
        self.drain()
        return [n for n in self.news.get(account, {}).values() if n.notification_type == kind]

    def mcf_orders(self, account: str) -> list[str]:
        """The MCF orders (seller fulfillment order ids) the account's
        FULFILLMENT_ORDER_STATUS notifications name, each once, in the order notified."""
        ids: dict[str, None] = {}
        for notification in self.of_type(account, MCF_ORDER_STATUS):
            status = notification.payload.get("FulfillmentOrderStatusNotification") or {}
            if status.get("SellerFulfillmentOrderId"):
                ids[str(status["SellerFulfillmentOrderId"])] = None
        return list(ids)

    def trackings(self, account: str) -> dict[tuple[str, str], dict[str, Any]]:
        """The newest trackingDetail notified per identifier of the account (a late or
        duplicate notification never wins over a newer one)."""
        newest: dict[tuple[str, str], dict[str, Any]] = {}
        for notification in self.of_type(account, TRACKING_CHANGED):
            detail = notification.tracking_detail()
            identifier = detail and tracked_identifier(detail)
            if not detail or not identifier:
                continue
            known = newest.get(identifier)
            if known is None or newest_milestone(detail) > newest_milestone(known):
                newest[identifier] = detail
        return newest
