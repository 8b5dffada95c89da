"""Benchmarks of tap-spapi against the local stand-in (run on demand, never in CI).

    python benchmarks/run.py pacing [--latency-ms 0 50 200] [--rate-scale 10] [--size small]
    python benchmarks/run.py pacing --scenario first-run [--rate-scale 1 4]
    python benchmarks/run.py pacing --scenario report-backfill [--rate-scale 20]
    python benchmarks/run.py pacing --scenario orders-backfill [--rate-scale 100] [--orders 6000]
    python benchmarks/run.py pacing --scenario inbound-plans [--rate-scale 10] [--plans 400]
    python benchmarks/run.py pacing --scenario mcf [--rate-scale 1] [--mcf-orders 150]
    python benchmarks/run.py pacing --scenario awd [--rate-scale 1] [--awd-shipments 120]
    python benchmarks/run.py throughput [--records 100000]
    python benchmarks/run.py accounts [--accounts 4] [--latency-ms 50] [--rate-scale 10]
    python benchmarks/run.py report [--rows 2000 200000 700000]
    python benchmarks/run.py state-growth [--sizes 1000 4000 16000 64000] [--noted] [--no-listed]
    python benchmarks/run.py shards [--shards 4] [--per-shard 8] [--rate 0.3] [--burst 2]
    python benchmarks/run.py notifications [--identifiers 5000] [--changed 50] [--rate-scale 100]

`pacing`: Amazon's usage plans (every rate multiplied by --rate-scale, bursts as printed),
one network latency per row group; the tap runs as a real process with its Singer output
to /dev/null. Per operation: requests, 429s, wall seconds between its first and last
request, the physical minimum `max(0, requests - burst) / rate`, and wall / minimum; per
run: wall, the run's minimum (the slowest operation's, since operations of different
streams could overlap), records/s and peak RSS.

`pacing --scenario first-run`: a first run of `marketplace_participations` and
`inbound_shipments` over 3 years, 3,000 shipments in one of four NA marketplaces; then an
incremental run with nothing new. `--scenario report-backfill`: the five report streams
over 3 years. Both print per operation the requests made next to the fewest the stand-in's
data set needs (getShipments: one per page of a query with data, one per empty query;
createReport: one per documented window, one for a type without a documented range), and
the run's wall against the bound of those fewest requests, `max(0, fewest - burst) / rate`
of the slowest operation; the report backfill also sets the tap's own estimate (its log
line before each stream) against the wall. `--scenario orders-backfill`: the three Orders
2026 streams over a year of `--orders` orders in one searchOrders query (Amazon's 0.0056/s
after a burst of 20, times --rate-scale): pages, 429s, the span of the searchOrders requests
and the run's wall against the physical minimum `(pages - 20) / rate`. `--scenario
inbound-plans`: a first run of the inbound 2024 and Tracking streams (with the MCF orders whose
packages give AFTNs) over `--plans` plans: per operation, the span of its requests against
`(requests - burst) / rate` at the stand-in's plan. `--scenario mcf`: the
MCF chain both ways, requests per operation and wall of a tap run: the 2020-07-01 streams
(one getFulfillmentOrder per changed order; with and without package events), and the same
streams with `mcf_api_version: 2026-07-04` (listOrders pages with shipments and items).
`--scenario awd`: the four Amazon Warehousing and Distribution streams over
`--awd-shipments` inbound shipments (30 outbound orders, 80 SKUs): per operation the
requests against the fewest the data needs (a listing page per 200 shipments, 100 orders,
200 SKUs, a getInboundShipment per shipment) and 429s, then an incremental run with nothing
new (one request per listing); the first run's wall, process and span of its AWD requests,
against the bound of the fewest requests.

`throughput`: rate limits off, no latency, `inbound_shipments` only; records/s of the tap
next to a bare `requests` + `json` loop over the same pages (the floor), in one run.

`shards`: the shard planner (tap_spapi/planner.py) against the shards' measured wall. Every
shard of `--shards` shards of `--per-shard` accounts is a tap process, all side by side,
reading one report stream (4 monthly windows an account) with createReport's plan made
to bind (`--rate`/s after a burst of `--burst`, on the stand-in and told to the tap);
every other plan is Amazon's times 50. The planner leaves the fixed start-up (imports,
discovery, LWA; under Meltano, Meltano and the target too) to be measured: here it is
the median wall of an incremental run of the same shards (one report an account, within
the burst). Per shard: accounts, reports an account, the estimate and the measured wall
(the planner is meant to be within 20%), and the incremental run's wall.

`state-growth`: the per-identifier streams at growing sizes, rate limits off, so the tap's
own CPU is all that counts: `shipment_tracking` over `--sizes` identifiers listed in a
file (half of them final, as the stand-in builds them), and `shipping_tracking` over as
many Amazon Shipping labels. Per stream and size: records, the tap's CPU seconds, CPU per
record, the bytes of STATE it wrote, the size of its final STATE and its peak RSS. Cost
linear in the data means CPU per record stays flat as the size grows. With `--noted`,
also `shipment_tracking` selected alone over identifiers its parents note from a year of
MCF 2026-07-04 orders (read without being emitted), with what the final state holds:
open identifiers, final ones still in their grace period, and the bytes beyond 40 per
open identifier.

`notifications` (issue 29): `--identifiers` open Tracking API identifiers listed in a file,
without and then with notifications (moto's SQS server in this process, the stand-in
publishing to it, `tap-spapi-notifications setup` subscribing): per config a fresh stand-in
of one seed, a first run, `--changed` identifiers touched, and an incremental run an hour
later by the tap's clock (`tap_spapi.runtime.run.utc_now`, set in the tap's process).
getShipmentTracking at the tap's fallback 1/s after the stand-in's burst of 10, times
--rate-scale on both sides.
Per run: getShipmentTracking requests, other requests, shipment_tracking records, 429s, wall,
the wall at Amazon's rates (getShipmentTracking's span times the scale) and the bound
`(requests - burst) / rate`; then whether the incremental runs' records (identifier, latest
milestone) are the same, and the ratio of their getShipmentTracking requests (target <= 5%).

`report`: one actionable-orders report document of each size (rows); the document's gzipped
and TSV size, the tap's peak RSS and its wall time (including Amazon's, here the stand-in's,
building the document), to show that memory does not grow with the document.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gzip
import io
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from benchmarks.peak import run_tap_with_peak
from spapi_standin import StandIn, StandInConfig
from spapi_standin.data import InboundQuery, next_milestone
from spapi_standin.live import LiveBehaviours
from tap_spapi.amazon.operations import load_catalog
from tap_spapi.amazon.report_types import REPORT_TYPES
from tap_spapi.notifications_setup import main as notifications_setup
from tap_spapi.planner import plan_shards
from tap_spapi.runtime.inbox import TRACKING_CHANGED
from tap_spapi.tap import TapSpapi
from tap_spapi.wire.pacing import RateLimiter
from testkit import (
    LOCAL_AWS,
    catalog_selecting,
    create_queue,
    credentials,
    history_start,
    listed_identifiers,
    sharded_accounts,
    sqs_server,
)

REPO = Path(__file__).resolve().parents[1]
PACED_STREAMS = {
    "inbound_shipments",
    "outbound_orders",
    "outbound_shipments",
    "outbound_package_tracking",
    "shipping_tracking",
}


@dataclass
class TapRun:
    """What one tap process did."""

    wall: float
    records: int
    peak_rss_mb: float
    log: str = ""


def tap_config(server: StandIn, **extra: Any) -> dict[str, Any]:
    """The tap's settings for `server` (its demo credentials, every label)."""
    return {
        **credentials(server),
        "start_date": (server.dataset.now.replace(year=server.dataset.now.year - 1)).isoformat(),
        "tracking_ids": server.dataset.tracking_labels(),
        **extra,
    }


