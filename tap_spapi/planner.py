"""How long each shard of a first run will take, and how many shards a target wall needs.

`tap-spapi-plan --config CONFIG` reads the tap's own config (accounts, `shard_count`,
`start_date`, `rate_limit_overrides`, `max_parallel_accounts`) and prints, per shard,
what the report streams' start line says for each of its accounts: the reports the
windows need and how long createReport's plan makes them take. Nothing asks Amazon:
like the start line, it counts from the usage plan the tap would start with (the
model's, or `rate_limit_overrides`). First runs are what a shard plan must fit: later
runs ask one window per report type.

Each account has its own usage plans, but a report stream syncs its accounts one after
another (singer-sdk syncs a stream's partitions in turn, and only the first
`REPORTS_IN_FLIGHT` reports of each account are requested ahead, within the burst), so
within one process the accounts' createReport waits come one after another: a shard
takes the sum of its accounts' waits, plus a fixed start-up (Meltano, the tap,
discovery). Measured so by `benchmarks/run.py shards`; if the accounts come to wait side
by side, a shard takes its slowest account per wave of `max_parallel_accounts`
instead, and `shard_seconds` must say so.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from tap_spapi.amazon.operations import load_catalog
from tap_spapi.amazon.report_types import REPORT_TYPES, ReportType
from tap_spapi.config.accounts_setting import account_names, shard_key
from tap_spapi.config.settings import Settings, parse_start_date
from tap_spapi.runtime.progress import about, describe_plan
from tap_spapi.runtime.run import DEFAULT_HISTORY_DAYS  # the tap's default start, not a copy
from tap_spapi.streams.base.windows import split_windows
from tap_spapi.wire.pacing import UsagePlan

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

OPERATION = "createReport"  # every report stream's first requests share this plan
# Meltano's start, the tap's imports, discovery and LWA before the first report.
DEFAULT_STARTUP_SECONDS = 10.0


@dataclass(frozen=True)
class ShardPlan:
    """One shard's accounts, its reports per account and the estimated wall."""

    index: int
    accounts: int
    reports_per_account: int
    seconds: float


def reports_per_account(
    report_types: Sequence[ReportType], start: datetime.datetime, end: datetime.datetime
) -> int:
    """createReport calls of one account's first run: one per window per report type.

    A type that documents no longest range is counted as one window, as the tap asks
    for it first (a refused range costs one more request per halving).
    """
    total = 0
    for report in report_types:
        if report.snapshot:
            total += 1
            continue
        longest = datetime.timedelta(days=report.max_window_days or 0) or None
        total += len(list(split_windows(start, end, longest)))
    return total


def account_seconds(plan: UsagePlan, reports: int) -> float:
    """What `RateLimiter.seconds_for` says for `reports` requests on a full bucket."""
    return max(0.0, reports - plan.capacity) / plan.paced_rate


# AWD's first run costs a getInboundShipment per inbound shipment, which only the
# seller knows the count of (`--awd-shipments`); its listings' pages run beside them.
AWD_ITEMS = "getInboundShipment"


Config: TypeAlias = "Mapping[str, Any] | Settings"  # the tap's config, or its settings parsed


def settings_of(config: Config) -> Settings:
    """`config`'s settings, parsed once (the entry points parse; the helpers read)."""
    return config if isinstance(config, Settings) else Settings.from_config(config)


def operation_plan(settings: Settings, operation_id: str) -> UsagePlan:
    """`operation_id`'s plan as the tap starts with it: an override, else the model's."""
    if operation_id in settings.rate_limits:
        return settings.rate_limits[operation_id]
    operation = load_catalog()[operation_id]
    return UsagePlan(operation.rate, operation.burst)


def awd_seconds(settings: Settings, shipments: int) -> float:
    """One account's AWD first run: a getInboundShipment per inbound shipment."""
    return account_seconds(operation_plan(settings, AWD_ITEMS), shipments)


def shard_seconds(accounts: int, per_account: float, startup: float) -> float:
    """A shard's wall: its accounts' createReport waits one after another (see the
    module's docstring), after the start-up."""
    return startup + accounts * per_account


def create_report_plan(settings: Settings) -> UsagePlan:
    """createReport's plan as the tap starts with it: an override, else the model's."""
    return operation_plan(settings, OPERATION)


def selected_reports(streams: Sequence[str] | None) -> list[ReportType]:
    """The report types of `streams` (None: every report stream)."""
    if streams is None:
        return list(REPORT_TYPES)
    return [report for report in REPORT_TYPES if report.stream_name in set(streams)]


def plan_shards(
    config: Config,
    *,
    shard_count: int | None = None,
    streams: Sequence[str] | None = None,
    now: datetime.datetime | None = None,
    startup: float = DEFAULT_STARTUP_SECONDS,
    awd_shipments: int = 0,
) -> list[ShardPlan]:
    """One `ShardPlan` per shard of `config`'s accounts (or of `shard_count` shards);
    `awd_shipments`: each account's AWD inbound shipments since the start."""
    settings = settings_of(config)
    count = shard_count or settings.shard_count or 1
    return _Fleet.of(settings, streams, now, startup, awd_shipments).plans(count)


