"""The shard planner: the report streams' start-line estimate, per shard."""

from __future__ import annotations

import datetime
import subprocess
import sys
from typing import Any

from tap_spapi.planner import (
    account_seconds,
    plan_shards,
    reports_per_account,
    selected_reports,
    suggest_shard_count,
)
from tap_spapi.wire.pacing import RateLimiter, UsagePlan

NOW = datetime.datetime(2026, 6, 30, tzinfo=datetime.UTC)  # given, never the real clock
STREAM = "amazon_fulfilled_shipments_data_general"  # one report per 30 days


def accounts(count: int) -> list[dict[str, str]]:
    return [{"name": f"seller-{n}", "refresh_token": "x"} for n in range(count)]


def test_counts_one_report_per_window_of_each_type():
    start = NOW - datetime.timedelta(days=95)
    assert reports_per_account(selected_reports([STREAM]), start, NOW) == 4
    # the others document no range (one report) or are snapshots (one report)
    everything = reports_per_account(selected_reports(None), start, NOW)
    assert everything == 4 + len(selected_reports(None)) - 1


def test_estimate_is_what_the_pacer_says_on_a_full_bucket():
    plan = UsagePlan(rate=0.05, burst=2)
    limiter = RateLimiter({"createReport": plan}, clock=lambda: 0.0)
    assert account_seconds(plan, 4) == limiter.seconds_for("createReport", 4) == 60.0


def test_shards_hold_every_account_once_and_add_their_waits():
    config = {
        "accounts": accounts(40),
        "start_date": (NOW - datetime.timedelta(days=95)).isoformat(),
        "rate_limit_overrides": {"createReport": {"rate": 0.05, "burst": 2}},
    }
    plans = plan_shards(config, shard_count=4, streams=[STREAM], now=NOW, startup=5)
    assert sum(plan.accounts for plan in plans) == 40
    assert [plan.seconds for plan in plans] == [5 + plan.accounts * 60.0 for plan in plans]


def test_awd_shipments_add_a_get_inbound_shipment_each_at_its_plan():
    config = {
        "accounts": accounts(8),
        "start_date": (NOW - datetime.timedelta(days=95)).isoformat(),
        "rate_limit_overrides": {
            "createReport": {"rate": 0.05, "burst": 2},
            "getInboundShipment": {"rate": 2, "burst": 2},
        },
    }
    options: dict[str, Any] = {"streams": [STREAM], "now": NOW, "startup": 5}
    without = plan_shards(config, shard_count=2, **options)
    with_awd = plan_shards(config, shard_count=2, awd_shipments=1_002, **options)
    # what the pacer says for 1,002 requests on a full bucket: (1,002 - 1) / 2 a second
    # (it keeps one token of the burst back), per account of the shard
    plan = UsagePlan(rate=2, burst=2)
    each = RateLimiter({"getInboundShipment": plan}, clock=lambda: 0.0).seconds_for(
        "getInboundShipment", 1_002
    )
    assert each == 500.5
    assert [p.seconds for p in with_awd] == [p.seconds + p.accounts * each for p in without]


def test_suggests_the_fewest_shards_for_a_target_wall():
    config = {
        "accounts": accounts(40),
        "start_date": (NOW - datetime.timedelta(days=95)).isoformat(),
        "rate_limit_overrides": {"createReport": {"rate": 0.05, "burst": 2}},
    }
    options: dict[str, Any] = {"streams": [STREAM], "now": NOW, "startup": 0}
    count = suggest_shard_count(config, 10 * 60.0, **options)
    assert count is not None
    assert max(p.seconds for p in plan_shards(config, shard_count=count, **options)) <= 600
    fewer = plan_shards(config, shard_count=count - 1, **options)
    assert max(p.seconds for p in fewer) > 600
    assert suggest_shard_count(config, 30.0, **options) is None  # one account needs 60 s


def test_command_prints_a_row_per_shard_and_a_suggestion():
    command = ["--accounts", "100", "--shard-count", "4", "--target-minutes", "30"]
    result = subprocess.run(
        [sys.executable, "-m", "tap_spapi.planner", *command],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rows = [line for line in lines if line.startswith("| ") and "shard" not in line]
    assert len(rows) == 4
    assert "shard_count" in lines[-1]
