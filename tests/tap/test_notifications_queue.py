"""The tap with Amazon's notifications: the stand-in publishes into moto's SQS server
(at least once, out of order: its live behaviours), `tap-spapi-notifications setup`
subscribes, and the tap reads the queue.

A changed tracking comes from the queue without a request; the identifiers that
notifications cover are polled only as the backstop's share; a message leaves the queue
once a later run starts from a state that records it; a run whose state never reached
the target loses nothing; a late or duplicate notification never wins over a newer one.
The tap's clock is the test's (`tap_spapi.runtime.run.utc_now`), so which identifiers the
backstop polls is the same on any day.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from spapi_standin import StandIn, StandInConfig
from tap_spapi.notifications_setup import main as setup_main
from tap_spapi.runtime.inbox import TRACKING_CHANGED, due
from tap_spapi.runtime.state import epoch_second
from testkit import LOCAL_AWS, create_queue, run_tap, select_only, sqs_client, tap_config

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from testkit import SingerOutput

NOW = datetime.datetime(2026, 11, 20, 12, 0, tzinfo=datetime.UTC)
STREAMS = {"shipment_tracking", "shipment_tracking_milestones", "notifications"}


@pytest.fixture
def amazon(sqs_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """A stand-in publishing to moto's SQS with its live behaviours on (duplicates,
    out-of-order delivery); the tap's AWS credentials are moto's."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", LOCAL_AWS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", LOCAL_AWS["aws_secret_access_key"])
    config = StandInConfig(seed=7, size="tiny", now=NOW, rate_scale=50.0,
                           sqs_endpoint_url=sqs_endpoint)  # fmt: skip
    with StandIn(config) as server:
        yield server


def subscribed_config(server: StandIn, endpoint: str, tmp_path: Path) -> dict[str, Any]:
    """A queue, the setup command's subscription to it, and the tap's settings for it."""
    queue_url, arn = create_queue(endpoint, f"tap-{uuid.uuid4().hex[:12]}")
    config = tap_config(
        server,
        notifications_queue_url=queue_url,
        notifications_endpoint_url=endpoint,
        start_date=(NOW - datetime.timedelta(days=95)).isoformat(),
    )
    (tmp_path / "config.json").write_text(json.dumps(config))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = setup_main(["setup", "--config", str(tmp_path / "config.json"),
                             "--queue-arn", arn, "--types", TRACKING_CHANGED])  # fmt: skip
    assert status == 0, out.getvalue()
    return config


def run_at(
    monkeypatch: pytest.MonkeyPatch, at: datetime.datetime, config: dict[str, Any], **kw: Any
) -> SingerOutput:
    monkeypatch.setattr("tap_spapi.runtime.run.utc_now", lambda: at)
    # Without a queue there is no `notifications` stream to select.
    streams = STREAMS if config.get("notifications_queue_url") else STREAMS - {"notifications"}
    return run_tap(config, catalog=select_only(config, streams), **kw)


def asked(server: StandIn) -> int:
    return server.stats.count("getShipmentTracking")


def keys(output: SingerOutput) -> set[tuple[str, str]]:
    return {
        (r["identifierType"], r["identifierValue"]) for r in output.records("shipment_tracking")
    }


def newest_at(server: StandIn, key: tuple[str, str]) -> str:
    """The stand-in's newest milestone time of an identifier (its data set keys carrier
    numbers by their query parameter)."""
    kind, value = key
    found = "carrierTracking.trackingNumber" if kind == "carrierTracking" else kind
    return str(server.dataset.shipment_trackings[found, value]["latestMilestone"]["occurredAt"])


