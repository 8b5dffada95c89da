"""Reuse or create: which report of Amazon's list serves a window, and which windows
still need one.

createReport's plan is the scarce one (one a minute), so before creating a report the
stream looks for one Amazon already has (getReports, once per account and type): one
of its own from an earlier, interrupted run, or a DONE report covering the window
(Amazon's schedules make many). These are plain functions of Amazon's report list, so
the decision is tested without a server; the stream does the calls.

With the notifications queue on, the run's REPORT_PROCESSING_FINISHED notifications
(read once, at the start: reports that finished before the run, such as its own from an
earlier run that gave up waiting, and those Amazon's schedules made) say which reports
are final without asking: such a report is not polled (getReport), its document is
fetched at once; and a notified DONE report the list lacks is a candidate for reuse too,
described by one getReport (the notification carries no data range or marketplaces).
A report the run created finishes after that read: while the stream waits between its
polls, it reads the queue again (`await_report`'s `notified`), and a report notified
then is not polled again either.
"""

from __future__ import annotations

import datetime
import threading
import time
from typing import TYPE_CHECKING, Any

from tap_spapi.keys import ACCOUNT_KEY
from tap_spapi.streams.base.windows import instant_or_none, isoformat
from tap_spapi.streams.reports.windows import RETENTION, describe

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from singer_sdk.helpers.types import Context

    from tap_spapi.amazon.report_types import ReportType
    from tap_spapi.streams.base.windows import QueryWindow
    from tap_spapi.wire.client import SPAPIClient

# A snapshot report (no data range) created this recently is still current.
SNAPSHOT_REUSE = datetime.timedelta(minutes=15)
PENDING = ("IN_QUEUE", "IN_PROGRESS")
TERMINAL = frozenset({"DONE", "CANCELLED", "FATAL"})
# What a REPORT_PROCESSING_FINISHED notification (payloadVersion 2020-09-04) tells of its
# report, in getReport's names.
NOTIFIED_FIELDS = ("reportId", "reportType", "processingStatus", "reportDocumentId")
# getReport polls: the first at once, then waits doubling from 1 s to a minute.
POLL_FIRST_WAIT, POLL_MAX_WAIT = 1.0, 60.0

#: (account, window start, window end): one report per key and run.
RequestKey = tuple[str, str, str]


def request_key(account: str, window: QueryWindow | None) -> RequestKey:
    """The key of `account`'s report for `window` (None: a snapshot)."""
    if window is None:
        return account, "", ""
    return account, isoformat(window.start), isoformat(window.end)


def unrequested(
    account: str, windows: Iterable[QueryWindow | None], requested: Mapping[RequestKey, str]
) -> list[tuple[RequestKey, QueryWindow | None]]:
    """The windows (with their keys) that have no report id yet this run, in order."""
    keyed = [(request_key(account, window), window) for window in windows]
    return [(key, window) for key, window in keyed if key not in requested]


def holds(report: Mapping[str, Any], window: QueryWindow) -> bool:
    """Whether `report` holds all of `window`'s data: the very same range (one of ours,
    maybe still building), or a finished report covering it that was created after
    the window ended (so it saw all of the window's data)."""
    start, end = (
        instant_or_none(report.get("dataStartTime")),
        instant_or_none(report.get("dataEndTime")),
    )
    if start is None or end is None:
        return False
    if start == window.start and end == window.end:
        return True
    created = instant_or_none(report.get("createdTime"))
    return (
        report.get("processingStatus") == "DONE"
        and start <= window.start
        and end >= window.end
        and created is not None
        and created >= window.end
    )


