"""429 storms: retries bounded by attempts, waits that grow from one refill of the plan."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from spapi_standin import StandIn, StandInConfig
from tap_spapi.amazon.operations import load_catalog
from testkit import (
    UNREACHED_RETRY_SECONDS,
    all_streams_config,
    assert_complete,
    every_stream,
    run_tap,
    tap_config,
)

if TYPE_CHECKING:
    import pytest

OPERATION = "getMarketplaceParticipations"
RETRY_LINE = re.compile(rf"Retrying {OPERATION} in (\d+\.\d) s after attempt (\d+)")


def standin_plans(server: StandIn) -> dict[str, dict[str, Any]]:
    """The stand-in's (scaled) usage plan of every operation the tap calls, as the
    `rate_limit_overrides` setting spells them.

    Live 429s carry no x-amzn-RateLimit-Limit: a 429 that comes before any 2xx of its
    operation announced the stand-in's scaled plan would wait a refill of Amazon's own
    plan (a minute for getReportDocument, three for searchOrders). The tap is told the
    plans, as a user would tell it theirs, so every wait is a refill of the plan in force.
    """
    routes = server.app.operations.routes
    plans = {}
    for operation in load_catalog():
        if operation.operation_id in routes:
            rate, burst = server.app.limiter.plan(operation.operation_id)
            plans[operation.operation_id] = {"rate": rate, "burst": burst}
    return plans


def test_a_storm_answering_half_the_requests_429_completes_with_the_full_data_set():
    # Every stream: a storm is about every operation. Another application spends half
    # of every bucket (a seeded draw per request); 429s are not counted against
    # max_retries, and the only time bound, max_retry_seconds, is one no run reaches
    # however busy the machine, so the outcome is the same on every run: complete.
    # Plans x200: each 429 waits a refill of its plan, so the run takes what its waits
    # add up to, not more (x50 spent a minute and a half sleeping).
    # The tiny data set with records in every stream (711): a storm over every operation,
    # at a tenth of the small data set's requests.
    storm = every_stream(rate_scale=200.0, storm_rate=0.5)
    with StandIn(storm) as server:
        config = all_streams_config(
            server, max_retries=2, rate_limit_overrides=standin_plans(server)
        )
        assert config["max_retry_seconds"] == UNREACHED_RETRY_SECONDS
        output = run_tap(config)
        throttled = sum(c.get("429", 0) for c in server.stats.snapshot().values())
        assert output.failures is not None
        assert not output.failures.stopped and not output.failures.failed_contexts
        assert_complete(output, server)
    assert throttled > 100  # a storm indeed, and far more 429s than max_retries


def test_consecutive_429s_wait_at_least_one_refill_and_longer_each_time(
    caplog: pytest.LogCaptureFixture,
):
    # 0.016 requests/s x 300: a refill takes about 0.2 s. The waits checked are the ones
    # the tap plans and logs, not the time that passed.
    plan = load_catalog()[OPERATION]
    # Live 429s carry no x-amzn-RateLimit-Limit, and these come before any 2xx could
    # announce the stand-in's scaled plan: the tap is told it, as a user would tell it theirs.
    overrides = {OPERATION: {"rate": plan.rate * 300.0, "burst": plan.burst}}
    with StandIn(StandInConfig(seed=11, rate_scale=300.0)) as server:
        server.inject(OPERATION, status=429, times=3)
        config = tap_config(server, max_retries=0, rate_limit_overrides=overrides)
        with caplog.at_level(logging.INFO):
            output = run_tap(config, streams={"marketplace_participations"})
    refill = 1 / (plan.rate * 300.0)
    waits = [float(m.group(1)) for m in RETRY_LINE.finditer(caplog.text)]
    assert len(waits) == 3  # 429s are not counted against max_retries
    for attempt, wait in enumerate(waits):
        assert wait >= round(refill * 2**attempt, 1) - 0.05, waits
    assert output.records("marketplace_participations")


# A stream of each other kind: a plain list, a paged chain with per-id children, a
# latency-bound list read ahead, a per-label stream and a report.
NOT_ORDERS = (
    "marketplace_participations",
    "outbound_orders",
    "outbound_shipments",
    "inbound_shipments",
    "inbound_shipment_items",
    "shipping_tracking",
    "ledger_detail_view_data",
)
ORDER_STREAMS = ("orders", "order_items")


def test_a_stream_waiting_on_the_slowest_plan_holds_back_no_other_streams_output():
    # searchOrders under a 429 storm: each attempt waits a refill of its plan (the
    # slowest of all, 0.0056/s; x500 here) and longer each time. Singer output goes out
    # stream by stream, so whatever syncs after the waiting stream waits with it, its
    # records fetched and held, and a kill then loses them. Asserted on the order of the
    # messages, not on time.
    with StandIn(every_stream(rate_scale=500.0)) as server:
        rate, burst = server.app.limiter.plan("searchOrders")
        config = all_streams_config(
            server, rate_limit_overrides={"searchOrders": {"rate": rate, "burst": burst}}
        )
        server.inject("searchOrders", status=429, times=3)
        output = run_tap(config, streams={*NOT_ORDERS, *ORDER_STREAMS})
        throttled = server.stats.count("searchOrders", "429")
        spans = server.stats.spans()
        assert_complete(output, server, streams={*NOT_ORDERS, *ORDER_STREAMS})
    assert throttled == 3
    # Synced last, but asked from the start: searchOrders' first request went out before
    # the report documents, which the streams synced before orders download.
    assert spans["searchOrders"][0] < spans["getReportDocument"][1]

    messages = output.messages
    first_order = next(
        i for i, m in enumerate(messages) if m["type"] == "RECORD" and m["stream"] in ORDER_STREAMS
    )
    before = messages[:first_order]
    after = {m["stream"] for m in messages[first_order:] if m["type"] == "RECORD"}
    for stream in NOT_ORDERS:
        assert output.records(stream), stream
        assert stream not in after, f"{stream} has records after the first order"
    # A STATE before the first order holds the other streams' bookmarks: a run killed
    # while searchOrders waits resumes after what they emitted.
    state = next(m["value"] for m in reversed(before) if m["type"] == "STATE")["bookmarks"]
    for stream in ("outbound_orders", "inbound_shipments", "ledger_detail_view_data"):
        partitions = state[stream]["partitions"]
        assert all(p.get("replication_key_value") or p.get("window_end") for p in partitions), (
            stream
        )