def watch_asks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The identifiers the tap asks getShipmentTracking for from now on (in the order asked)."""
    from tap_spapi.streams.tracking import ShipmentTrackingStream

    seen: list[tuple[str, str]] = []
    params = ShipmentTrackingStream.get_url_params

    def watched(stream: Any, context: Any, token: Any) -> Any:
        seen.append((context["identifierType"], context["identifierValue"]))
        return params(stream, context, token)

    monkeypatch.setattr(ShipmentTrackingStream, "get_url_params", watched)
    return seen


def recorded(state: dict[str, Any]) -> set[str]:
    """The notification ids a state records as processed (every account)."""
    partitions = state.get("bookmarks", {}).get("notifications", {}).get("partitions") or []
    return {n for partition in partitions for n in partition.get("processed") or {}}


def identifiers(state: dict[str, Any]) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """Every identifier of the state's tracking book, and those never answered yet."""
    (book,) = state["bookmarks"]["shipment_tracking"]["partitions"]
    every, never = set(), set()
    for name in ("open", "final"):
        for kind, values in (book.get(name) or {}).items():
            for value, second in values.items():
                every.add((kind, value))
                if second < 0:
                    never.add((kind, value))
    return every, never


def in_queue(endpoint: str, queue_url: str) -> int:
    found = sqs_client(endpoint).get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    attributes = found["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_a_changed_tracking_comes_from_the_queue_and_the_rest_is_polled_as_a_backstop(
    amazon, sqs_endpoint, tmp_path, monkeypatch
):
    config = subscribed_config(amazon, sqs_endpoint, tmp_path)
    first = run_at(monkeypatch, NOW, config)
    open_ids = keys(first)
    assert asked(amazon) >= len(open_ids) > 20  # a first run asks every identifier
    state = first.states[-1]

    later = NOW + datetime.timedelta(hours=1)
    touched = set(amazon.touch("shipment_trackings", 5, at=later - datetime.timedelta(minutes=5)))
    # Twice: the queue holds two milestones of some, duplicated and out of order.
    touched |= set(amazon.touch("shipment_trackings", 5, at=later - datetime.timedelta(minutes=1)))
    asked_now = watch_asks(monkeypatch)
    second = run_at(monkeypatch, later, config, state=state)

    # No notified identifier is asked. Of the identifiers notifications cover (answered
    # before: in the first state's book), only the backstop's share is; the others asked
    # are those Amazon never answered for and those a parent named anew (a lookback
    # re-read of a final one the state had let go), as without notifications.
    known, never = identifiers(state)
    covered = known - never
    backstop = {
        key
        for key in covered - touched
        if due(*key, epoch_second(NOW.isoformat()), int(later.timestamp()), 24 * 3600)
    }
    assert not set(asked_now) & touched
    assert set(asked_now) & covered == backstop
    assert len(asked_now) == len(set(asked_now))
    assert len(backstop) <= 0.05 * len(open_ids)
    assert touched <= keys(second)
    for record in second.records("shipment_tracking"):
        key = (record["identifierType"], record["identifierValue"])
        if key in touched:  # the newest milestone, as getShipmentTracking answers now
            newest = newest_at(amazon, key)
            assert record["latestMilestone"]["occurredAt"] == newest
    emitted = [
        (r["identifierType"], r["identifierValue"]) for r in second.records("shipment_tracking")
    ]
    assert len(emitted) == len(set(emitted))  # duplicates in the queue, once in the output
    notified = second.records("notifications")
    assert notified and len({n["notificationId"] for n in notified}) == len(notified)
    assert {n["notificationType"] for n in notified} == {TRACKING_CHANGED}


