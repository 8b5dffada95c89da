"""Report streams against the stand-in's Reports API: lifecycle, reuse, failures, size."""

from __future__ import annotations

import copy
import datetime
import gzip
import io
import itertools
import json
import subprocess
import sys
from collections import Counter
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from pii_leaks import leaked

from benchmarks.peak import run_tap_with_peak
from spapi_standin import StandIn, StandInConfig
from spapi_standin.live import LiveBehaviours
from spapi_standin.report_fixtures import BY_TYPE as FIXTURES_BY_TYPE
from tap_spapi.amazon.report_types import BY_STREAM, REPORT_TYPES
from tap_spapi.streams.reports.documents import (
    TypedRows,
    charset_of,
    parse_datetime,
    text_of,
)
from tap_spapi.streams.reports.requesting import await_report
from testkit import REPO, SingerOutput, history_start, run_cli, run_tap, select_only, tap_config

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

FULFILLED = "amazon_fulfilled_shipments_data_general"
RETURNS = "fba_fulfillment_customer_returns_data"
ACTIONABLE = "flat_file_actionable_order_data_shipping"
# Returns reports refuse ranges over 40 days (Amazon documents no limit for the type); the
# fulfilled-shipments type refuses more than its documented month by the stand-in's fixtures.
RETURNS_LONGEST_DAYS = 40.0
RANGE_LIMITS = {"GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA": RETURNS_LONGEST_DAYS}


@pytest.fixture
def server() -> Iterator[StandIn]:
    """Amazon's plans x50, reports built in 0.2 s, data over the 90 days before the
    stand-in's clock (the tap's run ends at the same clock: the real one)."""
    config = StandInConfig(seed=5, rate_scale=50.0, report_longest_range_days=dict(RANGE_LIMITS))
    with StandIn(config) as standin:
        yield standin


def report_config(server: StandIn, **overrides: Any) -> dict[str, Any]:
    """From 95 days before the stand-in's clock (the real one, read when it started)."""
    return tap_config(server, start_date=history_start(server), **overrides)


def keys(output: SingerOutput, stream: str) -> list[tuple[str, ...]]:
    fields = BY_STREAM[stream].keys
    return [tuple(record[f] for f in fields) for record in output.records(stream)]


def run_stream(server: StandIn, stream: str, **overrides: Any) -> SingerOutput:
    config = report_config(server, **overrides)
    return run_tap(config, catalog=select_only(config, {stream}))


def write_run_files(tmp_path: Path, config: dict[str, Any], streams: set[str]) -> list[str]:
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "catalog.json").write_text(json.dumps(select_only(config, streams)))
    return ["--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")]


@pytest.mark.parametrize("report", REPORT_TYPES, ids=lambda r: r.stream_name)
def test_each_report_stream_end_to_end(server, report):
    stream = report.stream_name
    output = run_stream(server, stream)
    emitted = keys(output, stream)
    assert len(emitted) == len(set(emitted)), "no row twice"
    assert set(emitted) == server.reports.keys_of(report.report_type)
    # Typed values, as the SCHEMA message declares them.
    properties = output.schema(stream)["properties"]
    for record in output.records(stream):
        assert record["account"] == "default" and record["report_id"]
        for column, kind in report.kinds.items():
            value = record.get(column)
            if value is None:
                continue
            declared = properties[column]
            if kind == "integer":
                assert isinstance(value, int) and "integer" in declared["type"]
            elif kind == "number":
                assert isinstance(value, float) and "number" in declared["type"]
            elif kind == "date-time":
                assert datetime.datetime.fromisoformat(value).tzinfo is not None
                assert declared["format"] == "date-time"
            elif kind == "boolean":
                assert isinstance(value, bool)
    assert server.stats.count("getReport", "429") == 0
    assert server.stats.count("createReport", "429") == 0
    # The pre-signed link is not an SP-API call: no access token, no SP-API headers.
    download = {name.lower() for name in server.last_request_headers("reportDocumentDownload")}
    assert not download & {"x-amz-access-token", "x-amz-date", "authorization"}
    assert "x-amz-access-token" in {
        name.lower() for name in server.last_request_headers("getReportDocument")
    }
    if report.restricted:  # the document came with a Restricted Data Token
        assert server.stats.count("createRestrictedDataToken") >= 1
    bookmark = output.states[-1]["bookmarks"][stream]["partitions"][0]
    assert ("window_end" in bookmark) is not report.snapshot