def run_tap(
    config: dict[str, Any],
    streams: set[str],
    *,
    state_in: Path | None = None,
    state_out: Path | None = None,
) -> TapRun:
    """Run `python -m tap_spapi` with its Singer output to /dev/null; wall, records, RSS.

    Records are counted from the tap's own `record_count` metrics on stderr, so no
    consumer process competes with the tap for the CPU or slows it through a pipe.
    With `state_out` the output goes to a file instead, for its last STATE.
    """
    with tempfile.TemporaryDirectory() as tmp:
        config_file, catalog_file = Path(tmp, "config.json"), Path(tmp, "catalog.json")
        log_file, out_file = Path(tmp, "stderr"), Path(tmp, "stdout")
        # Records are counted from the METRIC lines, which are off by default.
        config_file.write_text(json.dumps({**config, "log_metrics": True}))
        catalog_file.write_text(json.dumps(catalog_selecting(config, streams)))
        args = ["--config", str(config_file), "--catalog", str(catalog_file)]
        if state_in is not None:
            args += ["--state", str(state_in)]
        started = time.monotonic()
        with log_file.open("wb") as log, out_file.open("wb") as out:
            exit_code, peak_mb = run_tap_with_peak(
                args, stdout=out if state_out else subprocess.DEVNULL, stderr=log, cwd=REPO
            )
        wall = time.monotonic() - started
        if exit_code != 0:
            raise SystemExit(f"the tap failed:\n{log_file.read_text()[-3000:]}")
        text = log_file.read_text()
        if state_out is not None:
            states = [line for line in out_file.read_text().splitlines() if '"STATE"' in line]
            state_out.write_text(json.dumps(json.loads(states[-1])["value"]))
    return TapRun(wall, count_records(text), peak_mb, text)


def count_records(log: str) -> int:
    """The sum of the `record_count` metrics singer-sdk logged."""
    total = 0
    for line in log.splitlines():
        _, found, metric = line.partition("METRIC: ")
        if found:
            point = json.loads(metric)
            if point.get("metric") == "record_count":
                total += int(point["value"])
    return total


def pacing_rows(server: StandIn, run: TapRun, scale: float) -> list[list[str]]:
    """Per-operation rows: requests, 429s, wall, minimum, ratio."""
    limiter_plans = TapSpapi(config=tap_config(server)).run.accounts["default"].limiter
    spans = server.stats.spans()
    rows = []
    for op, (first, last) in sorted(spans.items()):
        if op in {"lwa", "unknown"}:
            continue
        plan = limiter_plans.plan(op)
        requests_ = server.stats.count(op)
        minimum = max(0, requests_ - plan.burst) / (plan.rate * scale)
        wall = last - first
        ratio = f"{wall / minimum:.2f}" if minimum > 0 else "-"
        rows.append(
            [
                op,
                str(requests_),
                str(server.stats.count(op, "429")),
                f"{wall:.2f}",
                f"{minimum:.2f}",
                ratio,
            ]
        )
    return rows


def bench_pacing(options: argparse.Namespace) -> None:
    """One stand-in per latency; the table of every operation and the run."""
    header = ["latency", "operation", "requests", "429", "wall s", "min s", "wall/min"]
    table: list[list[str]] = []
    for latency in options.latency_ms:
        config = StandInConfig(
            seed=3, size=options.size, latency_ms=latency, rate_scale=options.rate_scale
        )
        with StandIn(config) as server:
            settings = tap_config(server, max_concurrency=options.max_concurrency)
            run = run_tap(settings, PACED_STREAMS)
            rows = pacing_rows(server, run, options.rate_scale)
        run_minimum = max(float(row[4]) for row in rows)
        table += [[f"{latency:g} ms", *row] for row in rows]
        table.append(
            [
                f"{latency:g} ms",
                "(whole run)",
                "",
                str(sum(int(r[2]) for r in rows)),
                f"{run.wall:.2f}",
                f"{run_minimum:.2f}",
                f"{run.wall / run_minimum:.2f}",
            ]
        )
        table.append(
            ["", f"{run.records} records, {run.records / run.wall:.0f} rec/s, "
             f"peak RSS {run.peak_rss_mb:.0f} MB", "", "", "", "", ""]
        )  # fmt: skip
    print_table(header, table)


THREE_YEARS = 3 * 365
FOUR_NA_MARKETPLACES = ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8", "A2Q3Y263D00KWC"]


