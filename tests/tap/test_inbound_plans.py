"""FBA inbound 2024-03-20 plans and shipments, and the Tracking API's milestones."""

from __future__ import annotations

import dataclasses
import datetime
import io
import json
import logging
from collections.abc import Generator
from contextlib import redirect_stdout
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
from singer_sdk import RESTStream

from spapi_standin import StandIn, StandInConfig
from tap_spapi.amazon.operations import load_catalog
from tap_spapi.config.settings import Settings
from tap_spapi.errors import SettingError
from tap_spapi.runtime.state import FINAL_GRACE
from tap_spapi.streams.base.windows import instant
from tap_spapi.streams.inbound_plans import PAGES_AHEAD
from tap_spapi.streams.tracking import ShipmentTrackingStream
from tap_spapi.tap import TapSpapi
from testkit import (
    SingerOutput,
    every_stream,
    expected_keys,
    key_of,
    listed_identifiers,
    run_tap,
    select_only,
    tap_config,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

PLAN_STREAMS = {
    "inbound_plans",
    "inbound_plan_shipments",
    "inbound_plan_shipment_items",
    "inbound_plan_shipment_boxes",
}
TRACKING_STREAMS = {"shipment_tracking", "shipment_tracking_milestones"}
MCF_STREAMS = {"outbound_orders", "outbound_shipments"}
ALL = PLAN_STREAMS | TRACKING_STREAMS | MCF_STREAMS


# The tests that read `first_run` run on one worker under `--dist loadgroup` (each
# worker would otherwise run it again for its share).
FIRST_RUN = pytest.mark.xdist_group("test_inbound_plans-first-run")


def _keys(output: Any, stream: str) -> set[Any]:
    return {key_of(stream, record) for record in output.records(stream)}


def _run(server: StandIn, streams: set[str], state: dict[str, Any] | None = None, **settings: Any):
    config = tap_config(server, **settings)
    return run_tap(config, state=state, catalog=select_only(config, streams))


@pytest.fixture(scope="module")
def first_run() -> Iterator[tuple[StandIn, SingerOutput]]:
    """Every plan, tracking and MCF stream, a first run (lookback 0, as the incremental
    test's first run): its tests only read it and its stand-in."""
    with StandIn(every_stream()) as server:
        yield server, _run(server, ALL, lookback_window=0)


@FIRST_RUN
def test_every_plan_shipment_item_box_and_tracking_of_the_data_set_is_emitted(first_run):
    server, output = first_run
    expected = expected_keys(server.dataset)
    for stream in ALL:
        assert _keys(output, stream) == expected[stream], stream
    assert output.failures is not None and not output.failures.reported


@FIRST_RUN
def test_a_2024_shipment_joins_its_v0_shipment_by_confirmation_id(first_run):
    standin, output = first_run
    v0_ids = {s["ShipmentId"] for s in standin.dataset.all_inbound_shipments()}
    shipments = output.records("inbound_plan_shipments")
    assert shipments
    assert {s["shipmentConfirmationId"] for s in shipments} <= v0_ids
    plans = {p["inboundPlanId"] for p in output.records("inbound_plans")}
    assert {s["inboundPlanId"] for s in shipments} <= plans


def test_a_cross_border_plan_is_skipped_by_name_with_a_warning_not_a_failed_run(standin, caplog):
    refused = standin.dataset.refused_plan_ids
    assert refused
    with caplog.at_level(logging.DEBUG, logger="tap-spapi.inbound_plan_shipments"):
        output = _run(standin, {"inbound_plans", "inbound_plan_shipments"})
    for plan_id in refused:  # each at DEBUG with Amazon's words, all in one warning
        assert f"Inbound plan {plan_id} left out: " in caplog.text
    assert "GetInboundPlan is not supported for the cross border" in caplog.text
    (warning,) = output.gathered
    assert warning.startswith(f"{len(refused)} inbound plans left out: ")
    assert sum(f"default/{plan_id}" in warning for plan_id in refused) == min(len(refused), 3)
    assert output.failures is not None and not output.failures.reported
    emitted_plans = {s["inboundPlanId"] for s in output.records("inbound_plan_shipments")}
    assert not emitted_plans & refused


@FIRST_RUN
def test_partnered_shipments_come_with_null_tracking_details(first_run):
    standin, output = first_run
    partnered = standin.dataset.partnered_shipment_ids
    by_id = {s["shipmentId"]: s for s in output.records("inbound_plan_shipments")}
    seen = partnered & set(by_id)
    assert seen
    assert all(by_id[s]["trackingDetails"] is None for s in seen)
    others = set(by_id) - partnered
    assert all(by_id[s]["trackingDetails"] for s in others)


@FIRST_RUN
def test_an_incremental_run_asks_only_changed_plans_open_shipments_and_open_identifiers(
    first_run,
):
    _, first = first_run
    # The second run goes to a stand-in of its own with the same data (the first run's
    # is shared and must not be touched); its counts start at zero.
    with StandIn(every_stream()) as server:
        state = first.states[-1]
        data = server.dataset
        newest = max(p["lastUpdatedAt"] for p in data.inbound_plans)
        touched = set(data.touch("inbound_plans", 3))
        second = _run(server, ALL, state=state, lookback_window=0)
        asked_plans = {p["inboundPlanId"] for p in second.records("inbound_plans")}
        unchanged_newest = {
            p["inboundPlanId"] for p in data.inbound_plans if p["lastUpdatedAt"] == newest
        }
        assert asked_plans == touched | unchanged_newest
        assert server.stats.count("listInboundPlans") == 1
        assert server.stats.count("getInboundPlan") == len(asked_plans)
        final = {"CLOSED", "CANCELLED", "DELETED", "ABANDONED"}
        open_shipments = [
            s
            for s, shipment in data.plan_shipments.items()
            if data.plan_of_shipment[s] in asked_plans - data.refused_plan_ids
            and shipment["status"] not in final
        ]
        assert server.stats.count("fulfillmentInbound_2024-03-20.getShipment") == len(
            open_shipments
        )
        emitted = first.records("shipment_tracking")
        open_ones = [
            t
            for t in emitted
            if (t["latestMilestone"] or {}).get("status", {}).get("code") != "DELIVERED"
        ]
        assert len(open_ones) < len(emitted)
        asked = [_asked_identifier(t) for t in server.stats.targets("getShipmentTracking")]
        assert len(asked) == len(set(asked))
        open_ids = {(t["identifierType"], t["identifierValue"]) for t in open_ones}
        assert open_ids <= set(asked)
        # Any other was final before the grace period (FINAL_GRACE beyond a lookback of
        # 0), so it left the state, and a record re-read this run named it: asked once more.
        final_at = {(t["identifierType"], t["identifierValue"]): t for t in emitted}
        seen_again = _identifiers_in(second)
        for extra in set(asked) - open_ids:
            moment = instant(final_at[extra]["latestMilestoneTime"])
            assert moment < data.now - FINAL_GRACE + datetime.timedelta(hours=1)
            assert extra in seen_again


def test_a_shipment_with_an_empty_plan_id_and_timestamps_without_seconds_loads(standin):
    # Live getShipment answers have come with `"inboundPlanId": ""` and times such as
    # `2024-02-12T06:00Z`: the record takes its plan's id, the times load as Amazon wrote
    # them, and a plan time without seconds still moves the plan bookmark.
    data = standin.dataset
    plan = max(data.inbound_plans, key=lambda p: p["lastUpdatedAt"])
    plan["lastUpdatedAt"] = plan["lastUpdatedAt"][: len("2024-02-12T06:00")] + "Z"
    shipment_id = plan["shipments"][0]["shipmentId"]
    shipment = data.plan_shipments[shipment_id]
    shipment["inboundPlanId"] = ""
    shipment["selectedDeliveryWindow"] = {
        "availabilityType": "AVAILABLE",
        "startDate": "2024-02-12T06:00Z",
        "endDate": "2024-02-18T06:00Z",
        "editableUntil": "2024-02-12T06:00Z",
    }
    output = _run(standin, PLAN_STREAMS)
    (record,) = [
        r for r in output.records("inbound_plan_shipments") if r["shipmentId"] == shipment_id
    ]
    assert record["inboundPlanId"] == plan["inboundPlanId"]
    assert record["selectedDeliveryWindow"]["startDate"] == "2024-02-12T06:00Z"
    assert _keys(output, "inbound_plans") == expected_keys(data)["inbound_plans"]
    bookmark = output.states[-1]["bookmarks"]["inbound_plans"]["partitions"][0]
    assert instant(bookmark["replication_key_value"]) >= instant(plan["lastUpdatedAt"])


def _asked_identifier(target: str) -> tuple[str, str]:
    """(type, value) of the identifier a getShipmentTracking request asked for."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
    if "carrierTracking.trackingNumber" in query:
        return ("carrierTracking", query["carrierTracking.trackingNumber"])
    ((kind, value),) = query.items()
    return (kind, value)


def _identifiers_in(output: SingerOutput) -> set[tuple[str, str]]:
    """The identifiers the tap notes from a run's shipments (MCF packages, inbound boxes)."""
    found = set()
    for shipment in output.records("outbound_shipments"):
        for package in shipment.get("fulfillmentShipmentPackage") or []:
            found.add(("aftn", package["amazonFulfillmentTrackingNumber"]))
    for shipment in output.records("inbound_plan_shipments"):
        spd = (shipment.get("trackingDetails") or {}).get("spdTrackingDetail") or {}
        for item in spd.get("spdTrackingItems") or []:
            found.add(("carrierTracking", item["trackingId"]))
    return found


class _Killed(BaseException):
    """The run dies here (as under SIGKILL: nothing after it is written)."""


def test_identifiers_noted_before_a_kill_are_tracked_on_resume(standin, monkeypatch):
    # A run killed as shipment_tracking starts, after the MCF shipments: the STATE that
    # moved the orders' bookmark carries the identifiers, and the next run tracks them
    # without re-reading the orders. Every STATE is written at once here (no pacing),
    # so the kill point decides what the state holds, not the clock.
    monkeypatch.setattr("tap_spapi.runtime.output.STATE_INTERVAL", 0.0)

    def killed(self: ShipmentTrackingStream, context: Any = None) -> None:
        raise _Killed

    with monkeypatch.context() as patched:
        patched.setattr(ShipmentTrackingStream, "sync", killed)
        config = tap_config(standin)
        tap = TapSpapi(config=config, catalog=select_only(config, MCF_STREAMS | TRACKING_STREAMS))
        raw = io.BytesIO()
        text = io.TextIOWrapper(raw, encoding="utf-8")
        with redirect_stdout(text), pytest.raises(_Killed):
            tap.sync_all()
        tap.run.close()
        text.flush()
    state = SingerOutput.parse(raw.getvalue().decode()).states[-1]
    assert state["bookmarks"]["outbound_orders"]["partitions"][0]["replication_key_value"]
    (partition,) = state["bookmarks"]["shipment_tracking"]["partitions"]
    assert partition["context"] == {"account": "default"}
    assert partition["open"]["aftn"]  # (and the inbound boxes': those plans were read too)
    orders_before = standin.stats.count("listAllFulfillmentOrders")
    after = _run(standin, MCF_STREAMS | TRACKING_STREAMS, state=state)
    expected = expected_keys(standin.dataset)["shipment_tracking"]
    assert _keys(after, "shipment_tracking") == expected
    aftns = {k for k in expected if k[0] == "aftn"}
    # Tracked from the state: most of their orders were not read again.
    assert len(aftns - _identifiers_in(after)) > len(aftns) // 2
    assert standin.stats.count("listAllFulfillmentOrders") == orders_before + 1


def test_nothing_is_noted_for_shipment_tracking_when_it_is_not_selected(standin):
    output = _run(standin, MCF_STREAMS | PLAN_STREAMS)
    assert output.records("outbound_shipments") and output.records("inbound_plan_shipments")
    assert "shipment_tracking" not in output.states[-1]["bookmarks"]


def test_listed_identifiers_of_every_kind_are_tracked_from_the_setting_and_a_file(
    standin, tmp_path: Path
):
    listed = listed_identifiers(standin.dataset)
    kinds = {entry["type"] for entry in listed}
    assert kinds == {"containerNumber", "houseBillOfLadingNumber", "acsin", "carrierTracking"}
    half = len(listed) // 2
    path = tmp_path / "identifiers.jsonl"
    path.write_text("".join(json.dumps(entry) + "\n" for entry in listed[half:]))
    output = _run(
        standin,
        TRACKING_STREAMS,
        shipment_tracking_ids=listed[:half],
        shipment_tracking_ids_file=str(path),
    )
    # The listed ones, beside those of the data set's shipments (read for it, not emitted).
    listed_keys = {(e["type"], e["value"]) for e in listed}
    shipments_keys = expected_keys(standin.dataset)["shipment_tracking"]
    assert _keys(output, "shipment_tracking") == listed_keys | shipments_keys
    assert output.streams == TRACKING_STREAMS


def test_a_listed_identifier_of_an_unknown_type_names_the_setting_and_item():
    with pytest.raises(SettingError, match=r"shipment_tracking_ids.*item 2.*'type' must be"):
        _ = Settings.from_config(
            {
                "shipment_tracking_ids": [
                    {"type": "aftn", "value": "AFTN1"},
                    {"type": "proNumber", "value": "123"},
                ]
            }
        ).identifiers


def test_the_tracking_operation_starts_on_the_fallback_plan_and_adopts_amazons_rate():
    assert load_catalog()["getShipmentTracking"].fallback_plan
    # The listed identifiers and few others: the first requests are what this is about.
    data = StandInConfig(seed=11, rate_scale=50.0, outbound_orders=1, inbound_plans=1)
    with StandIn(data) as standin:
        config = tap_config(standin, shipment_tracking_ids=listed_identifiers(standin.dataset))
        tap = TapSpapi(config=config, catalog=select_only(config, {"shipment_tracking"}))
        try:
            with redirect_stdout(io.TextIOWrapper(io.BytesIO(), encoding="utf-8")):
                tap.sync_all()
                tap.finish_output()
            snapshot = tap.run.accounts["default"].limiter.snapshot()["getShipmentTracking"]
        finally:
            tap.run.close()
        assert snapshot["rate"] == standin.app.limiter.plan("getShipmentTracking")[0]
        assert snapshot["throttled"] == 0
        assert standin.stats.count("getShipmentTracking", "429") == 0


def test_the_models_letter_shows_every_plan_and_tracking_detail():
    config = every_stream()
    config.live = dataclasses.replace(
        config.live, cross_border_plans_refused=False, partnered_tracking_absent=False
    )
    with StandIn(config) as server:
        assert not server.dataset.refused_plan_ids
        output = _run(server, {"inbound_plans", "inbound_plan_shipments"})
    shipments = output.records("inbound_plan_shipments")
    assert len(shipments) == len(server.dataset.plan_shipments)
    assert all(s["trackingDetails"] for s in shipments)


# The tests of many plans share a worker, which builds their data set once.
MANY_PLANS = pytest.mark.xdist_group("test_inbound_plans-many-plans")


def many_plans() -> StandInConfig:
    """200 plans, pages of 30: more pages than the walker runs ahead. One data set for
    the tests of many pages (a worker builds it once)."""
    return StandInConfig(seed=13, rate_scale=50.0, inbound_plans=200)


def _page_two_refused(server: StandIn) -> None:
    server.inject(
        "listInboundPlans",
        status=400,
        body={"errors": [{"code": "InvalidInput", "message": "PAGE-TWO-REFUSED"}]},
        matching="paginationToken",
    )


@MANY_PLANS
@pytest.mark.parametrize("max_concurrency", [16, 1])
def test_a_page_refused_after_the_first_fails_the_stream_once_and_keeps_its_bookmark(
    max_concurrency,
):
    # The plans' pages are walked by a thread of their own (streams/base/paging.py) unless the
    # run is sequential: both ways, page one's plans are emitted, page two's error is
    # the stream's one failure naming the operation, and the bookmark does not move.
    with StandIn(many_plans()) as server:
        _page_two_refused(server)
        output = _run(server, {"inbound_plans"}, max_concurrency=max_concurrency)
        asked = server.stats.count("listInboundPlans")
    assert output.failures is not None
    ((where, message),) = output.failures.stopped.items()
    assert where == ("inbound_plans", "default")
    assert "listInboundPlans" in message and "PAGE-TWO-REFUSED" in message
    assert len(output.records("inbound_plans")) == 30  # the first page, one largest page
    assert asked == 2
    partitions = output.states[-1]["bookmarks"]["inbound_plans"].get("partitions", [])
    assert all("replication_key_value" not in p for p in partitions), partitions


@MANY_PLANS
def test_a_consumer_that_stops_leaves_the_later_pages_unasked():
    with StandIn(many_plans()) as server:
        config = tap_config(server)
        tap = TapSpapi(config=config, catalog=select_only(config, {"inbound_plans"}))
        try:
            stream = tap.streams["inbound_plans"]
            assert isinstance(stream, RESTStream)
            records = stream.request_records({"account": "default"})
            assert isinstance(records, Generator)
            pages = records
            first = next(pages)
            pages.close()
        finally:
            tap.run.close()
        asked = server.stats.count("listInboundPlans")
    assert first["inboundPlanId"]
    assert PAGES_AHEAD + 2 < 200 // 30
    # The page handed on, at most PAGES_AHEAD waiting, and the one in flight.
    assert asked <= 1 + PAGES_AHEAD + 1


@MANY_PLANS
def test_a_token_repeated_once_on_list_inbound_plans_costs_one_more_page():
    with StandIn(many_plans()) as server:
        _run(server, {"inbound_plans"})
        pages = server.stats.count("listInboundPlans")
        server.inject("listInboundPlans", "repeat_token", matching="paginationToken")
        output = _run(server, {"inbound_plans"})
        asked = server.stats.count("listInboundPlans") - pages
        expected = expected_keys(server.dataset)["inbound_plans"]
    assert output.failures is not None and not output.failures.reported
    assert _keys(output, "inbound_plans") == expected
    assert pages > 2 and asked == pages + 1


@MANY_PLANS
def test_a_token_that_keeps_coming_back_stops_the_plans_and_the_next_run_skips_what_was_read():
    # Page 2's answer hands back page 2's own token on every ask: the stream stops after
    # page 2 with a line naming the operation and the page. The next run pages from the
    # top again (the listing has no other way in) but skips the 60 plans already emitted:
    # no getInboundPlan or getShipment for them, and the family ends complete.
    with StandIn(many_plans()) as server:
        whole = _run(server, PLAN_STREAMS)  # the family read without a fault
        asked_whole = server.stats.count("getInboundPlan")
        server.inject("listInboundPlans", "repeat_token", times=3, matching="paginationToken")
        first = _run(server, PLAN_STREAMS)
        plans_asked = server.stats.count("getInboundPlan") - asked_whole
        state = first.states[-1]
        second = _run(server, PLAN_STREAMS, state=state)
        plans_asked_again = server.stats.count("getInboundPlan") - plans_asked - asked_whole
        data = server.dataset
    assert first.failures is not None
    ((where, message),) = first.failures.stopped.items()
    assert where == ("inbound_plans", "default")
    assert "(listInboundPlans): page 2:" in message and "already followed" in message
    read_first = _keys(first, "inbound_plans")
    assert len(read_first) == 60 and plans_asked == 60
    partition = state["bookmarks"]["inbound_plans"]["partitions"][0]
    assert "replication_key_value" not in partition
    assert partition["read_from"] == max(p["lastUpdatedAt"] for p in data.inbound_plans)
    assert second.failures is not None and not second.failures.reported
    read_second = _keys(second, "inbound_plans")
    # Plans last updated at the very second the first run stopped at come again (one
    # of a tie could have been on the next page); no other.
    again = {
        plan_id
        for plan_id in read_first & read_second
        if instant(_plan(data, plan_id)["lastUpdatedAt"]) != instant(partition["read_down_to"])
    }
    assert not again and plans_asked_again == len(read_second) < len(data.inbound_plans)
    for stream in PLAN_STREAMS:
        assert _keys(first, stream) | _keys(second, stream) == _keys(whole, stream), stream
    done = second.states[-1]["bookmarks"]["inbound_plans"]["partitions"][0]
    assert "read_from" not in done
    assert instant(done["replication_key_value"]) == instant(partition["read_from"])


def _plan(data: Any, plan_id: str) -> dict[str, Any]:
    return next(p for p in data.inbound_plans if p["inboundPlanId"] == plan_id)