def test_buyer_pii_columns_follow_include_pii(server):
    pii = BY_STREAM[FULFILLED].pii
    without = run_stream(server, FULFILLED)
    assert not [c for c in pii if c in without.schema(FULFILLED)["properties"]]
    text = json.dumps(without.messages)
    assert server.reports.pii_sentinels
    assert not leaked(text, server.reports.pii_sentinels)
    with_pii = run_stream(server, FULFILLED, include_pii=True)
    assert all(c in with_pii.schema(FULFILLED)["properties"] for c in pii)
    assert leaked(json.dumps(with_pii.messages), server.reports.pii_sentinels)


def test_windows_are_split_at_the_report_types_documented_range(server):
    output = run_stream(server, FULFILLED)  # 95 days of history, one month documented
    ranges = created_ranges(server, "GET_AMAZON_FULFILLED_SHIPMENTS_DATA_GENERAL")
    assert len(ranges) == 4  # ceil(95 / 30)
    assert all(end - start <= datetime.timedelta(days=30) for start, end in ranges)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges)), "contiguous"
    assert set(keys(output, FULFILLED)) == server.reports.keys_of(
        "GET_AMAZON_FULFILLED_SHIPMENTS_DATA_GENERAL"
    )
    assert server.stats.count("createReport", "400") == 0  # none too long for Amazon


def created_ranges(server: StandIn, report_type: str) -> list[tuple[Any, Any]]:
    created = server.reports.reports.values()
    return sorted((r.start, r.end) for r in created if r.report_type == report_type)


def test_a_type_without_a_documented_range_halves_until_amazon_accepts_and_remembers(server):
    config = report_config(server)
    catalog = select_only(config, {RETURNS})
    first = run_tap(config, catalog=catalog)
    # The whole 95 days, refused; 47.5 days, refused; 23.75 days accepted: four windows.
    assert server.stats.count("createReport", "400") == 2
    ranges = created_ranges(server, "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA")
    assert len(ranges) == 4
    assert all(
        end - start <= datetime.timedelta(days=RETURNS_LONGEST_DAYS) for start, end in ranges
    )
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges)), "contiguous"
    assert set(keys(first, RETURNS)) == server.reports.keys_of(
        "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"
    )
    (partition,) = first.states[-1]["bookmarks"][RETURNS]["partitions"]
    assert partition["longest_accepted_range_days"] == pytest.approx(95 / 4, rel=0.01)
    # A later run asking for more than that splits at once: no refusal again.
    state = copy.deepcopy(first.states[-1])
    (again,) = state["bookmarks"][RETURNS]["partitions"]
    again["window_end"] = config["start_date"]  # as if the whole history were new again
    server.reports.reports.clear()
    run_tap(config, catalog=catalog, state=state)
    assert server.stats.count("createReport", "400") == 2
    assert len(created_ranges(server, "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA")) >= 4


def test_a_type_amazon_accepts_whole_is_one_report_and_an_incremental_run_one_more(server):
    removal = "fba_fulfillment_removal_shipment_detail_data"
    report_type = "GET_FBA_FULFILLMENT_REMOVAL_SHIPMENT_DETAIL_DATA"
    config = report_config(server)
    catalog = select_only(config, {removal})
    first = run_tap(config, catalog=catalog)
    ((start, _),) = created_ranges(server, report_type)
    assert start == datetime.datetime.fromisoformat(config["start_date"])
    assert set(keys(first, removal)) == server.reports.keys_of(report_type)
    second = run_tap(config, catalog=catalog, state=first.states[-1])
    ranges = created_ranges(server, report_type)
    assert len(ranges) == 2  # one report for what came since, from bookmark - lookback
    bookmark = first.states[-1]["bookmarks"][removal]["partitions"][0]["window_end"]
    lookback = datetime.timedelta(minutes=180)
    assert ranges[-1][0] == datetime.datetime.fromisoformat(bookmark) - lookback
    assert server.stats.count("createReport", "400") == 0
    assert set(keys(second, removal)) <= set(keys(first, removal))


