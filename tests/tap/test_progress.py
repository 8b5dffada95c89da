"""A run says what a plan-bound stream will cost before it starts, and how far it got."""

from __future__ import annotations

import datetime
import logging
import re
from typing import TYPE_CHECKING

from spapi_standin import StandIn, StandInConfig
from spapi_standin.config import NA_MARKETPLACES
from tap_spapi.runtime import progress
from tap_spapi.wire.pacing import UsagePlan
from testkit import run_tap, select_only, tap_config

if TYPE_CHECKING:
    import pytest

FULFILLED = "amazon_fulfilled_shipments_data_general"


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records]


def test_a_report_stream_says_its_cost_first_then_its_progress_while_it_waits(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.setattr(progress, "PROGRESS_INTERVAL", 0.2)  # instead of 30 s
    # createReport at 2 a second after a burst of 2 (x50 of Amazon's is too fast to wait).
    config = StandInConfig(seed=5, rate_scale=1.0, rate_overrides={"createReport": (2.0, 2)})
    with StandIn(config) as server:
        start = server.dataset.now - datetime.timedelta(days=95)  # four one-month windows
        settings = tap_config(
            server,
            start_date=start.isoformat(),
            rate_limit_overrides={"createReport": {"rate": 2.0, "burst": 2}},
        )
        caplog.set_level(logging.INFO)
        output = run_tap(settings, catalog=select_only(settings, {FULFILLED}))
    assert output.records(FULFILLED)
    lines = messages(caplog)
    (cost,) = [line for line in lines if line.startswith(f"{FULFILLED}: 4 reports")]
    assert "createReport allows 2 at once then 2 a second: about" in cost
    pattern = re.compile(rf"{FULFILLED} reports: [0-4]/4 done, about \d+ s left")
    progress_lines = [line for line in lines if pattern.fullmatch(line)]
    assert progress_lines, "progress while the stream waits for createReport's plan"
    assert lines.index(cost) < lines.index(progress_lines[0])


def test_inbound_shipments_says_how_many_queries_it_will_ask(
    standin: StandIn, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)  # a few seconds' estimate is said at DEBUG only
    config = tap_config(standin)
    run_tap(config, catalog=select_only(config, {"inbound_shipments"}))
    expected = f"inbound_shipments: {len(NA_MARKETPLACES)} DATE_RANGE queries"
    assert [line for line in messages(caplog) if line.startswith(expected)]


def test_plans_and_durations_read_as_amazon_words_them():
    assert progress.describe_plan("createReport", UsagePlan(0.0167, 15)) == (
        "createReport allows 15 at once then 1 a minute"
    )
    assert progress.describe_plan("getShipments", UsagePlan(2.0, 30)) == (
        "getShipments allows 30 at once then 2 a second"
    )
    assert progress.describe_plan("searchOrders", UsagePlan(0.0056, 20)) == (
        "searchOrders allows 20 at once then 20 an hour"
    )
    assert [progress.about(s) for s in (40, 130, 7200)] == [
        "about 40 s",
        "about 2 min",
        "about 2.0 h",
    ]
