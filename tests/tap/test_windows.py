"""Query windows: a run asks for the range it needs in as few queries as Amazon allows."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from spapi_standin import StandIn, StandInConfig
from spapi_standin.config import NA_MARKETPLACES
from spapi_standin.data import InboundQuery
from tap_spapi.runtime import output
from tap_spapi.streams.base.windows import QueryWindow, halved, halvings_after_interruptions
from testkit import REPO, SingerOutput, run_tap, select_only, tap_config

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

INBOUND = "inbound_shipments"


def fewest_inbound_requests(server: StandIn, since: datetime.datetime) -> int:
    """One DATE_RANGE query per marketplace, and one request per page of its data."""
    page = server.config.inbound_page_size
    total = 0
    for marketplace in NA_MARKETPLACES:  # the account's marketplaces in the tap's region
        query = InboundQuery(after=since, before=server.dataset.now)
        shipments, _ = server.dataset.inbound_page(marketplace, query, 0, 1_000_000)
        total += max(1, -(-len(shipments) // page))
    return total


def inbound_partitions(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    partitions = state["bookmarks"][INBOUND]["partitions"]
    return {p["context"]["marketplace_id"]: p for p in partitions}


def test_a_first_run_asks_each_marketplace_for_its_whole_range_in_one_query(standin):
    config = tap_config(standin)
    output = run_tap(config, catalog=select_only(config, {INBOUND}))
    since = datetime.datetime.fromisoformat(config["start_date"])
    assert len(output.records(INBOUND)) == len(standin.dataset.all_inbound_shipments())
    # 90 days of history: thirty-day windows would have asked four times per marketplace.
    assert standin.stats.count("getShipments") == fewest_inbound_requests(standin, since)
    final = inbound_partitions(output.states[-1])
    assert set(final) == set(NA_MARKETPLACES)
    assert all(set(p) == {"context", "window_end"} for p in final.values()), "no marker left"


def test_an_incremental_run_with_nothing_new_asks_once_per_marketplace(standin):
    config = tap_config(standin)
    catalog = select_only(config, {INBOUND})
    first = run_tap(config, catalog=catalog)
    standin.stats.reset()
    second = run_tap(config, catalog=catalog, state=first.states[-1])
    assert standin.stats.count("getShipments") == len(NA_MARKETPLACES)
    lookback = datetime.timedelta(minutes=180)
    bookmarks = {m: p["window_end"] for m, p in inbound_partitions(first.states[-1]).items()}
    for record in second.records(INBOUND):  # only what the lookback asks again
        updated = standin.dataset.inbound_last_updated[record["ShipmentId"]]
        since = datetime.datetime.fromisoformat(bookmarks[record["marketplace_id"]]) - lookback
        assert updated >= since


def test_a_range_a_killed_run_did_not_finish_is_read_in_halves_next_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Slow enough (pages 0.25 s apart after the burst) to be killed mid-range. The data
    # set is the `standin` fixture's (seed 11): a worker builds it once.
    with StandIn(StandInConfig(seed=11, rate_scale=2.0, inbound_page_size=5)) as server:
        config = tap_config(server, lookback_window=0)
        (tmp_path / "config.json").write_text(json.dumps(config))
        (tmp_path / "catalog.json").write_text(json.dumps(select_only(config, {INBOUND})))
        killed = run_until_a_query_is_in_flight(tmp_path)
        in_flight = [
            m for m, p in inbound_partitions(killed.states[-1]).items() if p.get("query_in_flight")
        ]
        assert len(in_flight) == 1, "killed while reading one marketplace's range"
        monkeypatch.setattr(output, "STATE_INTERVAL", 0.0)  # every STATE, to see each window
        resumed = run_tap(config, catalog=select_only(config, {INBOUND}), state=killed.states[-1])
        ends: dict[str, set[str | None]] = {}
        for state in resumed.states:
            for marketplace, partition in inbound_partitions(state).items():
                ends.setdefault(marketplace, set()).add(partition.get("window_end"))
        old_end = inbound_partitions(killed.states[-1])[in_flight[0]].get("window_end")
        new_ends = ends[in_flight[0]] - {old_end, None}
        assert len(new_ends) == 2, "the unfinished range was read in two windows"
        final = inbound_partitions(resumed.states[-1])
        assert all(set(p) == {"context", "window_end"} for p in final.values())
        emitted = {r["ShipmentId"] for r in [*killed.records(INBOUND), *resumed.records(INBOUND)]}
        assert emitted == {s["ShipmentId"] for s in server.dataset.all_inbound_shipments()}


def run_until_a_query_is_in_flight(tmp_path: Path) -> SingerOutput:
    """Run the tap and kill it at the first record after a STATE that marks a query in
    flight (what the next run finds when a run dies mid-range)."""
    args = ["--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")]
    process = subprocess.Popen(
        [sys.executable, "-m", "tap_spapi", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    assert process.stdout is not None
    lines: list[str] = []
    marked = False
    for line in process.stdout:
        lines.append(line)
        message = json.loads(line)
        if message["type"] == "STATE" and "query_in_flight" in line:
            marked = True
        elif marked and message["type"] == "RECORD":
            process.kill()
            break
    process.stdout.close()
    process.wait(timeout=60)
    return SingerOutput.parse("".join(lines))


def test_each_interrupted_run_halves_the_range_again_down_to_a_day():
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    needed = QueryWindow(start, start + datetime.timedelta(days=8))
    assert halvings_after_interruptions({}, needed) == 0
    assert halvings_after_interruptions({"query_in_flight": True}, needed) == 1
    marked = {"query_in_flight": True, "interrupted_runs": 2}
    assert halvings_after_interruptions(marked, needed) == 3  # eight windows of a day
    marked = {"query_in_flight": True, "interrupted_runs": 5}
    assert halvings_after_interruptions(marked, needed) == 3  # not shorter than a day
    windows = halved(needed, 3)
    assert [w.length for w in windows] == [datetime.timedelta(days=1)] * 8
    assert windows[0].start == needed.start and windows[-1].end == needed.end
    assert halved(QueryWindow(start, start), 2) == []
