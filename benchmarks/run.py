"""Benchmarks of tap-spapi against the local stand-in (run on demand, never in CI).

    python benchmarks/run.py pacing [--latency-ms 0 50 200] [--rate-scale 10] [--size small]
    python benchmarks/run.py throughput [--records 100000]

`pacing`: Amazon's usage plans (every rate multiplied by --rate-scale, bursts as printed),
one network latency per row group; the tap runs as a real process with its Singer output
to /dev/null. Per operation: requests, 429s, wall seconds between its first and last
request, the physical minimum `max(0, requests - burst) / rate`, and wall / minimum; per
run: wall, the run's minimum (the slowest operation's, since operations of different
streams could overlap), records/s and peak RSS.

`throughput`: rate limits off, no latency, `inbound_shipments` only; records/s of the tap
next to a bare `requests` + `json` loop over the same pages (the floor), in one run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from spapi_standin import StandIn, StandInConfig
from tap_spapi.tap import TapSpapi

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


def tap_config(server: StandIn, **extra: Any) -> dict[str, Any]:
    """The tap's settings for `server` (its demo credentials, every label)."""
    return {
        "client_id": server.config.client_id,
        "client_secret": server.config.client_secret,
        "refresh_token": min(server.config.refresh_tokens),
        "api_url": server.base_url,
        "lwa_token_url": server.lwa_token_url,
        "start_date": (server.dataset.now.replace(year=server.dataset.now.year - 1)).isoformat(),
        "tracking_ids": server.dataset.tracking_labels(),
        **extra,
    }


def catalog_selecting(config: dict[str, Any], streams: set[str]) -> dict[str, Any]:
    """Discovery's catalog with only `streams` selected."""
    with redirect_stdout(io.StringIO()):
        catalog = TapSpapi(config=config).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if not metadata["breadcrumb"]:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def run_tap(config: dict[str, Any], streams: set[str]) -> TapRun:
    """Run `python -m tap_spapi` with output counted, not kept; wall time and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        config_file, catalog_file = Path(tmp, "config.json"), Path(tmp, "catalog.json")
        config_file.write_text(json.dumps(config))
        catalog_file.write_text(json.dumps(catalog_selecting(config, streams)))
        args = ["--config", str(config_file), "--catalog", str(catalog_file)]
        counter = [sys.executable, "-c", COUNT_RECORDS]
        started = time.monotonic()
        tap = subprocess.Popen(
            [sys.executable, "-m", "tap_spapi", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=REPO,
        )
        count = subprocess.run(counter, stdin=tap.stdout, capture_output=True, check=True)
        _, status, usage = os.wait4(tap.pid, 0)
        wall = time.monotonic() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit("the tap failed; run it by hand to see why")
    return TapRun(wall, int(count.stdout), usage.ru_maxrss / 1024)


# The cheapest consumer of Singer output: count RECORD lines without parsing them.
COUNT_RECORDS = (
    "import sys\n"
    'print(sum(1 for line in sys.stdin.buffer if line.startswith(b\'{"type":"RECORD"\')))'
)


def pacing_rows(server: StandIn, run: TapRun, scale: float) -> list[list[str]]:
    """Per-operation rows: requests, 429s, wall, minimum, ratio."""
    limiter_plans = TapSpapi(config=tap_config(server)).account.limiter
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


def bare_loop(server: StandIn, marketplaces: list[str], since: str) -> tuple[int, float]:
    """The floor: requests + json over the same getShipments pages, records to /dev/null."""
    token = requests.post(
        server.lwa_token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": min(server.config.refresh_tokens),
            "client_id": server.config.client_id,
            "client_secret": server.config.client_secret,
        },
        timeout=30,
    ).json()["access_token"]
    session = requests.Session()
    session.headers["x-amz-access-token"] = token
    # The headers every SP-API call needs (the stand-in checks them like Amazon).
    session.headers["x-amz-date"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    session.headers["User-Agent"] = "bare-loop/1.0 (Language=Python)"
    url = server.base_url + "/fba/inbound/v0/shipments"
    records = 0
    started = time.monotonic()
    with open(os.devnull, "w") as sink:
        for marketplace in marketplaces:
            params: dict[str, str] = {
                "MarketplaceId": marketplace,
                "QueryType": "DATE_RANGE",
                "LastUpdatedAfter": since,
                "LastUpdatedBefore": server.dataset.now.isoformat(),
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
    return records, time.monotonic() - started


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
        settings = tap_config(server, marketplace_ids=marketplaces)
        settings["start_date"] = (server.dataset.now.replace(day=1, month=1)).isoformat()
        tap = run_tap(settings, {"inbound_shipments"})
        floor_records, floor_wall = bare_loop(server, marketplaces, settings["start_date"])
    tap_rate, floor_rate = tap.records / tap.wall, floor_records / floor_wall
    print_table(
        ["loop", "records", "wall s", "records/s", "peak RSS MB"],
        [
            [
                "tap-spapi",
                str(tap.records),
                f"{tap.wall:.2f}",
                f"{tap_rate:.0f}",
                f"{tap.peak_rss_mb:.0f}",
            ],
            ["requests + json", str(floor_records), f"{floor_wall:.2f}", f"{floor_rate:.0f}", "-"],
        ],
    )
    print(f"\ntap / floor = {tap_rate / floor_rate:.2f}")


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """A Markdown table (paste-able into the README)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def main() -> None:
    """Parse the mode and its options, run it."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    modes = parser.add_subparsers(dest="mode", required=True)
    pacing = modes.add_parser("pacing", help="usage-plan pacing at several latencies")
    pacing.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 50.0, 200.0])
    pacing.add_argument("--rate-scale", type=float, default=10.0)
    pacing.add_argument("--size", default="small", choices=["small", "medium", "large"])
    pacing.add_argument("--max-concurrency", type=int, default=16)
    throughput = modes.add_parser("throughput", help="records/s with rate limits off")
    throughput.add_argument("--records", type=int, default=100_000)
    options = parser.parse_args()
    if options.mode == "pacing":
        bench_pacing(options)
    else:
        bench_throughput(options)


if __name__ == "__main__":
    main()