def reusable(
    reports: Iterable[dict[str, Any]],
    window: QueryWindow | None,
    *,
    marketplaces: Iterable[str],
    now: datetime.datetime,
) -> dict[str, Any] | None:
    """The report of `reports` that holds `window`'s data for exactly `marketplaces`,
    the most finished first, then the oldest; None if none does.

    A snapshot (`window` None) is reused while it is younger than `SNAPSHOT_REUSE`.
    """
    wanted = sorted(marketplaces)
    fitting = []
    for report in reports:
        if sorted(report.get("marketplaceIds") or []) != wanted:
            continue
        if window is None:
            created = instant_or_none(report.get("createdTime"))
            if created is not None and created >= now - SNAPSHOT_REUSE:
                fitting.append(report)
        elif holds(report, window):
            fitting.append(report)
    fitting.sort(key=lambda r: (r["processingStatus"] != "DONE", r.get("createdTime") or ""))
    return fitting[0] if fitting else None


def notified_reports(
    payloads: Iterable[Mapping[str, Any]], report_type: str
) -> dict[str, dict[str, Any]]:
    """reportId -> what REPORT_PROCESSING_FINISHED notifications tell of the finished
    reports of `report_type` (their payloads, in the order received). Only final
    statuses count: a notification of anything else is not a reason to stop polling."""
    found: dict[str, dict[str, Any]] = {}
    for payload in payloads:
        body = payload.get("reportProcessingFinishedNotification")
        if not isinstance(body, dict) or body.get("reportType") != report_type:
            continue
        report = {name: body[name] for name in NOTIFIED_FIELDS if body.get(name) is not None}
        status, report_id = report.get("processingStatus"), report.get("reportId")
        if status not in TERMINAL or not report_id:
            continue
        if status == "DONE" and "reportDocumentId" not in report:
            continue  # nothing to read without the document: getReport says more
        found[str(report_id)] = report
    return found


def with_notified(
    listed: Iterable[dict[str, Any]], notified: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Amazon's list as it is now: a listed report notified DONE since is DONE (with its
    document), one notified CANCELLED or FATAL is left out, as the list leaves failed
    reports out (an exact-range match would otherwise be reused only to fail)."""
    current = []
    for report in listed:
        news = notified.get(str(report.get("reportId")))
        if news is None:
            current.append(report)
        elif news["processingStatus"] == "DONE":
            current.append({**report, **news})
    return current


def search_start(
    now: datetime.datetime, *, snapshot: bool, range_start: Callable[[], datetime.datetime]
) -> datetime.datetime:
    """How far back getReports looks: a snapshot's reuse period, else the start of the
    range still to read, but never past the documents' retention."""
    if snapshot:
        return now - SNAPSHOT_REUSE
    return max(now - RETENTION, range_start())


def list_reports(
    pages: Callable[[dict[str, Any]], Iterable[dict[str, Any]]],
    *,
    report_type: str,
    marketplaces: Iterable[str],
    since: datetime.datetime,
) -> Iterator[dict[str, Any]]:
    """Amazon's reports of `report_type` not failed, created since `since`; `pages`
    are getReports' answers to the query parameters it is given (`list_pages`)."""
    params: dict[str, Any] = {
        "reportTypes": report_type,
        "processingStatuses": ",".join(["DONE", *PENDING]),
        "marketplaceIds": ",".join(marketplaces),
        "pageSize": 100,
        "createdSince": isoformat(since),
    }
    for answer in pages(params):
        yield from answer.get("reports") or []


def list_pages(client: SPAPIClient, where: str, params: dict[str, Any]) -> Iterator[Any]:
    """getReports' pages of `params`, through `client`. The token must be the only
    parameter of a later page (Amazon); a token that comes back ends the listing, for
    a report it misses is only requested again."""
    return client.pages(
        "getReports", where=where, params=params, token_only=True, end_at_repeat=True
    )