def test_a_report_amazon_already_has_is_reused_instead_of_created(server):
    config = report_config(server)
    start = datetime.datetime.fromisoformat(config["start_date"])
    first_window_end = start + datetime.timedelta(days=30)
    planted = server.reports.plant(
        min(server.config.refresh_tokens),
        "GET_AMAZON_FULFILLED_SHIPMENTS_DATA_GENERAL",
        ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8"],
        start - datetime.timedelta(days=1),
        first_window_end + datetime.timedelta(days=1),
        created=first_window_end + datetime.timedelta(days=2),
    )
    output = run_tap(config, catalog=select_only(config, {FULFILLED}))
    assert server.stats.count("createReport") == 3  # four windows, the first reused
    from_planted = [r for r in output.records(FULFILLED) if r["report_id"] == planted]
    assert from_planted
    assert set(keys(output, FULFILLED)) == server.reports.keys_of(
        "GET_AMAZON_FULFILLED_SHIPMENTS_DATA_GENERAL"
    )


def test_a_cancelled_report_is_an_empty_window_whose_bookmark_moves(server):
    server.reports.script("GET_FLAT_FILE_ACTIONABLE_ORDER_DATA_SHIPPING", "CANCELLED")
    server.reports.script("GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA", "CANCELLED", times=4)
    output = run_stream(server, ACTIONABLE)
    assert output.records(ACTIONABLE) == []
    returns = run_stream(server, RETURNS)
    assert returns.records(RETURNS) == []
    bookmark = returns.states[-1]["bookmarks"][RETURNS]["partitions"][0]["window_end"]
    assert datetime.datetime.fromisoformat(bookmark) >= server.dataset.now.replace(microsecond=0)


@pytest.mark.parametrize("outcome", ["FATAL", "FATAL_WITHOUT_DOCUMENT"])
def test_a_fatal_report_is_reported_and_its_window_is_read_next_run(server, tmp_path, outcome):
    server.reports.script("GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA", "DONE")
    server.reports.script("GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA", outcome)
    config = report_config(server)
    result = run_cli(write_run_files(tmp_path, config, {RETURNS, FULFILLED}))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert f"stream '{RETURNS}'" in last and "FATAL" in last and "getReport" in last
    if outcome == "FATAL":
        assert "could not be generated (scripted)" in last
    output = SingerOutput.parse(result.stdout)
    assert output.records(FULFILLED), "the other report stream still ran"
    first_range = created_ranges(server, "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA")[0]
    first_window = server.reports.keys_of("GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA", *first_range)
    assert set(keys(output, RETURNS)) == first_window  # the window before the failure
    state = output.states[-1]
    # The next run starts again at the failed window and completes the data set.
    again = run_tap(config, catalog=select_only(config, {RETURNS}), state=state)
    combined = set(keys(output, RETURNS)) | set(keys(again, RETURNS))
    assert combined == server.reports.keys_of("GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA")


@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "uncompressed"])
def test_a_broken_download_is_read_again_without_duplicates(server, compressed):
    # A body cut off mid-way (gzip or plain: urllib3 checks Content-Length), then a 500.
    server.config.live.uncompressed_document_share = 0.0 if compressed else 1.0
    server.inject("reportDocumentDownload", "truncate")
    server.inject("reportDocumentDownload", 500)
    output = run_stream(server, ACTIONABLE)
    emitted = keys(output, ACTIONABLE)
    assert len(emitted) == len(set(emitted))
    assert set(emitted) == server.reports.keys_of("GET_FLAT_FILE_ACTIONABLE_ORDER_DATA_SHIPPING")
    assert server.stats.count("reportDocumentDownload") == 3
    assert all(document.plain is not compressed for document in server.reports.documents.values())
    # The tap asks for `Content-Encoding: gzip` on gzipped documents (model, 2026-04-01).
    assert bool(server.reports.encoded_links) is compressed


