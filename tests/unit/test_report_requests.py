"""Reuse or create, decided over Amazon's report list: plain functions, no server."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from tap_spapi.streams.base.windows import QueryWindow, isoformat
from tap_spapi.streams.reports.requesting import (
    SNAPSHOT_REUSE,
    RequestBook,
    await_report,
    holds,
    list_reports,
    request_key,
    reusable,
    search_start,
    unrequested,
)
from tap_spapi.streams.reports.windows import RETENTION

# A fixed instant, never compared with the real clock: every time below is relative to it.
NOW = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)
WINDOW = QueryWindow(NOW - 40 * DAY, NOW - 10 * DAY)
MARKETPLACES = ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"]


def report(
    report_id: str,
    status: str = "DONE",
    *,
    start: datetime.datetime | None = WINDOW.start,
    end: datetime.datetime | None = WINDOW.end,
    created: datetime.datetime | None = None,
    marketplaces: list[str] | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "reportId": report_id,
        "processingStatus": status,
        "marketplaceIds": list(MARKETPLACES if marketplaces is None else marketplaces),
        "createdTime": isoformat(created or (end or NOW) + DAY),
    }
    if start is not None:
        entry["dataStartTime"] = isoformat(start)
    if end is not None:
        entry["dataEndTime"] = isoformat(end)
    return entry


def test_a_report_of_the_very_same_range_holds_the_window_even_while_building() -> None:
    assert holds(report("1", "IN_PROGRESS", created=WINDOW.start), WINDOW)


def test_a_finished_report_covering_the_window_holds_it_only_if_created_after_it_ended() -> None:
    start, end = WINDOW.start - DAY, WINDOW.end + DAY
    assert holds(report("1", start=start, end=end, created=WINDOW.end + 2 * DAY), WINDOW)
    assert not holds(report("2", start=start, end=end, created=WINDOW.end - DAY), WINDOW)
    building = report("3", "IN_QUEUE", start=start, end=end, created=WINDOW.end + 2 * DAY)
    assert not holds(building, WINDOW)


def test_a_report_missing_part_of_the_window_or_its_range_does_not_hold_it() -> None:
    assert not holds(report("1", start=WINDOW.start + DAY), WINDOW)
    assert not holds(report("2", end=WINDOW.end - DAY), WINDOW)
    assert not holds(report("3", start=None), WINDOW)


def test_the_most_finished_then_oldest_fitting_report_is_reused() -> None:
    reports = [
        report("pending", "IN_PROGRESS", created=WINDOW.start),
        report("newer", created=WINDOW.end + 3 * DAY),
        report("older", created=WINDOW.end + 2 * DAY),
    ]
    chosen = reusable(reports, WINDOW, marketplaces=reversed(MARKETPLACES), now=NOW)
    assert chosen is not None
    assert chosen["reportId"] == "older"


def test_a_report_for_other_marketplaces_is_not_reused() -> None:
    reports = [report("1", marketplaces=MARKETPLACES[:1])]
    assert reusable(reports, WINDOW, marketplaces=MARKETPLACES, now=NOW) is None


def test_a_snapshot_is_reused_only_while_it_is_recent() -> None:
    recent = report("recent", start=None, end=None, created=NOW - SNAPSHOT_REUSE / 2)
    stale = report("stale", start=None, end=None, created=NOW - 2 * SNAPSHOT_REUSE)
    assert reusable([stale, recent], None, marketplaces=MARKETPLACES, now=NOW) == recent
    assert reusable([stale], None, marketplaces=MARKETPLACES, now=NOW) is None


def test_only_windows_without_a_report_are_requested() -> None:
    later = QueryWindow(WINDOW.end, NOW)
    requested = {request_key("a", WINDOW): "1"}
    assert unrequested("a", [WINDOW, later, None], requested) == [
        (request_key("a", later), later),
        (("a", "", ""), None),
    ]
    assert unrequested("b", [WINDOW], requested) == [(request_key("b", WINDOW), WINDOW)]


def test_the_search_looks_back_to_the_range_but_never_past_retention() -> None:
    def start() -> datetime.datetime:
        return NOW - 10 * DAY

    assert search_start(NOW, snapshot=False, range_start=start) == NOW - 10 * DAY
    assert search_start(NOW, snapshot=False, range_start=lambda: NOW - 400 * DAY) == (
        NOW - RETENTION
    )
    assert search_start(NOW, snapshot=True, range_start=start) == NOW - SNAPSHOT_REUSE


def test_the_report_list_asks_every_page_of_one_query() -> None:
    answers = [{"reports": [report("1")]}, {"reports": [report("2"), report("3")]}, {}]
    asked: list[dict[str, Any]] = []

    def pages(params: dict[str, Any]) -> list[dict[str, Any]]:
        asked.append(params)
        return answers

    listed = list_reports(pages, report_type="T", marketplaces=MARKETPLACES, since=WINDOW.start)
    assert [r["reportId"] for r in listed] == ["1", "2", "3"]
    assert len(asked) == 1
    assert asked[0]["createdSince"] == isoformat(WINDOW.start)
    assert asked[0]["processingStatuses"] == "DONE,IN_QUEUE,IN_PROGRESS"


def test_the_book_reuses_what_amazon_has_and_creates_the_rest_once() -> None:
    book = RequestBook()
    later = QueryWindow(WINDOW.end, NOW)
    created: list[QueryWindow | None] = []

    def create(window: QueryWindow | None) -> str:
        created.append(window)
        return f"new-{len(created)}"

    def find(window: QueryWindow | None) -> dict[str, Any] | None:
        return report("old") if window == WINDOW else None

    reused: list[str] = []
    for _ in range(2):  # the second ask finds both requested
        book.ensure(
            "a",
            [WINDOW, later],
            find=find,
            create=create,
            reusing=lambda r, _w: reused.append(r["reportId"]),
        )
    assert created == [later]
    assert reused == ["old"]
    assert book.report_id("a", WINDOW) == "old"
    assert book.report_id("a", later) == "new-1"
    assert book.unrequested("a", [WINDOW, later, None]) == 1


def test_the_book_plans_and_lists_once_per_account() -> None:
    book = RequestBook()
    plans: list[str] = []
    assert book.planned("a") == []

    def plan() -> list[QueryWindow | None]:
        plans.append("a")
        return [WINDOW]

    for _ in range(2):
        assert book.windows_of("a", plan) == [WINDOW]
    assert plans == ["a"]
    assert book.planned("a") == [WINDOW]
    listings = iter([[report("1")], [report("2")]])
    assert book.existing("a", lambda: next(listings)) == book.existing("a", lambda: next(listings))


@pytest.mark.parametrize("status", ["DONE", "CANCELLED", "FATAL"])
def test_polling_stops_at_a_terminal_status(status: str) -> None:
    answers = iter([{"processingStatus": status}])
    result = await_report(lambda: next(answers), max_wait=60.0, too_long=RuntimeError)
    assert result == {"processingStatus": status}


def test_polling_gives_up_before_waiting_past_the_limit() -> None:
    class TooLongError(Exception):
        pass

    with pytest.raises(TooLongError):
        await_report(
            lambda: {"processingStatus": "IN_QUEUE"},
            max_wait=0.5,  # the first wait (1 s) would pass it
            too_long=lambda r: TooLongError(r["processingStatus"]),
        )
