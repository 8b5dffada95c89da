"""Notified reports (issue 29): REPORT_PROCESSING_FINISHED ends the wait for a report the
tap asked for, and lets it adopt the reports Amazon schedules itself.

The stand-in publishes its notifications into moto's SQS (a report final on creation,
`report_processing_seconds` 0, is published at once, with live Amazon's duplicates), and
`tap-spapi-notifications setup` subscribes. The tap's clock is the test's
(`tap_spapi.runtime.run.utc_now`), so every run asks for the same windows; nothing waits (the
tap's wait between two polls is the test's: it finishes the stand-in's reports).
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from spapi_standin import StandIn, StandInConfig
from spapi_standin.config import NA_MARKETPLACES
from tap_spapi.amazon.report_types import BY_STREAM
from tap_spapi.notifications_setup import main as setup_main
from tap_spapi.runtime.inbox import REPORT_FINISHED
from tap_spapi.streams.base.windows import QueryWindow
from tap_spapi.streams.reports.requesting import ReportRequests
from testkit import LOCAL_AWS, create_queue, run_tap, select_only, tap_config

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from testkit import SingerOutput

NOW = datetime.datetime(2026, 11, 20, 12, 0, tzinfo=datetime.UTC)
FULFILLED = "amazon_fulfilled_shipments_data_general"  # 30-day windows: 4 in 95 days
REPORT_TYPE = BY_STREAM[FULFILLED].report_type
COUNTED = ("createReport", "getReports", "getReport", "getReportDocument")


@pytest.fixture
def moto_and_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tap's AWS credentials are moto's, and its clock the test's."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", LOCAL_AWS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", LOCAL_AWS["aws_secret_access_key"])
    monkeypatch.setattr("tap_spapi.runtime.run.utc_now", lambda: NOW)


def standin(sqs_endpoint: str, processing: float) -> StandIn:
    """The stand-in publishing into moto's SQS, its reports taking `processing` s."""
    config = StandInConfig(
        seed=7,
        size="tiny",
        now=NOW,
        rate_scale=50.0,
        report_processing_seconds=processing,
        sqs_endpoint_url=sqs_endpoint,
    )
    return StandIn(config)


@pytest.fixture
def amazon(sqs_endpoint: str, moto_and_clock: None) -> Iterator[StandIn]:
    """Reports final on creation and published at once."""
    with standin(sqs_endpoint, 0.0) as server:
        yield server


def subscribed_config(server: StandIn, endpoint: str, tmp_path: Path) -> dict[str, Any]:
    """A queue, the setup command's REPORT_PROCESSING_FINISHED subscription to it, and the
    tap's settings for it (from just before the stand-in's data)."""
    queue_url, arn = create_queue(endpoint, f"tap-{uuid.uuid4().hex[:12]}")
    config = tap_config(server, notifications_queue_url=queue_url,
                        notifications_endpoint_url=endpoint)  # fmt: skip
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    args = ["setup", "--config", str(path), "--queue-arn", arn, "--types", REPORT_FINISHED]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert setup_main(args) == 0, out.getvalue()
    return config


def without_queue(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if not k.startswith("notifications_")}


def counted_run(
    server: StandIn, config: dict[str, Any], streams: set[str]
) -> tuple[SingerOutput, dict[str, int]]:
    """A run from no state, and the Reports requests it made."""
    before = {operation: server.stats.count(operation) for operation in COUNTED}
    output = run_tap(config, catalog=select_only(config, streams))
    return output, {op: server.stats.count(op) - before[op] for op in COUNTED}


def rows(output: SingerOutput) -> list[str]:
    """The records, each as JSON (the report id left out: reused reports differ in it)."""
    records = [{k: v for k, v in r.items() if k != "report_id"} for r in output.records(FULFILLED)]
    return sorted(json.dumps(record, sort_keys=True) for record in records)


def test_notified_reports_are_not_polled_and_give_the_same_records(amazon, sqs_endpoint, tmp_path):
    config = subscribed_config(amazon, sqs_endpoint, tmp_path)
    # An earlier run, as if killed before its state reached the target: it created the
    # reports of every window (each published as it finished).
    earlier, asked = counted_run(amazon, without_queue(config), {FULFILLED})
    windows = asked["createReport"]
    assert windows == 4 and asked["getReport"] == windows

    # The same run again without notifications: the reports are reused, each polled once.
    polled, without = counted_run(amazon, without_queue(config), {FULFILLED})
    # With the queue set but the notifications stream not selected, the queue is off:
    # nothing changes.
    off, queue_off = counted_run(amazon, config, {FULFILLED})
    # With notifications: reused and read without one getReport.
    notified, with_them = counted_run(amazon, config, {FULFILLED, "notifications"})

    # A window with no data is a CANCELLED report, which no run reuses (getReports lists
    # no failed report): it is created again, and polled, as it finishes after the run
    # read the queue. Every other window's report is read without a getReport.
    again = without["createReport"]
    assert without == queue_off == {**without, "getReport": windows}
    assert with_them == {**without, "getReport": again}
    assert again < windows
    assert rows(earlier) == rows(polled) == rows(off) == rows(notified)
    assert rows(notified)
    finished = {
        n["payload"]["reportProcessingFinishedNotification"]["reportId"]
        for n in notified.records("notifications")
    }
    assert {r["report_id"] for r in notified.records(FULFILLED)} <= finished