class RequestBook:
    """One report stream's requests this run: each account's windows (planned once),
    the report id of each window, and the reports Amazon listed per account.

    Shared by the stream and the worker that requests its first reports ahead; one
    re-entrant lock, because planning a window range may request a probe report.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._windows: dict[str, list[QueryWindow | None]] = {}
        self._requested: dict[RequestKey, str] = {}
        self._existing: dict[str, list[dict[str, Any]]] = {}
        self._notified: dict[str, dict[str, dict[str, Any]]] = {}
        self._described: dict[str, dict[str, Any]] = {}  # getReport of a notified report

    def windows_of(
        self, account: str, plan: Callable[[], list[QueryWindow | None]]
    ) -> list[QueryWindow | None]:
        """`account`'s windows, `plan`ned on the first ask (the bookmark moves later)."""
        with self.lock:
            if account not in self._windows:
                self._windows[account] = plan()
            return self._windows[account]

    def planned(self, account: str) -> list[QueryWindow | None]:
        """`account`'s windows if planned already, else none (planning asks Amazon)."""
        with self.lock:
            return list(self._windows.get(account) or [])

    def unrequested(self, account: str, windows: Iterable[QueryWindow | None]) -> int:
        """How many of `windows` have no report yet."""
        with self.lock:
            return len(unrequested(account, windows, self._requested))

    def report_id(self, account: str, window: QueryWindow | None) -> str:
        """The report requested (or reused) for `window`."""
        return self._requested[request_key(account, window)]

    def existing(
        self, account: str, listed: Callable[[], Iterable[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """The reports Amazon has for `account`, `listed` once per run."""
        with self.lock:
            if account not in self._existing:
                self._existing[account] = list(listed())
            return self._existing[account]

    def notified(
        self, account: str, read: Callable[[], dict[str, dict[str, Any]]], *, again: bool = False
    ) -> dict[str, dict[str, Any]]:
        """`account`'s notified finished reports (`notified_reports`), `read` once per run,
        or `again` (the queue was read again while waiting)."""
        with self.lock:
            if again or account not in self._notified:
                self._notified[account] = read()
            return self._notified[account]

    def described(self, report_id: str, describe: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """getReport's description of a report (`describe`d once per run)."""
        with self.lock:
            if report_id not in self._described:
                self._described[report_id] = describe()
            return self._described[report_id]

    def ensure(
        self,
        account: str,
        windows: Iterable[QueryWindow | None],
        *,
        find: Callable[[QueryWindow | None], dict[str, Any] | None],
        create: Callable[[QueryWindow | None], str],
        reusing: Callable[[dict[str, Any], QueryWindow | None], None],
    ) -> None:
        """A report id for each of `windows`: one Amazon has (`find`), else `create`d."""
        with self.lock:
            for key, window in unrequested(account, windows, self._requested):
                reused = find(window)
                if reused is not None:
                    reusing(reused, window)
                    self._requested[key] = reused["reportId"]
                else:
                    self._requested[key] = create(window)


def await_report(
    poll: Callable[[], dict[str, Any]],
    *,
    max_wait: float,
    too_long: Callable[[dict[str, Any]], Exception],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    notified: Callable[[], dict[str, Any] | None] = lambda: None,
) -> dict[str, Any]:
    """`poll` (getReport) until the report is DONE, CANCELLED or FATAL: the first poll at
    once, then waits doubling from 1 s to a minute; `too_long` past `max_wait` s.
    After each wait, `notified` (once) may tell the report final instead (its
    REPORT_PROCESSING_FINISHED came while waiting): then it is not polled again.

    `clock` and `sleep` are a test's to replace: waiting out `report_wait_minutes` must
    not take a test real minutes.
    """
    started = clock()
    wait = POLL_FIRST_WAIT
    while True:
        report = poll()
        if report.get("processingStatus") in TERMINAL:
            return report
        if clock() - started + wait > max_wait:
            raise too_long(report)
        sleep(wait)
        news = notified()
        if news is not None:
            return news
        wait = min(POLL_MAX_WAIT, wait * 2)


class ReportRequests:
    """Reuse or create, for one report stream: Amazon's list, the book, the log lines.

    `call` is the stream's (`SPAPIStream.call`: its retries, pacing and errors); the
    run's marketplaces and clock come from the stream too, and `notified`: an account's
    REPORT_PROCESSING_FINISHED payloads of the run (none when the queue is off: then
    everything is as without notifications).
    """

    def __init__(
        self,
        report: ReportType,
        *,
        client: Callable[[Context], SPAPIClient],
        where: str,
        marketplaces: Callable[[str], list[str]],
        now: datetime.datetime,
        range_start: Callable[[Context], datetime.datetime],
        logger: logging.Logger,
        notified: Callable[[str], Iterable[Mapping[str, Any]]] = lambda _account: (),
    ) -> None:
        self.report = report
        self._notified = notified
        self.book = RequestBook()
        self._client = client
        self._where = where
        self._marketplaces = marketplaces
        self._now = now
        self._range_start = range_start
        self._logger = logger

    def ensure(self, partition: Context, windows: Iterable[QueryWindow | None]) -> None:
        """A report id for each of `windows`: reused if Amazon has one, else created."""
        self.book.ensure(
            partition[ACCOUNT_KEY],
            windows,
            find=lambda window: self._reusable(partition, window),
            create=lambda window: self._create(partition, window),
            reusing=self._say_reused,
        )

    def _say_reused(self, reused: dict[str, Any], window: QueryWindow | None) -> None:
        self._logger.debug(
            "Reusing report %s (%s, %s) for %s.",
            reused["reportId"],
            self.report.report_type,
            reused["processingStatus"],
            describe(window),
        )

    def _create(self, partition: Context, window: QueryWindow | None) -> str:
        body: dict[str, Any] = {
            "reportType": self.report.report_type,
            "marketplaceIds": self._marketplaces(partition[ACCOUNT_KEY]),
        }
        if window is not None:
            body["dataStartTime"] = isoformat(window.start)
            body["dataEndTime"] = isoformat(window.end)
        answer = self._client(partition).call("createReport", where=self._where, body=body)
        report_id = str(answer["reportId"])
        self._logger.debug(
            "Requested report %s (%s) for %s.",
            report_id,
            self.report.report_type,
            describe(window),
        )
        return report_id

    def finished(self, account: str, report_id: str) -> dict[str, Any] | None:
        """The report as its REPORT_PROCESSING_FINISHED notification tells it (DONE with
        its document, CANCELLED or FATAL): what polling would end with, so no getReport.
        None when it was not notified."""
        return self.notified(account).get(report_id)

    def notified(self, account: str, *, again: bool = False) -> dict[str, dict[str, Any]]:
        """`account`'s reports of this type notified finished this run (read `again`
        after the queue was read again while waiting)."""
        return self.book.notified(
            account,
            lambda: notified_reports(self._notified(account), self.report.report_type),
            again=again,
        )

    def _reusable(self, partition: Context, window: QueryWindow | None) -> dict[str, Any] | None:
        """An existing report that holds `window`'s data, the most finished first: one of
        Amazon's list (as notifications say it is now), else a notified DONE report the
        list lacks (one getReport tells its range: asked only when the list has none)."""
        account = partition[ACCOUNT_KEY]
        notified = self.notified(account)
        listed = self.book.existing(account, lambda: self._list(partition))
        marketplaces = self._marketplaces(account)
        found = reusable(
            with_notified(listed, notified), window, marketplaces=marketplaces, now=self._now
        )
        if found is not None:
            return found
        known = {str(report.get("reportId")) for report in listed}
        unlisted = [
            self._describe(partition, report_id)
            for report_id, news in notified.items()
            if news["processingStatus"] == "DONE" and report_id not in known
        ]
        return reusable(unlisted, window, marketplaces=marketplaces, now=self._now)

    def _describe(self, partition: Context, report_id: str) -> dict[str, Any]:
        return self.book.described(
            report_id,
            lambda: self._client(partition).call(
                "getReport", where=self._where, path_values={"reportId": report_id}
            ),
        )

    def _list(self, partition: Context) -> Iterator[dict[str, Any]]:
        """getReports of this type, not failed, created since the range began."""
        since = search_start(
            self._now,
            snapshot=self.report.snapshot,
            range_start=lambda: self._range_start(partition),
        )
        return list_reports(
            lambda params: list_pages(self._client(partition), self._where, params),
            report_type=self.report.report_type,
            marketplaces=self._marketplaces(partition[ACCOUNT_KEY]),
            since=since,
        )
