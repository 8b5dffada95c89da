"""The notifications inbox on its own: both key casings, acknowledgement only of what an
earlier run's state records, duplicates, other owners' messages, the backstop's spread
and the bounded list of processed ids. Against moto's SQS in-process (the tap against
the stand-in publishing into moto's server: tests/tap/test_notifications_queue.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
import jsonschema
import pytest
from moto import mock_aws

from tap_spapi.runtime.inbox import (
    PROCESSED_KEEP,
    PROCESSED_LIMIT,
    TRACKING_CHANGED,
    Inbox,
    due,
    kept_processed,
    parse_notification,
    region_of,
    tracked_identifier,
)
from testkit import REPO

if TYPE_CHECKING:
    from collections.abc import Iterator

SUBSCRIPTION = {"default": "sub-default", "other": "sub-other"}


def _tracking(notification_id: str, subscription: str, value: str, at: str) -> str:
    """A SHIPMENT_TRACKING_MILESTONE_CHANGED body (camelCase, as its schema's example)."""
    return json.dumps(
        {
            "notificationVersion": "1.0",
            "notificationType": TRACKING_CHANGED,
            "payloadVersion": "2026-01-30",
            "eventTime": at,
            "notificationMetadata": {
                "applicationId": "amzn1.sellerapps.app.test",
                "subscriptionId": subscription,
                "publishTime": at,
                "notificationId": notification_id,
            },
            "payload": {
                "shipmentTrackingMilestoneChangedNotification": {
                    "trackingDetail": {
                        "identifier": {"aftn": value},
                        "latestMilestone": {"status": {"code": "IN_TRANSIT"}, "occurredAt": at},
                        "milestoneHistory": [{"status": {"code": "IN_TRANSIT"}, "occurredAt": at}],
                    }
                }
            },
        }
    )


def _order_change(notification_id: str, subscription: str) -> str:
    """An ORDER_CHANGE body (payload version 1.0: PascalCase)."""
    return json.dumps(
        {
            "NotificationVersion": "1.0",
            "NotificationType": "ORDER_CHANGE",
            "PayloadVersion": "1.0",
            "EventTime": "2026-12-01T00:00:00Z",
            "Payload": {"OrderChangeNotification": {"AmazonOrderId": "111-1", "SellerId": "A1"}},
            "NotificationMetadata": {
                "ApplicationId": "amzn1.sellerapps.app.test",
                "SubscriptionId": subscription,
                "PublishTime": "2026-12-01T00:00:01Z",
                "NotificationId": notification_id,
            },
        }
    )


@pytest.fixture
def queue() -> Iterator[tuple[Any, str]]:
    with mock_aws():
        client = boto3.client("sqs", region_name="us-east-1")
        url = client.create_queue(QueueName="spapi")["QueueUrl"]
        yield client, url


def _inbox(client: Any, url: str, processed: dict[str, int] | None = None) -> Inbox:
    return Inbox(
        queue_url=url,
        region=None,
        endpoint_url=None,
        accounts=["default"],
        types=[TRACKING_CHANGED, "ORDER_CHANGE"],
        subscription_of=lambda account, kind: SUBSCRIPTION.get(account),
        processed=processed or {},
        client=client,
    )


def _left(client: Any, url: str) -> int:
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_both_key_casings_read_as_one_notification():
    camel = parse_notification(_tracking("n-1", "s", "AFTN1", "2026-12-01T00:00:00Z"))
    pascal = parse_notification(_order_change("n-2", "s"))
    assert camel is not None and pascal is not None
    assert (camel.notification_id, camel.subscription_id, camel.payload_version) == (
        "n-1",
        "s",
        "2026-01-30",
    )
    assert (pascal.notification_type, pascal.publish_time) == (
        "ORDER_CHANGE",
        "2026-12-01T00:00:01Z",
    )
    assert camel.tracking_detail() is not None and pascal.tracking_detail() is None
    for foreign in ("not json", "[]", json.dumps({"notificationType": "X"})):
        assert parse_notification(foreign) is None


def test_a_message_is_deleted_only_when_the_incoming_state_records_it(queue):
    client, url = queue
    for n in range(3):
        client.send_message(
            QueueUrl=url,
            MessageBody=_tracking(f"n-{n}", "sub-default", f"A{n}", "2026-12-01T00:00:00Z"),
        )
    first = _inbox(client, url)
    first.drain()
    assert sorted(first.news["default"]) == ["n-0", "n-1", "n-2"]
    assert first.acknowledged == 0
    first.release()  # the end of the run: visible again, nothing deleted
    assert _left(client, url) == 3
    # The next run starts from a state that records two of them: those two are deleted,
    # the third (its record never reached the target) is processed again.
    second = _inbox(client, url, processed={"n-0": 1, "n-1": 1})
    second.drain()
    assert list(second.news["default"]) == ["n-2"]
    assert second.acknowledged == 2
    second.release()
    assert _left(client, url) == 1


def test_duplicates_count_once_and_other_owners_messages_stay_in_the_queue(queue):
    client, url = queue
    body = _tracking("n-1", "sub-default", "A1", "2026-12-01T00:00:00Z")
    for message in (body, body, _tracking("n-9", "sub-other", "B1", "2026-12-01T00:00:00Z")):
        client.send_message(QueueUrl=url, MessageBody=message)
    client.send_message(QueueUrl=url, MessageBody="a message of somebody else's")
    inbox = _inbox(client, url)
    inbox.drain()
    assert list(inbox.news["default"]) == ["n-1"]
    assert (inbox.duplicates, inbox.foreign) == (1, 2)
    inbox.release()
    assert _left(client, url) == 4  # nothing deleted: nobody recorded anything yet


def test_reading_again_makes_news_only_of_the_kinds_asked_and_holds_the_rest(queue):
    client, url = queue
    at = "2026-12-01T00:00:00Z"
    client.send_message(QueueUrl=url, MessageBody=_tracking("n-0", "sub-default", "A0", at))
    inbox = _inbox(client, url, processed={"n-done": 1})
    inbox.drain()
    assert list(inbox.news["default"]) == ["n-0"]
    # While a stream waits: the order changes it waits for, a tracking change (its
    # stream may have synced already), one an earlier run processed, one read already.
    for body in (
        _order_change("n-1", "sub-default"),
        _tracking("n-2", "sub-default", "A2", at),
        _tracking("n-done", "sub-default", "A3", at),
        _order_change("n-1", "sub-default"),
        _order_change("n-9", "sub-other"),
    ):
        client.send_message(QueueUrl=url, MessageBody=body)
    (new,) = inbox.receive_more(frozenset({"ORDER_CHANGE"}))
    assert new.notification_id == "n-1"
    assert list(inbox.news["default"]) == ["n-0", "n-1"]  # n-2 is not news
    assert inbox.acknowledged == 1  # n-done: deleted
    assert inbox.receive_more(frozenset({"ORDER_CHANGE"})) == []  # nothing new
    inbox.release()
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert _left(client, url) == 5  # n-0, n-1 twice, n-2, n-9: none deleted
    assert int(attributes["ApproximateNumberOfMessages"]) == 5  # and visible again
    # The next run reads the tracking change held back, as news.
    following = _inbox(client, url, processed={"n-0": 1, "n-1": 1})
    following.drain()
    assert list(following.news["default"]) == ["n-2"]
    assert following.acknowledged == 3
    following.release()


def test_the_newest_tracking_wins_whatever_the_order_of_arrival(queue):
    client, url = queue
    newer = _tracking("n-2", "sub-default", "A1", "2026-12-02T00:00:00Z")
    older = _tracking("n-1", "sub-default", "A1", "2026-12-01T00:00:00Z")
    for message in (newer, older):
        client.send_message(QueueUrl=url, MessageBody=message)
    inbox = _inbox(client, url)
    (detail,) = inbox.trackings("default").values()
    assert detail["latestMilestone"]["occurredAt"] == "2026-12-02T00:00:00Z"
    assert inbox.covers("default", TRACKING_CHANGED)


def test_the_backstop_polls_each_identifier_once_a_period_spread_over_the_runs():
    period, hour = 24 * 3600, 3600
    identifiers = [("aftn", f"AFTN{n}") for n in range(2_000)]
    polls = dict.fromkeys(identifiers, 0)
    last = 0
    for run in range(1, 49):  # two days of hourly runs
        now = run * hour
        for kind, value in identifiers:
            polls[kind, value] += due(kind, value, last, now, period)
        per_run = sum(due(k, v, last, now, period) for k, v in identifiers)
        assert per_run < len(identifiers) / 24 * 1.5  # spread: no run polls them all
        last = now
    assert set(polls.values()) == {2}  # each one exactly once a day
    assert due("aftn", "A", None, 10, period) and due("aftn", "A", 5, 10, 0)


def test_processed_ids_are_bounded_and_expire():
    now = 10_000_000
    old = now - int(PROCESSED_KEEP.total_seconds()) - 1
    many = {f"n-{n}": now - n for n in range(PROCESSED_LIMIT + 500)}
    kept = kept_processed({**many, "old": old}, now)
    assert len(kept) == PROCESSED_LIMIT and "old" not in kept
    assert "n-0" in kept and f"n-{PROCESSED_LIMIT + 499}" not in kept  # the newest stay


def test_the_region_comes_from_the_queue_url():
    assert region_of("https://sqs.eu-west-1.amazonaws.com/123456789012/spapi") == "eu-west-1"
    assert region_of("http://127.0.0.1:5000/123456789012/spapi") is None


NOTIFICATION_SCHEMAS = REPO / "models" / "notifications"
STREAM_SCHEMA = json.loads(
    (REPO / "tap_spapi" / "amazon" / "schemas" / "notifications.json").read_text()
)


@pytest.mark.parametrize(
    "path", sorted(NOTIFICATION_SCHEMAS.glob("*.json")), ids=lambda path: path.stem
)
def test_amazons_examples_read_as_notifications_the_streams_schema_accepts(path):
    # Amazon's own examples (the schemas' `examples`, both casings), not ours.
    examples = json.loads(path.read_text(encoding="utf-8")).get("examples") or []
    assert examples, path.name
    for example in examples:
        notification = parse_notification(json.dumps(example))
        assert notification is not None, path.name
        record = {**notification.record(), "account": "default", "selling_partner_id": None}
        jsonschema.validate(record, STREAM_SCHEMA)
        assert notification.event_time and notification.payload
        if notification.notification_type == TRACKING_CHANGED:
            detail = notification.tracking_detail()
            assert detail is not None and tracked_identifier(detail) == ("aftn", "AFTN987654321")