def test_a_message_leaves_the_queue_once_a_later_run_starts_from_a_state_recording_it(
    amazon, sqs_endpoint, tmp_path, monkeypatch
):
    config = subscribed_config(amazon, sqs_endpoint, tmp_path)
    queue = config["notifications_queue_url"]
    first = run_at(monkeypatch, NOW, config)
    amazon.touch("shipment_trackings", 4, at=NOW + datetime.timedelta(minutes=30))
    published = in_queue(sqs_endpoint, queue)
    assert published >= 4

    later = NOW + datetime.timedelta(hours=1)
    second = run_at(monkeypatch, later, config, state=first.states[-1])
    processed = {n["notificationId"] for n in second.records("notifications")}
    assert processed and in_queue(sqs_endpoint, queue) == published  # nothing deleted yet

    # Killed before the notifications stream synced (the last STATE the target committed
    # records none of them): the next run reads every message again, emits every
    # notification and what it gave again, and deletes none.
    killed = [state for state in second.states if not processed & recorded(state)][-1]
    again = run_at(monkeypatch, later, config, state=killed)
    assert {n["notificationId"] for n in again.records("notifications")} == processed
    assert keys(again) == keys(second)
    assert in_queue(sqs_endpoint, queue) == published

    # From the state that records them: every message of those notifications is deleted,
    # duplicates included, and nothing is emitted again.
    third = run_at(monkeypatch, later + datetime.timedelta(hours=1), config, state=again.states[-1])
    assert not third.records("notifications")
    assert in_queue(sqs_endpoint, queue) == 0


def test_a_late_duplicate_of_an_older_milestone_loads_nothing(
    amazon, sqs_endpoint, tmp_path, monkeypatch
):
    config = subscribed_config(amazon, sqs_endpoint, tmp_path)
    queue = config["notifications_queue_url"]
    first = run_at(monkeypatch, NOW, config)
    older = amazon.touch("shipment_trackings", 3, at=NOW + datetime.timedelta(minutes=10))
    # Keep a copy of every message as it is now: the older milestones.
    client = sqs_client(sqs_endpoint)
    old_bodies = []
    while True:
        got = client.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0)
        if not got.get("Messages"):
            break
        old_bodies += [m["Body"] for m in got["Messages"]]
        if len(old_bodies) >= in_queue(sqs_endpoint, queue):
            break
    later = NOW + datetime.timedelta(hours=1)
    newer = amazon.touch("shipment_trackings", 3, at=later - datetime.timedelta(minutes=1))
    assert set(older) & set(newer)
    second = run_at(monkeypatch, later, config, state=first.states[-1])
    # The older milestones arrive again, a day late, after the newer ones were loaded.
    for body in old_bodies:
        client.send_message(QueueUrl=queue, MessageBody=body)
    third = run_at(
        monkeypatch, later + datetime.timedelta(hours=1), config, state=second.states[-1]
    )
    assert not [
        r
        for r in third.records("shipment_tracking")
        if (r["identifierType"], r["identifierValue"]) in set(older)
    ]
    final = third.states[-1]["bookmarks"]["shipment_tracking"]["partitions"][0]
    for kind, value in set(older) & set(newer):
        newest = newest_at(amazon, (kind, value))
        book = final.get("open", {}).get(kind, {}) | final.get("final", {}).get(kind, {})
        assert book[value] == epoch_second(newest)


def test_a_queue_that_cannot_be_read_means_polling_everything_and_a_failed_run(
    amazon, sqs_endpoint, tmp_path, monkeypatch
):
    config = subscribed_config(amazon, sqs_endpoint, tmp_path)
    first = run_at(monkeypatch, NOW, config)
    amazon.touch("shipment_trackings", 3, at=NOW + datetime.timedelta(minutes=30))
    later = NOW + datetime.timedelta(hours=1)
    without = {**config, "notifications_queue_url": ""}  # the same run, polling
    polled = watch_asks(monkeypatch)
    expected = run_at(monkeypatch, later, without, state=first.states[-1])
    asked_polling = list(polled)
    polled.clear()
    gone = {**config, "notifications_queue_url": config["notifications_queue_url"] + "-deleted"}
    second = run_at(monkeypatch, later, gone, state=first.states[-1])
    # Everything is polled, as without notifications: the same data.
    assert sorted(polled) == sorted(asked_polling)
    assert keys(second) == keys(expected)
    # The run fails at its end, with one line naming the setting and the queue.
    assert second.failures is not None
    (line,) = [m for k, m in second.failures.reported.items() if "notifications" in k]
    assert "notifications_queue_url" in line and "-deleted" in line
    assert not second.records("notifications")
