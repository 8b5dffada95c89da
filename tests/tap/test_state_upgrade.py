"""State written by 0.1.0 (today's main when state moved to one partition per account):
read, migrated, and resumed from without losing a bookmark or asking again."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from spapi_standin import StandIn
from tap_spapi.runtime.state import FINAL_MILESTONE, FINAL_STATUS, migrated
from tap_spapi.streams.base.windows import instant
from tap_spapi.streams.shipping import FINAL_STATUSES, LABELS_LAYOUT
from tap_spapi.streams.tracking import FINAL_MILESTONES, TRACKING_LAYOUT
from tap_spapi.tap import TapSpapi
from testkit import every_stream, full_config, listed_identifiers, run_tap

# The final STATE of a run of 4b3dfb3 (0.1.0) over every stream of `every_stream()`,
# identifiers listed, with the stand-in's clock at PRODUCED_AT.
FIXTURE = Path(__file__).parents[1] / "data" / "state-0.1.0-main-4b3dfb3.json"
CARRIER_CODE = "carrierTracking.carrierCode"
PRODUCED_AT = datetime.datetime(2026, 12, 7, 4, 49, 31, tzinfo=datetime.UTC)


def _old() -> dict[str, Any]:
    state: dict[str, Any] = json.loads(FIXTURE.read_text())
    return state


def _entries(partition: dict[str, Any], book: str) -> dict[tuple[str, str], int]:
    return {
        (kind, value): second
        for kind, values in partition.get(book, {}).items()
        for value, second in values.items()
    }


@pytest.mark.parametrize(
    ("layout", "final_values"),
    [(TRACKING_LAYOUT, FINAL_MILESTONES), (LABELS_LAYOUT, FINAL_STATUSES)],
    ids=["shipment_tracking", "shipping_tracking"],
)
def test_a_partition_per_identifier_becomes_one_book_per_account(layout, final_values) -> None:
    old = _old()
    before = old["bookmarks"][layout.stream]["partitions"]
    assert len(before) > 1 and all(layout.value_key in p["context"] for p in before)
    state = _old()
    migrated(state, [layout], PRODUCED_AT, warn=pytest.fail)
    (partition,) = state["bookmarks"][layout.stream]["partitions"]
    assert partition["context"] == {"account": "default"}
    final, still_open = _entries(partition, "final"), _entries(partition, "open")
    for entry in before:
        key = (entry["context"][layout.kind_key], entry["context"][layout.value_key])
        second = int(instant(entry["replication_key_value"]).timestamp())
        ended = entry.get(layout.final_key) in final_values
        assert (final if ended else still_open)[key] == second
    assert len(final) + len(still_open) == len(before)
    assert final and still_open
    assert len(json.dumps(partition)) < len(json.dumps(before)) / 3


def test_final_shipments_by_status_become_seconds() -> None:
    state = _old()
    (old,) = state["bookmarks"]["inbound_plan_shipments"]["partitions"]
    statuses = dict(old["final_shipments"])
    migrated(state, [], PRODUCED_AT, warn=pytest.fail)
    second = int(PRODUCED_AT.timestamp())
    assert old["final_shipments"] == dict.fromkeys(statuses, second)


def test_a_state_already_migrated_is_left_as_it_is() -> None:
    state = _old()
    migrated(state, [TRACKING_LAYOUT, LABELS_LAYOUT], PRODUCED_AT, warn=pytest.fail)
    again = json.loads(json.dumps(state))
    migrated(again, [TRACKING_LAYOUT, LABELS_LAYOUT], PRODUCED_AT, warn=pytest.fail)
    assert again == state


def test_an_upgraded_run_resumes_without_asking_again_or_reemitting(monkeypatch) -> None:
    # The tap's clock an hour after the old run; the stand-in holds the same data.
    monkeypatch.setattr(
        "tap_spapi.runtime.run.utc_now", lambda: PRODUCED_AT + datetime.timedelta(hours=1)
    )
    old = _old()
    with StandIn(every_stream(now=PRODUCED_AT)) as server:
        config = full_config(
            server, shipment_tracking_ids=listed_identifiers(server.dataset), lookback_window=0
        )
        tap = TapSpapi(config=config, state=_old())
        assert len(tap.state["bookmarks"]["shipment_tracking"]["partitions"]) == 1
        output = run_tap(config, state=old)
        asked = [parse_qs(urlsplit(t).query) for t in server.stats.targets("getShipmentTracking")]
        labels_asked = [
            parse_qs(urlsplit(t).query)["trackingId"][0]
            for t in server.stats.targets("getTracking")
        ]
    tracking = old["bookmarks"]["shipment_tracking"]["partitions"]
    still_open = {
        p["context"]["identifierValue"]
        for p in tracking
        if p.get(FINAL_MILESTONE) not in FINAL_MILESTONES
    }
    asked_values = {
        value[0] for query in asked for key, value in query.items() if key != CARRIER_CODE
    }
    assert asked_values == still_open  # the open ones, each once; no final one again
    assert len(asked) == len(still_open)
    labels = old["bookmarks"]["shipping_tracking"]["partitions"]
    open_labels = {
        p["context"]["trackingId"] for p in labels if p.get(FINAL_STATUS) not in FINAL_STATUSES
    }
    assert sorted(labels_asked) == sorted(open_labels)
    # Nothing changed since: the bookmarks kept their times, so no tracking is re-emitted.
    assert not output.records("shipment_tracking")
    assert not output.records("shipping_tracking")
    (orders,) = old["bookmarks"]["outbound_orders"]["partitions"]
    bookmark = instant(orders["replication_key_value"])  # re-read from it, inclusive
    assert all(
        instant(o["statusUpdatedDate"]) >= bookmark for o in output.records("outbound_orders")
    )
    final = output.states[-1]["bookmarks"]
    (partition,) = final["shipment_tracking"]["partitions"]
    assert set(_entries(partition, "open")) == {
        (p["context"]["identifierType"], p["context"]["identifierValue"])
        for p in tracking
        if p["context"]["identifierValue"] in still_open
    }