def suggest_shard_count(
    config: Config,
    target_seconds: float,
    *,
    streams: Sequence[str] | None = None,
    now: datetime.datetime | None = None,
    startup: float = DEFAULT_STARTUP_SECONDS,
    awd_shipments: int = 0,
) -> int | None:
    """The fewest shards whose slowest shard fits `target_seconds` (None: none does,
    one account per shard included). Each count tried costs one pass over the accounts'
    hashes, computed once (it was a hash per account and shard: 54 s for 1,000)."""
    fleet = _Fleet.of(settings_of(config), streams, now, startup, awd_shipments)
    for count in range(1, max(len(fleet.keys), 1) + 1):
        if max(plan.seconds for plan in fleet.plans(count)) <= target_seconds:
            return count
    return None


@dataclass(frozen=True)
class _Fleet:
    """The accounts to plan (their shard hashes) and what each one's reports cost."""

    keys: list[int]
    reports: int
    per_account: float
    startup: float

    @classmethod
    def of(
        cls,
        settings: Settings,
        streams: Sequence[str] | None,
        now: datetime.datetime | None,
        startup: float,
        awd_shipments: int = 0,
    ) -> _Fleet:
        end = (now or datetime.datetime.now(datetime.UTC)).replace(microsecond=0)
        reports = reports_per_account(selected_reports(streams), _start_of(settings, end), end)
        per_account = account_seconds(create_report_plan(settings), reports)
        per_account += awd_seconds(settings, awd_shipments)
        keys = [shard_key(name) for name in account_names(settings)]
        return cls(keys, reports, per_account, startup)

    def plans(self, count: int) -> list[ShardPlan]:
        """One plan per shard of `count`."""
        members = Counter(key % count for key in self.keys)  # one pass, whatever the count
        return [
            ShardPlan(
                index,
                members[index],
                self.reports if members[index] else 0,
                shard_seconds(members[index], self.per_account, self.startup),
            )
            for index in range(count)
        ]


def _start_of(settings: Settings, end: datetime.datetime) -> datetime.datetime:
    if settings.start_date:
        return parse_start_date(settings.start_date)
    return end - datetime.timedelta(days=DEFAULT_HISTORY_DAYS)


def example_accounts(count: int) -> list[dict[str, str]]:
    """`count` made-up accounts (`seller-0000`, …) for planning before onboarding."""
    return [{"name": f"seller-{n:04d}", "refresh_token": "unused"} for n in range(count)]


def render(
    config: Config, plans: list[ShardPlan], suggestion: str, *, awd_shipments: int = 0
) -> str:
    """The planner's table and its suggestion."""
    settings = settings_of(config)
    plan = create_report_plan(settings)
    lines = [
        f"{describe_plan(OPERATION, plan)}, per account; the accounts of a shard wait in turn",
        *(
            [
                f"and {awd_shipments} AWD inbound shipments per account: "
                f"{describe_plan(AWD_ITEMS, operation_plan(settings, AWD_ITEMS))}, "
                f"{about(awd_seconds(settings, awd_shipments))} each"
            ]
            if awd_shipments
            else []
        ),
        "| shard | accounts | reports/account | estimate |",
        "|-------|----------|-----------------|----------|",
    ]
    lines += [
        f"| {p.index} | {p.accounts} | {p.reports_per_account} | {about(p.seconds)} |"
        for p in plans
    ]
    lines.append(suggestion)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`tap-spapi-plan --config tap.json [--target-minutes 60]`."""
    parser = argparse.ArgumentParser(prog="tap-spapi-plan", description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, help="the tap's config file (JSON)")
    parser.add_argument("--accounts", type=int, help="plan this many made-up accounts instead")
    parser.add_argument("--shard-count", type=int, help="default: the config's shard_count")
    parser.add_argument("--streams", nargs="*", help="report streams (default: all of them)")
    parser.add_argument("--target-minutes", type=float, help="suggest shard_count for this wall")
    parser.add_argument("--startup-seconds", type=float, default=DEFAULT_STARTUP_SECONDS)
    parser.add_argument(
        "--awd-shipments", type=int, default=0, help="AWD inbound shipments per account"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per shard")
    options = parser.parse_args(argv)
    config: dict[str, Any] = json.loads(options.config.read_text()) if options.config else {}
    if options.accounts:
        config["accounts"] = example_accounts(options.accounts)
    settings = Settings.from_config(config)  # parsed once
    common: dict[str, Any] = {
        "streams": options.streams,
        "startup": options.startup_seconds,
        "awd_shipments": options.awd_shipments,
    }
    plans = plan_shards(settings, shard_count=options.shard_count, **common)
    if options.json:
        for plan in plans:
            print(json.dumps(plan.__dict__))
        return 0
    suggestion = ""
    if options.target_minutes:
        target = options.target_minutes * 60
        count = suggest_shard_count(settings, target, **common)
        suggestion = (
            f"shard_count {count} keeps every shard within {about(target)}"
            if count
            else f"no shard_count fits {about(target)}, even one account per shard"
        )
    print(render(settings, plans, suggestion, awd_shipments=options.awd_shipments))
    return 0


if __name__ == "__main__":
    sys.exit(main())