def test_a_report_amazon_scheduled_covering_a_window_is_adopted(amazon, sqs_endpoint, tmp_path):
    config = subscribed_config(amazon, sqs_endpoint, tmp_path)
    start = datetime.datetime.fromisoformat(config["start_date"])
    first_end = start + datetime.timedelta(days=30)
    scheduled = amazon.schedule_report(
        REPORT_TYPE,
        start - datetime.timedelta(days=1),
        first_end + datetime.timedelta(days=1),
        marketplace_ids=list(NA_MARKETPLACES),
    )
    output, asked = counted_run(amazon, config, {FULFILLED, "notifications"})

    created = sorted(r.start for r in amazon.reports.reports.values() if r.report_id != scheduled)
    assert asked["createReport"] == len(created) == 3  # four windows: the first adopted
    assert start not in created
    assert not [t for t in amazon.stats.targets("getReport") if scheduled in t]  # not polled
    assert asked["getReport"] == 3  # the created ones: finished after the queue was read
    assert [r for r in output.records(FULFILLED) if r["report_id"] == scheduled]
    assert set(rows(output)) >= set(rows(run_tap(without_queue(config), streams={FULFILLED})))


def finish_reports(server: StandIn) -> None:
    """The tap's wait between two polls, replaced: the stand-in's reports in progress
    finish now and are announced (published into the queue), as their processing time
    would have them: no real time passes, and the outcome does not hang on timing."""
    for report in list(server.reports.reports.values()):
        if not report.announced:
            report.ready_at = time.monotonic()
            server.reports._announce(report)


def test_a_report_created_during_the_run_is_read_when_notified_not_polled_again(
    sqs_endpoint, moto_and_clock, monkeypatch, tmp_path
):
    # Reports take an hour at the stand-in unless the tap waits for them (then they finish:
    # `finish_reports`), so the first getReport of each finds it unfinished.
    runs: dict[bool, tuple[SingerOutput, dict[str, int], int]] = {}
    for notified in (False, True):
        # Each run against a fresh stand-in (the same data): nothing to reuse, every
        # window's report created during the run.
        with standin(sqs_endpoint, 3600.0) as server:
            monkeypatch.setattr(
                "tap_spapi.streams.reports.stream.pause_between_polls",
                lambda _s: finish_reports(server),
            )
            scratch = tmp_path / str(notified)
            scratch.mkdir()
            settings = subscribed_config(server, sqs_endpoint, scratch)
            streams = {FULFILLED, "notifications"} if notified else {FULFILLED}
            chosen = settings if notified else without_queue(settings)
            output, asked = counted_run(server, chosen, streams)
            runs[notified] = output, asked, len(server.reports.reports)

    (polled, without, created), (heard, with_them, created_too) = runs[False], runs[True]
    assert created == created_too == without["createReport"] == with_them["createReport"] == 4
    # Without notifications: each report polled until final. With them: the first poll of
    # the first window finds it unfinished; the queue, read again while waiting, then tells
    # every report final (DONE with its document, or CANCELLED: no data), none polled again.
    assert without["getReport"] == 5, without
    assert with_them["getReport"] == 1, with_them
    assert with_them["getReportDocument"] == without["getReportDocument"]
    assert rows(heard) == rows(polled) and rows(heard)
    finished = {
        n["payload"]["reportProcessingFinishedNotification"]["reportId"]
        for n in heard.records("notifications")
    }
    assert len(finished) == 4  # read while waiting, emitted by the notifications stream


class Calls:
    """Amazon's answers to a `ReportRequests`: an empty list, one report's description."""

    def __init__(self, described: dict[str, Any]) -> None:
        self.described = described
        self.made: list[str] = []

    def call(self, operation: str, **_: Any) -> Any:
        """`SPAPIClient.call`'s answer."""
        self.made.append(operation)
        if operation == "getReport":
            return self.described
        return {"reportId": "created"}

    def pages(self, operation: str, **_: Any) -> Any:
        """`SPAPIClient.pages`' answers: getReports lists nothing."""
        self.made.append(operation)
        return iter([{"reports": []}])


def requests_of(
    calls: Calls, window: QueryWindow, payloads: list[dict[str, Any]] | None
) -> ReportRequests:
    """The fulfilled-shipments stream's requests for NOW, the range from `window`'s start;
    `payloads`: the notifications (None: the stream's default, the queue off)."""
    notified = {} if payloads is None else {"notified": lambda _account: payloads}
    return ReportRequests(
        BY_STREAM[FULFILLED],
        client=lambda _partition: calls,  # type: ignore[arg-type,return-value]  # a fake client
        where="fulfilled_shipments",
        marketplaces=lambda _account: list(NA_MARKETPLACES),
        now=NOW,
        range_start=lambda _partition: window.start,
        logger=logging.getLogger("test"),
        **notified,
    )


def test_a_notified_report_the_list_lacks_is_described_once_and_adopted():
    window = QueryWindow(NOW - datetime.timedelta(days=30), NOW - datetime.timedelta(days=1))
    notice = {"reportId": "9", "reportType": REPORT_TYPE, "processingStatus": "DONE",
              "reportDocumentId": "doc-9"}  # fmt: skip
    described = {**notice, "marketplaceIds": list(NA_MARKETPLACES),
                 "dataStartTime": "2026-10-01T00:00:00Z", "dataEndTime": "2026-11-20T00:00:00Z",
                 "createdTime": "2026-11-20T06:00:00Z"}  # fmt: skip
    calls = Calls(described)
    requests = requests_of(calls, window, [{"reportProcessingFinishedNotification": notice}])
    later = QueryWindow(window.end, NOW)  # past the report's range: created
    requests.ensure({"account": "main"}, [window, later])
    assert requests.book.report_id("main", window) == "9"
    assert requests.book.report_id("main", later) == "created"
    assert calls.made == ["getReports", "getReport", "createReport"]
    assert requests.finished("main", "9") == notice  # read at once: not polled

    quiet = Calls(described)
    off = requests_of(quiet, window, None)  # the queue off
    off.ensure({"account": "main"}, [window])
    assert quiet.made == ["getReports", "createReport"]
    assert off.finished("main", "9") is None