def fewest_inbound_requests(server: StandIn, since: datetime.datetime) -> int:
    """getShipments: one request per page of a marketplace with data, one if it has none."""
    total = 0
    for marketplace in FOUR_NA_MARKETPLACES:
        query = InboundQuery(after=since, before=server.dataset.now)
        shipments, _ = server.dataset.inbound_page(marketplace, query, 0, 10**9)
        total += max(1, -(-len(shipments) // server.config.inbound_page_size))
    return total


def bound_seconds(server: StandIn, fewest: dict[str, int], scale: float) -> float:
    """The wall the fewest requests need: the slowest operation's `(n - burst) / rate`."""
    plans = RateLimiter.from_catalog()
    return max(
        max(0, n - plans.plan(op).burst) / (plans.plan(op).rate * scale) for op, n in fewest.items()
    )


def request_rows(server: StandIn, fewest: dict[str, int], label: str) -> list[list[str]]:
    """Per operation: requests made, the fewest the data needs, 429s."""
    rows = []
    for op in sorted(server.stats.snapshot()):
        if op in {"lwa", "unknown"}:
            continue
        made = server.stats.count(op)
        need = fewest.get(op)
        rows.append([label, op, str(made), "-" if need is None else str(need),
                     str(server.stats.count(op, "429"))])  # fmt: skip
    return rows


def bench_first_run(options: argparse.Namespace) -> None:
    """3,000 inbound shipments over 3 years in one of four marketplaces, then nothing new."""
    streams = {"marketplace_participations", "inbound_shipments"}
    table: list[list[str]] = []
    walls: list[list[str]] = []
    for scale in options.rate_scale_list:
        config = StandInConfig(
            seed=3,
            history_days=THREE_YEARS,
            marketplaces=list(FOUR_NA_MARKETPLACES),
            inbound_marketplaces=FOUR_NA_MARKETPLACES[:1],
            inbound_shipments_per_marketplace=3_000,
            latency_ms=options.latency_ms[0],
            rate_scale=scale,
        )
        with StandIn(config) as server:
            since = server.dataset.now - datetime.timedelta(days=THREE_YEARS + 1)
            settings = tap_config(server, start_date=since.isoformat())
            settings.pop("tracking_ids")
            state_file = Path(tempfile.mkdtemp()) / "state.json"
            run = run_tap(settings, streams, state_out=state_file)
            fewest = {"getMarketplaceParticipations": 1,
                      "getShipments": fewest_inbound_requests(server, since)}  # fmt: skip
            table += request_rows(server, fewest, f"x{scale:g} first run")
            first, last = server.stats.spans()["getShipments"]
            bound = bound_seconds(server, fewest, scale)
            walls.append([f"x{scale:g}", f"{run.wall:.2f}", f"{last - first:.2f}", f"{bound:.2f}",
                          f"{run.wall / bound:.2f}", f"{(last - first) / bound:.2f}"])  # fmt: skip
            server.stats.reset()
            server.reset_rate_limits()  # scheduled runs are hours apart: full buckets
            run_tap(settings, streams, state_in=state_file)
            # Nothing new: one query per marketplace, no page beyond it.
            fewest = {"getMarketplaceParticipations": 1, "getShipments": len(FOUR_NA_MARKETPLACES)}
            table += request_rows(server, fewest, f"x{scale:g} incremental")
    print_table(["run", "operation", "requests", "fewest", "429"], table)
    print()
    print_table(
        ["rates", "wall s (process)", "getShipments span s", "bound s", "wall/bound",
         "span/bound"],
        walls,
    )  # fmt: skip


REPORT_STREAMS = {report.stream_name for report in REPORT_TYPES}
ESTIMATE = re.compile(r": \d+ reports for account .*: about ([\d.]+) (s|min|h)$", re.MULTILINE)


def fewest_reports(history_days: float) -> int:
    """createReport: ceil(history / documented range) per windowed type, one for a type
    that documents no range (the stand-in accepts it whole) and one per snapshot."""
    return sum(
        1
        if r.snapshot or r.max_window_days is None
        else math.ceil(history_days / r.max_window_days)
        for r in REPORT_TYPES
    )


def bench_report_backfill(options: argparse.Namespace) -> None:
    """Five report types over 3 years: reports asked against the documented windows, and
    the tap's estimate against its wall."""
    scale = options.rate_scale_list[0]
    config = StandInConfig(
        seed=3, history_days=THREE_YEARS, rate_scale=scale, latency_ms=options.latency_ms[0]
    )
    with StandIn(config) as server:
        since = server.dataset.now - datetime.timedelta(days=THREE_YEARS + 1)
        # The tap learns a plan from Amazon's rate header only after its first answer;
        # scaled rates are told to it, as an operator would (`rate_limit_overrides`).
        plan = RateLimiter.from_catalog().plan("createReport")
        scaled = {"createReport": {"rate": plan.rate * scale, "burst": plan.burst}}
        settings = tap_config(server, start_date=since.isoformat(), rate_limit_overrides=scaled)
        settings.pop("tracking_ids")
        state_file = Path(tempfile.mkdtemp()) / "state.json"
        run = run_tap(settings, REPORT_STREAMS, state_out=state_file)
        fewest = {"createReport": fewest_reports(THREE_YEARS + 1)}
        table = request_rows(server, fewest, f"x{scale:g} backfill")
        server.stats.reset()
        server.reset_rate_limits()  # scheduled runs are hours apart: full buckets
        before = set(server.reports.reports)
        run_tap(settings, REPORT_STREAMS, state_in=state_file)
        # Nothing new: one report per type, for bookmark - lookback .. now.
        table += request_rows(server, {"createReport": len(REPORT_TYPES)}, "incremental")
        starts = [r.start for k, r in server.reports.reports.items() if k not in before and r.start]
        oldest_allowed = oldest_incremental_start(state_file)
    print(f"incremental reports start at {min(starts)}; bookmark - lookback: {oldest_allowed}")
    estimate = sum(_seconds(amount, unit) for amount, unit in ESTIMATE.findall(run.log))
    print_table(["run", "operation", "requests", "fewest", "429"], table)
    print()
    bound = bound_seconds(server, fewest, scale)
    print_table(
        ["rates", "wall s (process)", "bound s", "wall/bound", "estimate s", "estimate/wall"],
        [[f"x{scale:g}", f"{run.wall:.1f}", f"{bound:.1f}", f"{run.wall / bound:.2f}",
          f"{estimate:.1f}", f"{estimate / run.wall:.2f}"]],
    )  # fmt: skip


def oldest_incremental_start(state_file: Path) -> datetime.datetime:
    """The earliest window bookmark of the report streams minus the default lookback."""
    bookmarks = json.loads(state_file.read_text())["bookmarks"]
    ends = [
        datetime.datetime.fromisoformat(partition["window_end"])
        for stream in REPORT_STREAMS
        for partition in bookmarks.get(stream, {}).get("partitions", [])
        if "window_end" in partition
    ]
    return min(ends) - datetime.timedelta(minutes=180)


def _seconds(amount: str, unit: str) -> float:
    return float(amount) * {"s": 1.0, "min": 60.0, "h": 3600.0}[unit]


def bare_session(token: str) -> requests.Session:
    """A plain session with the headers every SP-API call needs (the stand-in checks
    them like Amazon)."""
    session = requests.Session()
    session.headers["x-amz-access-token"] = token
    session.headers["x-amz-date"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    session.headers["User-Agent"] = "bare-loop/1.0 (Language=Python)"
    return session


def bare_loop(base_url: str, token: str, marketplaces: list[str], since: str, until: str) -> int:
    """The floor: requests + json over the same getShipments pages, records to /dev/null."""
    session = bare_session(token)
    url = base_url + "/fba/inbound/v0/shipments"
    records = 0
    with open(os.devnull, "w") as sink:
        for marketplace in marketplaces:
            params: dict[str, str] = {
                "MarketplaceId": marketplace,
                "QueryType": "DATE_RANGE",
                # Live Amazon refuses a DATE_RANGE without a status list (#888).
                "ShipmentStatusList": ",".join(
                    load_catalog()["getShipments"].query_enums["ShipmentStatusList"]
                ),
                "LastUpdatedAfter": since,
                "LastUpdatedBefore": until,
            }
            while True:
                payload = session.get(url, params=params, timeout=30).json()["payload"]
                for record in payload.get("ShipmentData", []):
                    sink.write(json.dumps(record) + "\n")
                    records += 1
                if not payload.get("NextToken"):
                    break
                params = {
                    "MarketplaceId": marketplace,
                    "QueryType": "NEXT_TOKEN",
                    "NextToken": payload["NextToken"],
                }
    return records


@dataclass(frozen=True)
class PageChain:
    """A paged list operation: its path, first page's query, and where its token goes."""

    path: str
    first_page: dict[str, Any]
    token_at: tuple[str, ...]
    token_param: str


PAGE_CHAINS = {
    "listInboundPlans": PageChain(
        "/inbound/fba/2024-03-20/inboundPlans",
        {"sortBy": "LAST_UPDATED_TIME", "sortOrder": "DESC", "pageSize": 30},
        ("pagination", "nextToken"),
        "paginationToken",
    ),
    "listAllFulfillmentOrders": PageChain(
        "/fba/outbound/2020-07-01/fulfillmentOrders",
        {"queryStartDate": "2000-01-01T00:00:00Z"},
        ("payload", "nextToken"),
        "nextToken",
    ),
}


def bare_page_chain(base_url: str, token: str, operation: str, pages: int) -> float:
    """The floor of a chain of pages: seconds from the first request sent to the last,
    each page asked as soon as the one before answered (requests + json, nothing else)."""
    chain, session = PAGE_CHAINS[operation], bare_session(token)
    params, sent = dict(chain.first_page), []
    for _ in range(pages):
        sent.append(time.monotonic())
        body = session.get(base_url + chain.path, params=params, timeout=30).json()
        for key in chain.token_at:
            body = body.get(key) or {}
        if not body:
            break
        params = {chain.token_param: body}
    return sent[-1] - sent[0]


def bare_tracking_loop(base_url: str, token: str, identifiers: list[dict[str, str]]) -> float:
    """The floor of a per-identifier stream: milliseconds of CPU per getShipmentTracking
    of a requests + json loop over the same identifiers (each asked once)."""
    session = bare_session(token)
    session.trust_env = False  # no proxy lookup per request: the tap does it once per host
    url = base_url + load_catalog()["getShipmentTracking"].path
    before = os.times()
    for entry in identifiers:
        if entry["type"] == "carrierTracking":
            params = {"carrierTracking.trackingNumber": entry["value"],
                      "carrierTracking.carrierCode": entry["carrier_code"]}  # fmt: skip
        else:
            params = {entry["type"]: entry["value"]}
        session.get(url, params=params, timeout=30).json()
    after = os.times()
    cpu = (after.user - before.user) + (after.system - before.system)
    return cpu / max(1, len(identifiers)) * 1000


def in_own_process(function: str, *arguments: Any) -> Any:
    """`function(*arguments)` of this module in a process of its own, like the tap (the
    stand-in holds this one's GIL); its printed JSON result."""
    # The arguments go through stdin: 16,000 identifiers are past the limit of a
    # command line (E2BIG).
    code = (
        "import json, sys; sys.path.insert(0, 'benchmarks'); import run; "
        f"print(json.dumps(run.{function}(*json.loads(sys.stdin.read()))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(arguments),
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return json.loads(done.stdout)


def lwa_token(server: StandIn) -> str:
    """An access token of the stand-in's first refresh token."""
    token: str = requests.post(
        server.lwa_token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": min(server.config.refresh_tokens),
            "client_id": server.config.client_id,
            "client_secret": server.config.client_secret,
        },
        timeout=30,
    ).json()["access_token"]
    return token


def run_bare_loop(server: StandIn, marketplaces: list[str], since: str) -> tuple[int, float]:
    """`bare_loop` in its own process, like the tap."""
    arguments = [marketplaces, since, server.dataset.now.isoformat()]
    started = time.monotonic()
    records = in_own_process("bare_loop", server.base_url, lwa_token(server), *arguments)
    return int(records), time.monotonic() - started


def growth_run(config: dict[str, Any], stream: str, *, keep_state: bool = False) -> list[str]:
    """One tap process on `stream`: records, CPU s, CPU ms/record, STATE bytes written,
    final STATE bytes, peak RSS (its output read from a file after it ends); and with
    `keep_state`, the final state's JSON last."""
    with tempfile.TemporaryDirectory() as tmp:
        config_file, catalog_file = Path(tmp, "config.json"), Path(tmp, "catalog.json")
        out_file = Path(tmp, "stdout")
        config_file.write_text(json.dumps(config))
        catalog_file.write_text(json.dumps(catalog_selecting(config, {stream})))
        before = os.times()
        with out_file.open("wb") as out:
            code, peak_mb = run_tap_with_peak(
                ["--config", str(config_file), "--catalog", str(catalog_file)],
                stdout=out,
                stderr=subprocess.DEVNULL,
                cwd=REPO,
            )
        after = os.times()
        if code != 0:
            raise SystemExit(f"the tap failed on {stream} (exit {code})")
        cpu = (after.children_user - before.children_user) + (
            after.children_system - before.children_system
        )
        records, state_bytes, last_state = 0, 0, b""
        with out_file.open("rb") as written:
            for line in written:
                if line.startswith(b'{"type":"RECORD"') and f'"{stream}"'.encode() in line[:80]:
                    records += 1
                elif b'"STATE"' in line[:20]:
                    state_bytes += len(line)
                    last_state = line
    per_record = cpu / records * 1000 if records else float("nan")
    return [
        f"{records:,}",
        f"{cpu:.1f}",
        f"{per_record:.2f}",
        f"{state_bytes / 1024:,.0f} KB",
        f"{len(last_state) / 1024:,.1f} KB",
        f"{peak_mb:.0f}",
        *([json.dumps(json.loads(last_state)["value"])] if keep_state else []),
    ]


def bench_state_growth(options: argparse.Namespace) -> None:
    """Tracking identifiers and Shipping labels at each size, rate limits off."""
    rows: list[list[str]] = []
    floors: list[float] = []
    for size in options.sizes if options.listed else []:
        config = StandInConfig(
            seed=1,
            size="tiny",
            rate_limits=False,
            listed_shipment_trackings=max(1, size // 4),  # four kinds of identifier
            shipping_trackings=size * 10,  # counts of a tiny data set are a tenth
        )
        with StandIn(config) as server, tempfile.TemporaryDirectory() as tmp:
            identifiers, labels = Path(tmp, "identifiers.jsonl"), Path(tmp, "labels.jsonl")
            for path, entries in (
                (identifiers, listed_identifiers(server.dataset)),
                (labels, server.dataset.tracking_labels()),
            ):
                path.write_text("".join(f"{json.dumps(entry)}\n" for entry in entries))
            unpaced = {
                operation: {"rate": 1_000_000, "burst": 1_000_000}
                for operation in ("getShipmentTracking", "getTracking")
            }
            settings = {
                **credentials(server),
                "start_date": "2020-01-01T00:00:00Z",
                "rate_limit_overrides": unpaced,
            }
            tracking = {**settings, "shipment_tracking_ids_file": str(identifiers)}
            shipping = {**settings, "tracking_ids_file": str(labels)}
            for stream, stream_config in (
                ("shipment_tracking", tracking),
                ("shipping_tracking", shipping),
            ):
                rows.append([stream, f"{size:,}", *growth_run(stream_config, stream)])
            if not floors:  # the floor, once: requests + json over the same identifiers
                entries = listed_identifiers(server.dataset)
                floors.append(
                    in_own_process(
                        "bare_tracking_loop", server.base_url, lwa_token(server), entries
                    )
                )
    if options.noted:
        rows.extend(noted_growth_row(size) for size in options.sizes)
    print_table(
        ["stream", "ids", "records", "CPU s", "CPU ms/record", "STATE written", "final STATE",
         "peak MB"],
        rows,
    )  # fmt: skip
    if floors:
        print(f"\nfloor: a requests + json loop over the first size's identifiers spends "
              f"{floors[0]:.2f} ms of CPU per getShipmentTracking")  # fmt: skip
    if options.inbound:
        print("\ninbound 2024-03-20 plans, shipments, items, boxes and their tracking, limits off")
        print_table(["plans", "shipments", "records", "CPU s", "CPU ms/shipment", "peak MB"],
                    inbound_growth_rows(options.inbound))  # fmt: skip
    if options.noted:
        print(
            "\nnoted: shipment_tracking selected alone, its identifiers noted from a year of "
            "MCF 2026-07-04 orders (listOrders pages, read without being emitted); final "
            "STATE as written, and beyond 40 bytes per identifier still open"
        )
        print_table(["ids", "open", "final kept", "final STATE", "beyond 40 B/open"],
                    NOTED_STATE_ROWS)  # fmt: skip


def inbound_growth_rows(shipments: list[int]) -> list[list[str]]:
    """The inbound 2024 streams and the tracking of their boxes, limits off, at each
    count of shipments: the tap's CPU per shipment (one tap process each)."""
    rows = []
    for wanted in shipments:
        plans = max(1, int(wanted / SHIPMENTS_PER_PLAN))
        config = StandInConfig(
            seed=3,
            size="tiny",
            rate_limits=False,
            history_days=365,
            inbound_plans=plans * 10,  # counts of a tiny data set are a tenth
            inbound_shipments_per_marketplace=plans * 10,  # what 2024 shipments confirm
            outbound_orders=10,
            shipping_trackings=1,
        )
        with StandIn(config) as server:
            made = len(server.dataset.plan_shipments)
            settings = {
                **credentials(server),
                "start_date": history_start(server),
                "rate_limit_overrides": {op: {"rate": 1_000_000, "burst": 1_000_000}
                                         for op in INBOUND_OPERATIONS},
            }  # fmt: skip
            before = os.times()
            run = run_tap(settings, INBOUND_ONLY)
            after = os.times()
        cpu = (after.children_user - before.children_user) + (
            after.children_system - before.children_system
        )
        rows.append([f"{plans:,}", f"{made:,}", f"{run.records:,}", f"{cpu:.1f}",
                     f"{cpu / made * 1000:.1f}", f"{run.peak_rss_mb:.0f}"])  # fmt: skip
    return rows


SHIPMENTS_PER_PLAN = 2.0  # what the stand-in builds
INBOUND_ONLY = {
    "inbound_plans",
    "inbound_plan_shipments",
    "inbound_plan_shipment_items",
    "inbound_plan_shipment_boxes",
    "shipment_tracking",
    "shipment_tracking_milestones",
}
INBOUND_OPERATIONS = (
    "listInboundPlans",
    "getInboundPlan",
    "fulfillmentInbound_2024-03-20.getShipment",
    "listShipmentItems",
    "listShipmentBoxes",
    "getShipmentTracking",
)


# Per size of the `noted` rows: what the final state holds (filled by noted_growth_row).
NOTED_STATE_ROWS: list[list[str]] = []
# MCF orders per tracking identifier wanted (the stand-in gives about 1.3 packages an order).
ORDERS_PER_IDENTIFIER = 0.77


def noted_growth_row(size: int) -> list[str]:
    """`size` identifiers noted from MCF orders over a year, shipment_tracking selected
    alone, limits off: the growth row, and the final state's make-up in NOTED_STATE_ROWS."""
    orders = max(10, int(size * ORDERS_PER_IDENTIFIER))
    config = StandInConfig(
        seed=1,
        size="tiny",
        rate_limits=False,
        history_days=365,
        outbound_orders=orders * 10,  # counts of a tiny data set are a tenth
        inbound_plans=1,
        inbound_shipments_per_marketplace=1,
        shipping_trackings=1,
    )
    with StandIn(config) as server:
        unpaced = {
            operation: {"rate": 1_000_000, "burst": 1_000_000}
            for operation in ("getShipmentTracking", "listOrders", "listInboundPlans",
                              "getInboundPlan", "fulfillmentInbound_2024-03-20.getShipment")
        }  # fmt: skip
        settings = {
            **credentials(server),
            "start_date": history_start(server),
            "rate_limit_overrides": unpaced,
            "mcf_api_version": "2026-07-04",
        }
        row = growth_run(settings, "shipment_tracking", keep_state=True)
    state = json.loads(row.pop())
    (partition,) = state["bookmarks"]["shipment_tracking"]["partitions"]
    still_open = sum(len(values) for values in partition.get("open", {}).values())
    final = sum(len(values) for values in partition.get("final", {}).values())
    size_bytes = len(json.dumps(state, separators=(",", ":")))
    NOTED_STATE_ROWS.append([
        row[0], f"{still_open:,}", f"{final:,}", f"{size_bytes / 1024:,.1f} KB",
        f"{(size_bytes - 40 * still_open) / 1024:,.1f} KB",
    ])  # fmt: skip
    return ["shipment_tracking (noted)", f"{size:,}", *row]


def bench_throughput(options: argparse.Namespace) -> None:
    """Tap vs bare loop, inbound_shipments only, rate limits off."""
    per_marketplace = options.records // 2
    config = StandInConfig(
        seed=3,
        rate_limits=False,
        inbound_shipments_per_marketplace=per_marketplace,
        history_days=20,
        outbound_orders=1,
        shipping_trackings=1,
    )
    with StandIn(config) as server:
        marketplaces = list(config.inbound_marketplaces)
        # Limits off on both sides: the stand-in never throttles, and the tap paces
        # getShipments far above anything the loop reaches.
        unpaced = {"getShipments": {"rate": 1_000_000, "burst": 1_000_000}}
        settings = tap_config(server, marketplace_ids=marketplaces, rate_limit_overrides=unpaced)
        since = server.dataset.now.replace(day=1, month=1).isoformat()
        # The fixed cost of a run (interpreter, imports, discovery, LWA): an empty window.
        idle = run_tap({**settings, "start_date": server.dataset.now.isoformat()}, STREAM)
        tap = run_tap({**settings, "start_date": since}, STREAM)
        floor_records, floor_wall = run_bare_loop(server, marketplaces, since)
    tap_rate, floor_rate = tap.records / tap.wall, floor_records / floor_wall
    steady_rate = tap.records / (tap.wall - idle.wall)
    print_table(
        ["loop", "records", "wall s", "records/s", "peak RSS MB"],
        [
            row("tap-spapi, whole run", tap.records, tap.wall, tap.peak_rss_mb),
            row("tap-spapi, empty run", idle.records, idle.wall, idle.peak_rss_mb),
            ["tap-spapi, minus the empty run", "", "", f"{steady_rate:.0f}", ""],
            row("requests + json", floor_records, floor_wall, None),
        ],
    )
    print(f"\ntap / floor = {tap_rate / floor_rate:.2f} (whole run), ", end="")
    print(f"{steady_rate / floor_rate:.2f} (minus the empty run's fixed cost)")


STREAM = {"inbound_shipments"}


def row(name: str, records: int, wall: float, peak_rss_mb: float | None) -> list[str]:
    """One line of the throughput table."""
    rate = f"{records / wall:.0f}" if records else "-"
    rss = f"{peak_rss_mb:.0f}" if peak_rss_mb is not None else "-"
    return [name, str(records), f"{wall:.2f}", rate, rss]


OUTBOUND_CHAIN = {"outbound_orders", "outbound_shipments", "outbound_package_tracking"}


def bench_accounts(options: argparse.Namespace) -> None:
    """N accounts on one stand-in (a bucket each), the outbound chain, by max_parallel_accounts."""
    rows = [accounts_row(options, parallel) for parallel in sorted({1, 2, options.accounts})]
    print(f"{options.accounts} accounts, outbound chain, {options.latency_ms:g} ms latency")
    print_table(["max_parallel_accounts", "records", "429", "wall s", "min s", "wall/min"], rows)


def accounts_row(options: argparse.Namespace, parallel: int) -> list[str]:
    """One run on a fresh stand-in (a used one's buckets would still be draining)."""
    tokens = [f"Atzr|benchmark-account-{number}" for number in range(options.accounts)]
    config = StandInConfig(
        seed=3,
        size="small",
        latency_ms=options.latency_ms,
        rate_scale=options.rate_scale,
        refresh_tokens=set(tokens),
    )
    with StandIn(config) as server:
        settings = tap_config(server, max_parallel_accounts=parallel)
        settings.pop("refresh_token")
        settings["accounts"] = [
            {"name": f"account-{number}", "refresh_token": token}
            for number, token in enumerate(tokens)
        ]
        plan = (
            TapSpapi(config=tap_config(server))
            .run.accounts["default"]
            .limiter.plan("getPackageTrackingDetails")
        )
        run = run_tap(settings, OUTBOUND_CHAIN)
        # Each account has its own bucket: the run's minimum is one account's.
        per_account = server.stats.count("getPackageTrackingDetails") / options.accounts
        minimum = max(0.0, per_account - plan.burst) / (plan.rate * options.rate_scale)
        throttled = sum(c.get("429", 0) for c in server.stats.snapshot().values())
    return [
        str(parallel),
        str(run.records),
        str(throttled),
        f"{run.wall:.2f}",
        f"{minimum:.2f}",
        f"{run.wall / minimum:.2f}",
    ]


REPORT_STREAM = "flat_file_actionable_order_data_shipping"


def bench_report(options: argparse.Namespace) -> None:
    """Peak memory and wall time of the tap reading one report document per size."""
    rows: list[list[str]] = []
    # The gzipped path, which streams: Amazon's occasional plain document (live.py) would
    # make one size's row a different measurement.
    gzipped = LiveBehaviours(uncompressed_documents=False)
    with StandIn(StandInConfig(seed=5, rate_limits=False, live=gzipped)) as server:
        settings = tap_config(server)
        report_type = "GET_FLAT_FILE_ACTIONABLE_ORDER_DATA_SHIPPING"
        for count in options.rows:
            server.reports.row_counts[report_type] = count
            server.reports.reports.clear()  # a new report, not the last run's snapshot
            server.reports.documents.clear()
            run = run_tap(settings, {REPORT_STREAM})
            body = next(iter(server.reports.documents.values())).body
            tsv_mb = len(gzip.decompress(body)) / 1e6
            rows.append(
                [str(run.records), f"{len(body) / 1e6:.1f}", f"{tsv_mb:.1f}",
                 f"{run.peak_rss_mb:.1f}", f"{run.wall:.1f}", f"{run.records / run.wall:.0f}"]
            )  # fmt: skip
    print_table(["rows", "gzip MB", "TSV MB", "peak RSS MB", "wall s", "rows/s"], rows)


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """A Markdown table (paste-able into the README)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


ORDER_STREAMS = {"orders", "order_items", "order_packages"}


def bench_orders_backfill(options: argparse.Namespace) -> None:
    """A first run of the Orders 2026 streams: searchOrders pages against the minimum."""
    scale = options.rate_scale_list[0]
    config = StandInConfig(
        seed=3,
        history_days=365,
        orders=options.orders,
        rate_scale=scale,
        latency_ms=options.latency_ms[0],
    )
    with StandIn(config) as server:
        # Told the scaled plan, as an operator would (`rate_limit_overrides`): the tap
        # otherwise learns it from the rate header of its first answer.
        plan = RateLimiter.from_catalog().plan("searchOrders")
        scaled = {"searchOrders": {"rate": plan.rate * scale, "burst": plan.burst}}
        settings = tap_config(server, rate_limit_overrides=scaled)
        settings.pop("tracking_ids")
        run = run_tap(settings, ORDER_STREAMS)
        pages = server.stats.count("searchOrders")
        throttled = server.stats.count("searchOrders", "429")
        first, last = server.stats.spans()["searchOrders"]
    minimum = max(0, pages - plan.burst) / (plan.rate * scale)
    print_table(
        ["rates", "orders", "pages", "429", "span s", "wall s (process)", "min s",
         "span/min", "wall/min"],
        [[f"x{scale:g}", str(options.orders), str(pages), str(throttled), f"{last - first:.1f}",
          f"{run.wall:.1f}", f"{minimum:.1f}", f"{(last - first) / minimum:.2f}",
          f"{run.wall / minimum:.2f}"]],
    )  # fmt: skip


INBOUND_PLAN_STREAMS = {
    "outbound_orders",
    "outbound_shipments",
    "inbound_plans",
    "inbound_plan_shipments",
    "inbound_plan_shipment_items",
    "inbound_plan_shipment_boxes",
    "shipment_tracking",
    "shipment_tracking_milestones",
}


def bench_inbound_plans(options: argparse.Namespace) -> None:
    """A first run of the inbound 2024 and Tracking streams (MCF orders for their AFTNs).

    Per operation: requests, 429s, the span of its requests and the physical minimum
    `max(0, requests - burst) / rate` at the stand-in's plan (for getShipmentTracking,
    whose model prints none, the stand-in's assumed live plan, which the tap learns
    from the rate header after starting on its fallback plan). A chain of pages takes
    at least what a bare loop of `requests` over the same pages takes (each page's
    token comes with the answer to the page before), measured after the tap's run.
    """
    scale = options.rate_scale_list[0]
    config = StandInConfig(
        seed=3,
        history_days=365,
        inbound_shipments_per_marketplace=options.plans,
        inbound_plans=options.plans,
        outbound_orders=options.plans // 2,
        rate_scale=scale,
        latency_ms=options.latency_ms[0],
    )
    with StandIn(config) as server:
        settings = tap_config(server, max_concurrency=options.max_concurrency)
        settings.pop("tracking_ids")
        run = run_tap(settings, INBOUND_PLAN_STREAMS)
        spans, token = server.stats.spans(), lwa_token(server)
        rows = []
        for op, (first, last) in sorted(spans.items()):
            if op in {"lwa", "unknown"}:
                continue
            rate, burst = server.app.limiter.plan(op)
            made, throttled = server.stats.count(op), server.stats.count(op, "429")
            minimum = max(0, made - burst) / rate
            if op in PAGE_CHAINS:  # the tap's requests are counted: now the bare loop's
                floor = in_own_process("bare_page_chain", server.base_url, token, op, made)
                minimum = max(minimum, floor)
            ratio = f"{(last - first) / minimum:.2f}" if minimum > 0 else "-"
            rows.append([op, str(made), str(throttled),
                         f"{last - first:.2f}", f"{minimum:.2f}", ratio])  # fmt: skip
        # Tracking pipelined: from the first request that can name an identifier (a
        # lower bound of when the first one is known) to the last getShipmentTracking,
        # against the bound of getShipmentTracking's plan for the requests it needed.
        known = min(spans[op][0] for op in IDENTIFIER_SOURCES if op in spans)
        rate, burst = server.app.limiter.plan(TRACKING_OPERATION)
        bound = max(0, server.stats.count(TRACKING_OPERATION) - burst) / rate
        tracked = spans[TRACKING_OPERATION][1] - known
    rows.append(["(whole run)", "", "", f"{run.wall:.1f}", "", ""])
    rows.append(["tracking, from the first identifier known", "", "", f"{tracked:.2f}",
                 f"{bound:.2f}", f"{tracked / bound:.2f}" if bound else "-"])  # fmt: skip
    rows.append([f"{run.records} records, peak RSS {run.peak_rss_mb:.0f} MB, x{scale:g}",
                 "", "", "", "", ""])  # fmt: skip
    print_table(["operation", "requests", "429", "span s", "min s", "span/min"], rows)


TRACKING_OPERATION = "getShipmentTracking"
# The answers that name the identifiers shipment_tracking asks for: MCF orders' packages
# (2020-07-01 getFulfillmentOrder) and inbound 2024 shipments' boxes (getShipment).
IDENTIFIER_SOURCES = ("getFulfillmentOrder", "fulfillmentInbound_2024-03-20.getShipment")


MCF_LISTS = {"outbound_orders", "outbound_shipments", "outbound_order_items"}
MCF_OPERATIONS = (
    "listAllFulfillmentOrders",
    "getFulfillmentOrder",
    "getPackageTrackingDetails",
    "listOrders",
)


def mcf_config(options: argparse.Namespace) -> StandInConfig:
    """A fresh stand-in of the MCF orders (its buckets full)."""
    return StandInConfig(
        seed=3,
        rate_scale=options.rate_scale,
        latency_ms=options.latency_ms[0],
        outbound_orders=options.mcf_orders,
    )


def scaled_plans(scale: float) -> dict[str, dict[str, float]]:
    """The MCF operations' plans times `scale`, told to the tap (`rate_limit_overrides`)."""
    limiter = RateLimiter.from_catalog()
    plans = {}
    for operation in MCF_OPERATIONS:
        plan = limiter.plan(operation)
        plans[operation] = {"rate": plan.rate * scale, "burst": plan.burst}
    return plans


def mcf_row(label: str, server: StandIn, wall: float, records: int) -> list[str]:
    """Requests per MCF operation, 429s, wall."""
    counts = [str(server.stats.count(op)) for op in MCF_OPERATIONS]
    total = sum(server.stats.count(op) for op in MCF_OPERATIONS)
    throttled = sum(server.stats.count(op, "429") for op in MCF_OPERATIONS)
    return [label, *counts, str(total), str(throttled), str(records), f"{wall:.2f}"]


def bench_mcf(options: argparse.Namespace) -> None:
    """The MCF chain both ways, each a tap run: 2020-07-01 (one getFulfillmentOrder per
    changed order) and `mcf_api_version: 2026-07-04` (listOrders pages with shipments)."""
    scale = options.rate_scale
    rows = []
    for label, streams in (
        ("2020-07-01: orders, shipments, items", MCF_LISTS),
        ("2020-07-01: + package events", {*MCF_LISTS, "outbound_package_tracking"}),
    ):
        with StandIn(mcf_config(options)) as server:
            settings = tap_config(server, rate_limit_overrides=scaled_plans(scale))
            run = run_tap(settings, streams)
            rows.append(mcf_row(label, server, run.wall, run.records))
    with StandIn(mcf_config(options)) as server:
        settings = tap_config(
            server, rate_limit_overrides=scaled_plans(scale), mcf_api_version="2026-07-04"
        )
        run = run_tap(settings, MCF_LISTS)
        rows.append(mcf_row("2026-07-04: orders, shipments, items", server, run.wall, run.records))
    print(
        f"{options.mcf_orders} MCF orders, Amazon's plans x{scale:g}, "
        f"{options.latency_ms[0]:g} ms latency"
    )
    print_table(["path", *MCF_OPERATIONS, "requests", "429", "records", "wall s"], rows)


AWD_STREAMS = {
    "awd_inbound_shipments", "awd_inbound_shipment_items", "awd_outbound_orders", "awd_inventory",
}  # fmt: skip


def fewest_awd_requests(server: StandIn) -> dict[str, int]:
    """A page per 200 shipments, 100 orders, 200 SKUs (at least one each), a
    getInboundShipment per shipment, no getOutbound (listOutbounds holds whole orders)."""
    data = server.dataset

    def pages(count: int, size: int) -> int:
        return max(1, -(-count // size))

    return {
        "listInboundShipments": pages(len(data.awd_inbound_shipments), 200),
        "getInboundShipment": len(data.awd_inbound_shipments),
        "listOutbounds": pages(len(data.awd_outbound_orders), 100),
        "listInventory": pages(len(data.awd_inventory), 200),
    }


def bench_awd(options: argparse.Namespace) -> None:
    """The AWD streams' first run and an incremental run with nothing new, at Amazon's
    plans times --rate-scale: requests per operation against the fewest the data needs,
    429s, and the first run's wall (process, and the span of its AWD requests) against
    the bound of the fewest requests."""
    scale = options.rate_scale
    config = StandInConfig(
        seed=3,
        rate_scale=scale,
        latency_ms=options.latency_ms[0],
        awd_inbound_shipments=options.awd_shipments,
    )
    with StandIn(config) as server:
        settings = tap_config(server, lookback_window=0)
        settings.pop("tracking_ids")
        state_file = Path(tempfile.mkdtemp()) / "state.json"
        run = run_tap(settings, AWD_STREAMS, state_out=state_file)
        fewest = fewest_awd_requests(server)
        table = request_rows(server, fewest, "first run")
        spans = [span for op, span in server.stats.spans().items() if op in fewest]
        span = max(last for _, last in spans) - min(first for first, _ in spans)
        bound = bound_seconds(server, fewest, scale)
        throttled = sum(server.stats.count(op, "429") for op in fewest)
        server.stats.reset()
        server.reset_rate_limits()  # scheduled runs are hours apart: full buckets
        run_tap(settings, AWD_STREAMS, state_in=state_file)
        # Nothing new: one request per listing, no shipment asked again.
        nothing_new = {"listInboundShipments": 1, "listOutbounds": 1, "listInventory": 1}
        table += request_rows(server, nothing_new, "nothing new")
    print(
        f"AWD: {options.awd_shipments} inbound shipments, Amazon's plans x{scale:g}, "
        f"{options.latency_ms[0]:g} ms latency"
    )
    print_table(["run", "operation", "requests", "fewest", "429"], table)
    print()
    print_table(
        ["rates", "records", "429", "wall s (process)", "AWD requests span s", "bound s",
         "wall/bound", "span/bound"],
        [[f"x{scale:g}", str(run.records), str(throttled), f"{run.wall:.2f}", f"{span:.2f}",
          f"{bound:.2f}", f"{run.wall / bound:.2f}", f"{span / bound:.2f}"]],
    )  # fmt: skip


SHARD_STREAM = "amazon_fulfilled_shipments_data_general"  # one report window a month


def run_shards_side_by_side(
    settings: dict[str, Any], shards: int, workdir: Path, label: str
) -> list[float]:
    """Every shard's tap process at once, reading SHARD_STREAM from the STATE of the last
    run in `workdir` (if any) and leaving its own; each shard's wall, from its start to
    its exit."""
    catalog = workdir / "catalog.json"
    if not catalog.exists():
        catalog.write_text(json.dumps(catalog_selecting(settings, {SHARD_STREAM})))
    processes = []
    for index in range(shards):
        config, state = workdir / f"config-{index}.json", workdir / f"state-{index}.json"
        config.write_text(json.dumps({**settings, "shard_index": index}))
        args = [sys.executable, "-m", "tap_spapi", "--config", str(config),
                "--catalog", str(catalog)]  # fmt: skip
        if state.exists():
            args += ["--state", str(state)]
        out = (workdir / f"{label}-{index}.out").open("wb")
        err = (workdir / f"{label}-{index}.err").open("wb")
        process = subprocess.Popen(args, stdout=out, stderr=err, cwd=REPO)
        processes.append((process, time.monotonic(), out, err))
    walls = []
    for index, (process, started, out, err) in enumerate(processes):
        code = process.wait()
        walls.append(time.monotonic() - started)
        out.close()
        err.close()
        if code != 0:
            log = (workdir / f"{label}-{index}.err").read_text()
            raise SystemExit(f"shard {index} failed:\n{log[-3000:]}")
        lines = (workdir / f"{label}-{index}.out").read_text().splitlines()
        states = [line for line in lines if '"STATE"' in line]
        (workdir / f"state-{index}.json").write_text(json.dumps(json.loads(states[-1])["value"]))
    return walls


def bench_shards(options: argparse.Namespace) -> None:
    """The planner's estimate per shard against the shards' measured wall."""
    shards = sharded_accounts(options.shards, options.per_shard)
    names = [name for index in range(options.shards) for name in shards[index]]
    scale = 50.0
    config = StandInConfig(
        seed=41,
        rate_scale=scale,
        # The stand-in scales overrides too: this is `--rate` itself.
        rate_overrides={"createReport": (options.rate / scale, options.burst)},
        refresh_tokens={f"Atzr|{name}-token" for name in names},
        report_rows=20,
    )
    with StandIn(config) as server, tempfile.TemporaryDirectory() as tmp:
        start = server.dataset.now - datetime.timedelta(days=config.history_days + 5)
        settings = tap_config(
            server,
            start_date=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            accounts=[{"name": name, "refresh_token": f"Atzr|{name}-token"} for name in names],
            rate_limit_overrides={"createReport": {"rate": options.rate, "burst": options.burst}},
            max_parallel_accounts=options.per_shard,
            shard_count=options.shards,
            max_retry_seconds=3600,
        )
        settings.pop("refresh_token")
        settings.pop("tracking_ids")
        first = run_shards_side_by_side(settings, options.shards, Path(tmp), "first")
        server.reset_rate_limits()  # the next day: every account's bucket is full again
        again = run_shards_side_by_side(settings, options.shards, Path(tmp), "again")
        throttled = server.stats.count("createReport", "429")
    startup = sorted(again)[len(again) // 2]
    plans = plan_shards(
        settings, shard_count=options.shards, streams=[SHARD_STREAM], startup=startup
    )
    print(
        f"{options.shards} shards of {options.per_shard} accounts side by side, createReport "
        f"{options.rate:g}/s after a burst of {options.burst}; start-up {startup:.1f} s "
        f"(median incremental run); {throttled} createReport 429s"
    )
    rows = [
        [str(plan.index), str(plan.accounts), str(plan.reports_per_account),
         f"{plan.seconds:.1f}", f"{measured:.1f}", f"{measured / plan.seconds:.2f}",
         f"{incremental:.1f}"]
        for plan, measured, incremental in zip(plans, first, again, strict=True)
    ]  # fmt: skip
    print_table(
        ["shard", "accounts", "reports/account", "estimate s", "measured s",
         "measured/estimate", "incremental s"],
        rows,
    )  # fmt: skip


# -- notifications (issue 29) -------------------------------------------------------------

# The stand-in's data set ends here; the tap's clock is set to it for the first run and to
# an hour later for the incremental run (`RUN_TAP_AT`), the hourly schedule the backstop's
# share (`notifications.due`: each identifier once per `notifications_poll_hours`) assumes.
NOTIFIED_NOW = datetime.datetime(2026, 11, 20, 12, 0, tzinfo=datetime.UTC)
RUN_INTERVAL = datetime.timedelta(hours=1)
# getShipmentTracking's plan at Amazon: its model prints none; the tap's fallback rate
# (1/s) with the stand-in's assumed burst (10), times --rate-scale on both sides.
TRACKING_RATE, TRACKING_BURST = 1.0, 10
# `python -m tap_spapi ARGS` with the tap's clock (`tap_spapi.runtime.run.utc_now`) set to ARGV[1]:
# the run starts then (the bookmarks, the backstop's share) while pacing keeps real time.
RUN_TAP_AT = """
import datetime, runpy, sys
import tap_spapi.runtime.run
at = datetime.datetime.fromisoformat(sys.argv[1])
tap_spapi.runtime.run.utc_now = lambda: at
sys.argv = ["tap-spapi", *sys.argv[2:]]
runpy.run_module("tap_spapi", run_name="__main__")
"""


@dataclass
class TimedRun:
    """One tap process of the notifications benchmark: its wall, its records of
    shipment_tracking and its last STATE."""

    wall: float
    tracking: list[dict[str, Any]]
    state: dict[str, Any]


def run_tap_at(
    at: datetime.datetime,
    config: dict[str, Any],
    streams: set[str],
    state: dict[str, Any] | None,
    env: dict[str, str],
) -> TimedRun:
    """The tap as a process of its own, its clock at `at`; output read from a file."""
    with tempfile.TemporaryDirectory() as tmp:
        config_file, catalog_file = Path(tmp, "config.json"), Path(tmp, "catalog.json")
        state_file, out_file, log_file = Path(tmp, "state.json"), Path(tmp, "out"), Path(tmp, "err")
        config_file.write_text(json.dumps(config))
        catalog_file.write_text(json.dumps(catalog_selecting(config, streams)))
        args = ["--config", str(config_file), "--catalog", str(catalog_file)]
        if state is not None:
            state_file.write_text(json.dumps(state))
            args += ["--state", str(state_file)]
        started = time.monotonic()
        with out_file.open("wb") as out, log_file.open("wb") as log:
            code = subprocess.call(
                [sys.executable, "-c", RUN_TAP_AT, at.isoformat(), *args],
                stdout=out, stderr=log, cwd=REPO, env=env,
            )  # fmt: skip
        wall = time.monotonic() - started
        if code != 0:
            raise SystemExit(f"the tap failed (exit {code}):\n{log_file.read_text()[-3000:]}")
        tracking, last_state = [], None
        with out_file.open("rb") as written:
            for line in written:
                if line.startswith(b'{"type":"RECORD"') and b'"shipment_tracking"' in line[:80]:
                    message = json.loads(line)
                    if message["stream"] == "shipment_tracking":
                        tracking.append(message["record"])
                elif b'"STATE"' in line[:20]:
                    last_state = line
    if last_state is None:
        raise SystemExit("the tap wrote no STATE")
    return TimedRun(wall, tracking, json.loads(last_state)["value"])


def open_listed(server: StandIn, wanted: int) -> list[dict[str, str]]:
    """`wanted` of the stand-in's listed identifiers that are still open (not delivered),
    as `shipment_tracking_ids` entries."""
    entries = []
    for entry in listed_identifiers(server.dataset):
        kind = (
            "carrierTracking.trackingNumber"
            if entry["type"] == "carrierTracking"
            else entry["type"]
        )
        if next_milestone(server.dataset.shipment_trackings[kind, entry["value"]]) is not None:
            entries.append(entry)
    if len(entries) < wanted:
        raise SystemExit(f"the stand-in has {len(entries)} open listed identifiers, not {wanted}")
    return entries[:wanted]


def milestone_keys(records: list[dict[str, Any]]) -> set[tuple[str, str, str, str]]:
    """Identifier and latest milestone (time, code) of each shipment_tracking record."""
    return {
        (r["identifierType"], r["identifierValue"], r["latestMilestone"]["occurredAt"],
         r["latestMilestone"]["status"]["code"])
        for r in records
    }  # fmt: skip


@dataclass
class NotifiedPass:
    """One config's two runs: a table row each, the incremental run's records, the
    identifiers touched, and getShipmentTracking's requests of the incremental run."""

    rows: list[list[str]]
    incremental: set[tuple[str, str, str, str]]
    touched: set[tuple[str, str]]
    tracking_requests: int


def notifications_pass(options: argparse.Namespace, endpoint: str | None) -> NotifiedPass:
    """A fresh stand-in (one seed: the same data and the same touches whatever the config),
    a first run, `--changed` identifiers touched an hour later, the incremental run; with
    `endpoint`, the stand-in publishes to a queue there, the tap is subscribed and reads it."""
    scale = options.rate_scale
    per_kind = 2 * math.ceil(options.identifiers / 4)  # four kinds, every other one delivered
    config = StandInConfig(
        seed=29,
        size="tiny",
        now=NOTIFIED_NOW,
        latency_ms=options.latency_ms,
        rate_scale=scale,
        rate_overrides={"getShipmentTracking": (TRACKING_RATE, TRACKING_BURST)},
        listed_shipment_trackings=per_kind,
        # Few other identifiers: the parents of shipment_tracking are read (its `needs`).
        outbound_orders=10,
        inbound_plans=1,
        inbound_shipments_per_marketplace=1,
        shipping_trackings=1,
        sqs_endpoint_url=endpoint,
    )
    env = {**os.environ, "AWS_ACCESS_KEY_ID": LOCAL_AWS["aws_access_key_id"],
           "AWS_SECRET_ACCESS_KEY": LOCAL_AWS["aws_secret_access_key"]}  # fmt: skip
    streams = {"shipment_tracking"}
    label = "off"
    with StandIn(config) as server, tempfile.TemporaryDirectory() as tmp:
        identifiers = Path(tmp, "identifiers.jsonl")
        identifiers.write_text(
            "".join(f"{json.dumps(e)}\n" for e in open_listed(server, options.identifiers))
        )
        settings: dict[str, Any] = {
            **credentials(server),
            "start_date": (NOTIFIED_NOW - datetime.timedelta(days=95)).isoformat(),
            "shipment_tracking_ids_file": str(identifiers),
            "rate_limit_overrides": {
                "getShipmentTracking": {"rate": TRACKING_RATE * scale, "burst": TRACKING_BURST}
            },
            "max_retry_seconds": 3600,
        }
        if endpoint is not None:
            label, streams = "on", {"shipment_tracking", "notifications"}
            queue_url, arn = create_queue(endpoint, f"tap-spapi-benchmark-{os.getpid()}")
            settings |= {
                "notifications_queue_url": queue_url,
                "notifications_endpoint_url": endpoint,
            }
            config_file = Path(tmp, "config.json")
            config_file.write_text(json.dumps(settings))
            setup = ["setup", "--config", str(config_file), "--queue-arn", arn,
                     "--types", TRACKING_CHANGED]  # fmt: skip
            with contextlib.redirect_stdout(io.StringIO()) as said:
                status = notifications_setup(setup)
            if status != 0:
                raise SystemExit(f"tap-spapi-notifications setup failed:\n{said.getvalue()}")
        server.stats.reset()
        first = run_tap_at(NOTIFIED_NOW, settings, streams, None, env)
        rows = [notified_row(f"{label}, first run", server, first, scale)]
        later = NOTIFIED_NOW + RUN_INTERVAL
        touched = set(server.touch("shipment_trackings", options.changed,
                                   at=later - datetime.timedelta(minutes=5)))  # fmt: skip
        server.stats.reset()
        server.reset_rate_limits()  # an hour later: full buckets
        incremental = run_tap_at(later, settings, streams, first.state, env)
        rows.append(notified_row(f"{label}, incremental", server, incremental, scale))
        asked = server.stats.count("getShipmentTracking")
    return NotifiedPass(rows, milestone_keys(incremental.tracking), touched, asked)


def notified_row(label: str, server: StandIn, run: TimedRun, scale: float) -> list[str]:
    """getShipmentTracking's requests, the others, records, 429s, wall, and the wall at
    Amazon's rates: the measured wall with getShipmentTracking's span (first to last
    request, the plan-bound part) times the scale; and the bound `(requests - burst) / rate`."""
    counts = server.stats.snapshot()
    asked = server.stats.count("getShipmentTracking")
    others = sum(c.get("requests", 0) for op, c in counts.items()
                 if op not in {"getShipmentTracking", "lwa", "unknown"})  # fmt: skip
    throttled = sum(c.get("429", 0) for c in counts.values())
    first, last = server.stats.spans().get("getShipmentTracking", (0.0, 0.0))
    at_amazon = run.wall + (last - first) * (scale - 1)
    bound = max(0, asked - TRACKING_BURST) / TRACKING_RATE
    return [label, f"{asked:,}", str(others), f"{len(run.tracking):,}", str(throttled),
            f"{run.wall:.1f}", _duration(at_amazon), _duration(bound)]  # fmt: skip


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def bench_notifications(options: argparse.Namespace) -> None:
    """Issue 29: an incremental run over `--identifiers` open tracking identifiers of which
    `--changed` changed, without and with notifications, at Amazon's rates x --rate-scale."""
    off = notifications_pass(options, None)
    with sqs_server() as endpoint:
        on = notifications_pass(options, endpoint)
    if on.touched != off.touched:
        raise SystemExit("the two stand-ins touched different identifiers")
    print(
        f"{options.identifiers:,} open Tracking API identifiers (listed), {options.changed} "
        f"changed an hour after the first run; getShipmentTracking {TRACKING_RATE:g}/s after a "
        f"burst of {TRACKING_BURST} (x{options.rate_scale:g} here); notifications_poll_hours 24"
    )
    print_table(
        ["config, run", "getShipmentTracking", "other requests", "shipment_tracking records",
         "429", "wall s", "at Amazon's rates (wall, span x scale)",
         "bound (requests - burst) / rate"],
        off.rows + on.rows,
    )  # fmt: skip
    same = on.incremental == off.incremental
    ratio = on.tracking_requests / off.tracking_requests if off.tracking_requests else math.nan
    print(
        f"\nincremental run: {len(off.incremental)} records without notifications, "
        f"{len(on.incremental)} with; the same identifiers and latest milestones: "
        f"{'yes' if same else 'NO'}; the {len(on.touched)} changed ones among them: "
        f"{'yes' if on.touched <= {k[:2] for k in on.incremental} else 'NO'}"
    )
    verdict = "met" if ratio <= 0.05 and same else "NOT met"
    print(f"getShipmentTracking with / without notifications: {on.tracking_requests:,} / "
          f"{off.tracking_requests:,} = {ratio:.1%} (target <= 5%: {verdict})")  # fmt: skip


def main() -> None:
    """Parse the mode and its options, run it."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    modes = parser.add_subparsers(dest="mode", required=True)
    pacing = modes.add_parser("pacing", help="usage-plan pacing at several latencies")
    pacing.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 50.0, 200.0])
    pacing.add_argument("--rate-scale", type=float, nargs="+", default=[10.0])
    pacing.add_argument("--size", default="small", choices=["small", "medium", "large"])
    pacing.add_argument("--max-concurrency", type=int, default=16)
    pacing.add_argument(
        "--scenario",
        default="demo",
        choices=[
            "demo", "first-run", "report-backfill", "orders-backfill", "inbound-plans", "mcf",
            "awd",
        ],
    )  # fmt: skip
    pacing.add_argument("--awd-shipments", type=int, default=120, help="awd: inbound shipments")
    pacing.add_argument(
        "--plans", type=int, default=400, help="inbound-plans: plans (and v0 shipments)"
    )
    pacing.add_argument("--mcf-orders", type=int, default=150, help="mcf: MCF orders")
    pacing.add_argument("--orders", type=int, default=6_000, help="orders-backfill: orders")
    throughput = modes.add_parser("throughput", help="records/s with rate limits off")
    throughput.add_argument("--records", type=int, default=100_000)
    accounts = modes.add_parser("accounts", help="several accounts, by max_parallel_accounts")
    accounts.add_argument("--accounts", type=int, default=4)
    accounts.add_argument("--latency-ms", type=float, default=50.0)
    accounts.add_argument("--rate-scale", type=float, default=10.0)
    report = modes.add_parser("report", help="memory and time by report document size")
    report.add_argument("--rows", type=int, nargs="+", default=[2_000, 200_000, 700_000])
    shards = modes.add_parser("shards", help="the shard planner's estimate against the wall")
    shards.add_argument("--shards", type=int, default=4)
    shards.add_argument("--per-shard", type=int, default=8, help="accounts a shard")
    shards.add_argument("--rate", type=float, default=0.3, help="createReport's rate (/s)")
    shards.add_argument("--burst", type=int, default=2, help="createReport's burst")
    growth = modes.add_parser("state-growth", help="CPU and state by tracking identifiers")
    growth.add_argument("--sizes", type=int, nargs="+", default=[1_000, 4_000, 16_000, 64_000])
    growth.add_argument(
        "--noted", action="store_true", help="also identifiers noted from MCF orders"
    )
    growth.add_argument(
        "--inbound", type=int, nargs="*", default=[], help="inbound 2024 at these shipments"
    )
    growth.add_argument(
        "--listed", action=argparse.BooleanOptionalAction, default=True,
        help="the listed identifiers and labels (--no-listed: only --noted)",
    )  # fmt: skip
    notified = modes.add_parser(
        "notifications", help="an incremental run of tracking, with and without notifications"
    )
    notified.add_argument("--identifiers", type=int, default=5_000, help="open identifiers")
    notified.add_argument("--changed", type=int, default=50, help="identifiers changed")
    notified.add_argument("--rate-scale", type=float, default=100.0)
    notified.add_argument("--latency-ms", type=float, default=0.0)
    options = parser.parse_args()
    if options.mode == "notifications":
        bench_notifications(options)
    elif options.mode == "state-growth":
        bench_state_growth(options)
    elif options.mode == "shards":
        bench_shards(options)
    elif options.mode == "pacing":
        scenarios = {
            "first-run": bench_first_run,
            "report-backfill": bench_report_backfill,
            "orders-backfill": bench_orders_backfill,
            "inbound-plans": bench_inbound_plans,
            "mcf": bench_mcf,
            "awd": bench_awd,
        }
        options.rate_scale_list = options.rate_scale
        options.rate_scale = options.rate_scale[0]
        scenarios.get(options.scenario, bench_pacing)(options)
    elif options.mode == "report":
        bench_report(options)
    elif options.mode == "accounts":
        bench_accounts(options)
    else:
        bench_throughput(options)


if __name__ == "__main__":
    main()