def test_a_download_that_keeps_failing_fails_its_window_and_the_others_run(server, tmp_path):
    # Every download of the run is cut mid-body: the returns report's first window fails
    # after its retries, with one line naming the stream, the report and the cause. Its
    # bookmark stays, the other stream runs, the run exits 1, and the next run completes.
    server.inject("reportDocumentDownload", "truncate", times=1_000)
    config = report_config(server, max_retries=1)
    result = run_cli(write_run_files(tmp_path, config, {RETURNS, "marketplace_participations"}))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    report_id = next(iter(server.reports.reports))
    assert f"stream '{RETURNS}' (report {report_id})" in last and "document download" in last
    assert server.stats.count("reportDocumentDownload") == 2  # one retry, then contained
    output = SingerOutput.parse(result.stdout)
    assert output.records("marketplace_participations"), "the other stream still ran"
    # The rows before the cut went out (a merge target keeps them once); no bookmark moved.
    assert set(keys(output, RETURNS)) <= server.reports.keys_of(
        "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"
    )
    assert RETURNS not in output.states[-1].get("bookmarks", {}) or not any(
        "window_end" in p for p in output.states[-1]["bookmarks"][RETURNS].get("partitions", [])
    )
    server.clear_faults()
    again = run_tap(config, catalog=select_only(config, {RETURNS}), state=output.states[-1])
    assert set(keys(again, RETURNS)) == server.reports.keys_of(
        "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"
    )


def test_columns_the_tap_does_not_know_are_kept_as_strings_with_a_warning(server, caplog):
    server.reports.extra_columns.append("new-amazon-column")
    output = run_stream(server, ACTIONABLE)
    records = output.records(ACTIONABLE)
    assert records and all(r["new_amazon_column"].startswith("extra-") for r in records)
    schemas = [
        m["schema"] for m in output.messages if m["type"] == "SCHEMA" and m["stream"] == ACTIONABLE
    ]
    assert schemas[-1]["properties"]["new_amazon_column"]["type"] == ["string", "null"]
    assert "new_amazon_column" in caplog.text


def test_a_report_that_takes_too_long_stops_with_a_clear_error(server, tmp_path):
    # A wait of 0 minutes is over at the first getReport that finds the report unfinished:
    # the error path of `report_wait_minutes` without waiting real minutes (the schedule
    # of the waits is tested below with a clock the test controls).
    server.config.report_processing_seconds = 3600.0
    args = write_run_files(tmp_path, report_config(server, report_wait_minutes=0), {ACTIONABLE})
    result = run_cli(args)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "report_wait_minutes" in last and f"stream '{ACTIONABLE}'" in last
    assert server.stats.count("getReport") == 1
    assert server.stats.count("getReportDocument") == 0


class PollClock:
    """A clock that moves only when the tap sleeps or polls (each getReport taking
    `poll_seconds`), and the getReport answers: unfinished until poll `done_at`."""

    def __init__(self, *, poll_seconds: float = 0.0, done_at: int | None = None) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.polls = 0
        self.poll_seconds = poll_seconds
        self.done_at = done_at

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def poll(self) -> dict[str, Any]:
        self.polls += 1
        self.now += self.poll_seconds
        done = self.done_at is not None and self.polls >= self.done_at
        return {"reportId": "1", "processingStatus": "DONE" if done else "IN_PROGRESS"}

    def await_report(self, max_wait: float) -> dict[str, Any]:
        return await_report(
            self.poll,
            max_wait=max_wait,
            too_long=lambda report: TimeoutError(report["processingStatus"]),
            clock=self.clock,
            sleep=self.sleep,
        )


def test_get_report_is_polled_at_doubling_waits_until_report_wait_minutes_is_spent():
    one_minute = PollClock()
    with pytest.raises(TimeoutError, match="IN_PROGRESS"):
        one_minute.await_report(max_wait=60.0)
    # Polls at 0, 1, 3, 7, 15 and 31 s; the next wait (32 s) would end past the minute.
    assert one_minute.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert one_minute.polls == 6
    # The time getReport itself takes counts too: one wait fewer.
    slow = PollClock(poll_seconds=10.0)
    with pytest.raises(TimeoutError):
        slow.await_report(max_wait=60.0)
    assert slow.sleeps == [1.0, 2.0, 4.0, 8.0]
    # Waits stop doubling at a minute; a report done on the eighth poll is returned.
    ten_minutes = PollClock(done_at=8)
    assert ten_minutes.await_report(max_wait=600.0)["processingStatus"] == "DONE"
    assert ten_minutes.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0]
    # With no wait allowed, one poll decides (the command-line test above).
    at_once = PollClock()
    with pytest.raises(TimeoutError):
        at_once.await_report(max_wait=0.0)
    assert (at_once.polls, at_once.sleeps) == (1, [])


