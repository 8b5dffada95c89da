"""429 storms: retries bounded by time, waits that grow from one refill of the plan."""

from __future__ import annotations

import logging
import re

import pytest

from spapi_standin import StandIn, StandInConfig
from tap_spapi.operations import load_catalog
from testkit import all_streams_config, assert_complete, run_tap, tap_config

OPERATION = "getMarketplaceParticipations"
RETRY_LINE = re.compile(rf"Retrying {OPERATION} in (\d+\.\d) s after attempt (\d+)")


def test_a_storm_answering_half_the_requests_429_completes_with_the_full_data_set():
    # searchOrders refills once in three minutes at Amazon's rate: a 429 that comes before
    # any 2xx announced the stand-in's scaled plan would wait that long, past
    # max_retry_seconds. The tap is told the scaled plan, as a user would tell it theirs.
    plan = load_catalog()["searchOrders"]
    overrides = {"searchOrders": {"rate": plan.rate * 50.0, "burst": plan.burst}}
    with StandIn(StandInConfig(seed=91, rate_scale=50.0, storm_rate=0.5)) as server:
        output = run_tap(all_streams_config(server, max_retries=2, rate_limit_overrides=overrides))
        throttled = sum(c.get("429", 0) for c in server.stats.snapshot().values())
        assert output.failures is not None
        assert not output.failures.stopped and not output.failures.failed_contexts
        assert_complete(output, server)
    assert throttled > 100  # a storm indeed, and far more 429s than max_retries


def test_consecutive_429s_wait_at_least_one_refill_and_longer_each_time(
    caplog: pytest.LogCaptureFixture,
):
    # 0.016 requests/s x 300: a refill takes about 0.2 s.
    plan = load_catalog()[OPERATION]
    # Live 429s carry no x-amzn-RateLimit-Limit, and these come before any 2xx could
    # announce the stand-in's scaled plan: the tap is told it, as a user would tell it theirs.
    overrides = {OPERATION: {"rate": plan.rate * 300.0, "burst": plan.burst}}
    with StandIn(StandInConfig(seed=92, rate_scale=300.0)) as server:
        server.inject(OPERATION, status=429, times=3)
        with caplog.at_level(logging.INFO):
            output = run_tap(tap_config(server, max_retries=0, rate_limit_overrides=overrides))
    refill = 1 / (plan.rate * 300.0)
    waits = [float(m.group(1)) for m in RETRY_LINE.finditer(caplog.text)]
    assert len(waits) == 3  # 429s are not counted against max_retries
    for attempt, wait in enumerate(waits):
        assert wait >= round(refill * 2**attempt, 1) - 0.05, waits
    assert output.records("marketplace_participations")