def test_document_links_stay_out_of_debug_logs(server, tmp_path):
    args = write_run_files(tmp_path, report_config(server), {ACTIONABLE})
    result = run_cli(args, env={"TAP_SPAPI_LOGLEVEL": "DEBUG"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert server.reports.signatures
    assert "_documents/" in result.stderr  # urllib3 logged the download, redacted
    assert not [s for s in server.reports.signatures if s in result.stderr + result.stdout]


def test_documents_in_other_encodings_are_decoded():
    assert charset_of("text/plain;charset=Cp1252") == "cp1252"
    assert charset_of("text/plain;charset=windows-31j") == "cp932"
    assert charset_of(None) == "utf-8"
    header = "order-id\tsku\tquantity\tpurchase-date\n"
    document = header + "1\tCaf\u00e9\t2\t2026-01-02T03:04:05-08:00\n"
    expected = {"order_id": "1", "sku": "Caf\u00e9", "quantity": "2"}
    body = document.encode("cp1252")
    # gzipped (compressionAlgorithm GZIP, served as identity or `Content-Encoding: gzip`
    # alike), plain (no compressionAlgorithm), or gunzipped on the way by a proxy although
    # the answer said GZIP: the reader goes by the body's first bytes.
    for raw in (gzip.compress(body), body):
        response = SimpleNamespace(
            headers={"Content-Type": "text/plain;charset=Cp1252"}, raw=io.BytesIO(raw)
        )
        text = text_of(response)  # type: ignore[arg-type]
        rows = list(TypedRows(BY_STREAM[ACTIONABLE], "test", lambda _: None).rows(text))
        assert rows == [{**expected, "purchase_date": "2026-01-02T11:04:05+00:00"}]
    assert parse_datetime("15-Jan-2026") == "2026-01-15T00:00:00+00:00"
    assert parse_datetime("soon") is None


# --- size and interruption: the tap as a user runs it ---------------------------------------


def copied_rows(
    server: StandIn,
    report_type: str,
    monkeypatch: pytest.MonkeyPatch,
    widen: tuple[str, int] | None = None,
) -> None:
    """Rows of `report_type` copied from its first thousand with an identity of their own,
    and the column `widen` names, if any, repeated to that many characters.

    The stand-in derives each row from its own seeded generator, a half minute of CPU for
    200,000 rows; a test of the tap's memory needs the size and shape of real rows, not
    200,000 different values.
    """
    reports = server.reports
    own_row = reports.row
    fixture = FIXTURES_BY_TYPE[report_type]
    header = reports.header(fixture)
    positions = {header.index(column): column for column in fixture.identity}
    firsts: dict[int, list[str]] = {}

    def row(kind: Any, index: int) -> list[str]:
        if kind.report_type != report_type:
            return own_row(kind, index)
        first = index % 1_000
        if first not in firsts:
            values = own_row(kind, first)
            if widen is not None:
                position, width = header.index(widen[0]), widen[1]
                text = values[position] or "item"
                values[position] = (text + " ") * (width // (len(text) + 1))
            firsts[first] = values
        values = list(firsts[first])
        for position, column in positions.items():  # as the stand-in names them
            values[position] = f"{column[:3].upper()}-{index:07d}"
        return values

    monkeypatch.setattr(reports, "row", row)


@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "uncompressed"])
def test_a_50_mb_report_is_parsed_in_flat_memory(tmp_path, monkeypatch, compressed):
    # 50,000 rows with product names of a kilobyte make about 60 MB of TSV: over 50 MB
    # with a third of the records rows of the usual width would need (each record costs
    # the tap's process CPU, not memory); a hundredth of them is the baseline. A tap that
    # held the rows would hold the kilobytes too. Amazon sends documents gzipped or, now
    # and then, uncompressed (without compressionAlgorithm): both stream.
    small, large = 500, 50_000
    live = LiveBehaviours(uncompressed_document_share=0.0 if compressed else 1.0)
    with StandIn(StandInConfig(seed=5, size="tiny", rate_scale=50.0, live=live)) as server:
        report = BY_STREAM[ACTIONABLE]
        copied_rows(server, report.report_type, monkeypatch, widen=("product-name", 1_000))
        args = write_run_files(tmp_path, report_config(server), {ACTIONABLE})
        peaks: dict[int, float] = {}
        sizes: dict[int, int] = {}
        for rows in (small, large):
            server.reports.row_counts[report.report_type] = rows
            server.reports.reports.clear()  # a fresh report, not the last run's snapshot
            with (tmp_path / f"out-{rows}").open("wb") as out:
                code, peaks[rows] = run_tap_with_peak(
                    args, stdout=out, stderr=subprocess.DEVNULL, cwd=REPO
                )
            assert code == 0
            document = max(server.reports.documents.values(), key=lambda d: len(d.body))
            assert document.plain is not compressed
            sizes[rows] = len(document.body if document.plain else gzip.decompress(document.body))
            with (tmp_path / f"out-{rows}").open() as written:
                emitted = sum(1 for line in written if '"RECORD"' in line)
            assert emitted == rows
    assert sizes[large] > 50 * 1024 * 1024, "the large document is over 50 MB of TSV"
    # 100 times the rows, and the peak grows by less than a tenth of the document's size.
    assert peaks[large] - peaks[small] < sizes[large] / 1024 / 1024 / 10, peaks


def test_a_kill_during_a_report_download_resumes_without_gaps(tmp_path):
    standin_config = StandInConfig(seed=5, rate_scale=50.0, document_bytes_per_second=40_000)
    with StandIn(standin_config) as server:
        report = BY_STREAM[ACTIONABLE]
        server.reports.row_counts[report.report_type] = 3_000
        args = write_run_files(tmp_path, report_config(server), {ACTIONABLE, RETURNS})
        process = subprocess.Popen(
            [sys.executable, "-m", "tap_spapi", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=REPO,
            text=True,
        )
        assert process.stdout is not None
        lines = []
        for line in process.stdout:  # kill once the actionable report is half read
            lines.append(line)
            if sum(1 for x in lines if ACTIONABLE in x and '"RECORD"' in x) >= 1_500:
                process.kill()
                break
        process.stdout.close()
        process.wait()
        first = SingerOutput.parse("".join(lines[:-1]))  # the last line may be cut off
        assert 0 < len(first.records(ACTIONABLE)) < 3_000
        state = first.states[-1] if first.states else {}
        server.config.document_bytes_per_second = 0.0
        config = report_config(server)
        second = run_tap(config, catalog=select_only(config, {ACTIONABLE, RETURNS}), state=state)
        for stream, report_type in (
            (ACTIONABLE, report.report_type),
            (RETURNS, "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"),
        ):
            combined = set(keys(first, stream)) | set(keys(second, stream))
            assert combined == server.reports.keys_of(report_type), stream
        # The snapshot report of the killed run was reused, not requested again.
        assert (
            Counter(r.report_type for r in server.reports.reports.values())[report.report_type] == 1
        )


def test_a_columns_other_name_from_another_amazon_source_loads_into_the_same_column():
    removal = BY_STREAM["fba_fulfillment_removal_shipment_detail_data"]
    unknown: list[list[str]] = []
    for first in ("request-date", "removal-date"):  # SP-API page / Seller Central help
        document = f"{first}\torder-id\n2026-01-02T03:04:05+00:00\tR-1\n"
        rows = list(TypedRows(removal, "test", unknown.append).rows(io.StringIO(document)))
        assert rows == [{"request_date": "2026-01-02T03:04:05+00:00", "order_id": "R-1"}]
    assert unknown == []  # an alias is a known column: no warning


def test_the_removal_report_under_its_other_first_column_name_loads_request_date(server):
    stream = "fba_fulfillment_removal_shipment_detail_data"
    document_header = server.reports.header(FIXTURES_BY_TYPE[BY_STREAM[stream].report_type])
    assert document_header[0] == "removal-date"  # Seller Central's name, not the SP-API page's
    output = run_stream(server, stream)
    records = output.records(stream)
    assert records
    assert all(record["request_date"] for record in records)
    assert not [r for r in records if "removal_date" in r]
