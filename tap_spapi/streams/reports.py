"""Reports API 2021-06-30 streams: one per report type in report_types.py.

A report is asynchronous at Amazon: ask for it (createReport, one per minute), wait
while Amazon builds it (getReport), then fetch a pre-signed link to its document
(getReportDocument) and download that. Per account and data window the stream:

1. reuses a report Amazon already has for the window (getReports, once per account):
   one of its own from an earlier, interrupted run, or a DONE report covering the
   window (Amazon's schedules make many) - createReport's plan is the scarce one;
2. otherwise creates one, up to `REPORTS_IN_FLIGHT` windows ahead of the one being
   read, so Amazon builds several while the tap waits for the first; and the first
   windows are requested when the run starts, while the other streams sync;
3. polls until DONE, CANCELLED (no data: an empty window) or FATAL (Amazon's error
   document, if any, goes into a clear error and the account's later windows wait
   for the next run);
4. streams the document into typed records and moves the window bookmark only after
   the last row, so a killed run repeats at most one window (and reuses its report).
"""

from __future__ import annotations

import datetime
import functools
import gzip
import threading
import time
import zlib
from functools import cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import requests
import urllib3

from tap_spapi import progress as progress_lines
from tap_spapi.account import amazon_error
from tap_spapi.client import SPAPIStream
from tap_spapi.concurrency import context_key, every
from tap_spapi.errors import TapSpapiError
from tap_spapi.keys import ACCOUNT_KEY, SELLER_KEY
from tap_spapi.pii import drop_pii
from tap_spapi.progress import Progress, about, describe_plan
from tap_spapi.redact import redact, register_secret
from tap_spapi.report_documents import TypedRows, text_of
from tap_spapi.report_types import REPORT_TYPES, ReportType
from tap_spapi.responses import RetriesExhaustedError, SPAPIRequestError
from tap_spapi.retries import FAULT_WAIT_CAP
from tap_spapi.windows import (
    WINDOW_BOOKMARK,
    QueryWindow,
    instant_or_none,
    isoformat,
    range_after_bookmark,
    split_windows,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

# Reports requested ahead of the one being read (createReport's burst is 15).
REPORTS_IN_FLIGHT = 4
# getReport polls: the first at once, then waits doubling from 1 s to a minute.
POLL_FIRST_WAIT, POLL_MAX_WAIT = 1.0, 60.0
# A snapshot report (no data range) created this recently is still current.
SNAPSHOT_REUSE = datetime.timedelta(minutes=15)
# Reports are kept 90 days ("Report Type Values"; changelog 2024-05-30, where a type
# states none); getReports looks no further back. This is about documents, not data.
RETENTION = datetime.timedelta(days=90)
# State key: the longest range (days) createReport accepted after refusing a longer one,
# for report types whose limit Amazon does not document.
LONGEST_ACCEPTED = "longest_accepted_range_days"
# Halving stops here: a refusal of a shorter range is not about its length.
SHORTEST_PROBE = DAY = datetime.timedelta(days=1)
PENDING = ("IN_QUEUE", "IN_PROGRESS")
TERMINAL = frozenset({"DONE", "CANCELLED", "FATAL"})
DOWNLOAD_FAULTS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    EOFError,
    zlib.error,
    gzip.BadGzipFile,
    OSError,
)


class ReportFailedError(TapSpapiError):
    """Amazon could not produce a report (FATAL), or it did not finish in time."""


class DocumentFaultError(TapSpapiError):
    """The document download answered with an error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ReportStream(SPAPIStream):
    """Rows of one report type, per account, window after window."""

    report: ClassVar[ReportType]
    # The operation that names the API in messages about missing roles.
    operation_id = "createReport"
    read_ahead = True  # see `start_reading`: the first reports are requested at once

    @property
    def partitions(self) -> list[dict[str, Any]]:
        """One partition (and bookmark) per account."""
        return self.account_partitions()

    # --- windows ----------------------------------------------------------------------

    def windows_of(self, partition: Context) -> list[QueryWindow | None]:
        """This run's windows of `partition` (None: a snapshot with no data range).

        Fixed once per run and account: the bookmark moves while the windows are read.
        """
        name = partition[ACCOUNT_KEY]
        with self._lock:
            if name not in self._windows:
                self._windows[name] = self._plan_windows(partition)
            return self._windows[name]

    def _asked_ahead_by_others(self, partition: Context) -> int:
        """Reports the other selected report streams request ahead (at the start of the
        run, see `start_reading`) and have not yet: they share createReport's plan."""
        if not self.prefetcher.workers:
            return 0
        others = [
            stream
            for stream in self._tap.streams.values()
            if isinstance(stream, ReportStream) and stream is not self and stream.selected
        ]
        return sum(other.unrequested_ahead(partition) for other in others)

    def unrequested_ahead(self, partition: Context) -> int:
        """How many of the reports this stream asks for ahead are not requested yet (none
        before its windows are planned: estimating must not ask Amazon for anything)."""
        with self._lock:
            planned = self._windows.get(partition[ACCOUNT_KEY])
            ahead = (planned or [])[:REPORTS_IN_FLIGHT]
            return sum(self._request_key(partition, w) not in self._requested for w in ahead)

    def _plan_windows(self, partition: Context) -> list[QueryWindow | None]:
        if self.report.snapshot:
            return [None]
        needed = range_after_bookmark(self, partition)
        if needed.length <= datetime.timedelta(0):
            return []
        self._warn_about_history(needed)
        longest = self._longest_range(partition, needed)
        return list(split_windows(needed.start, needed.end, longest))

    def _longest_range(self, partition: Context, needed: QueryWindow) -> datetime.timedelta:
        """The documented longest range, else the one Amazon accepted before (state),
        else found now: the whole range first, halved while Amazon refuses it.

        The accepted probe is this run's first report, so finding the limit costs one
        refused createReport per halving, once per account and report type.
        """
        if self.report.max_window_days is not None:
            return datetime.timedelta(days=self.report.max_window_days)
        remembered = self.get_context_state(partition).get(LONGEST_ACCEPTED)
        candidate = needed.length
        if remembered:
            candidate = min(candidate, datetime.timedelta(days=float(remembered)))
        while True:
            probe = QueryWindow(needed.start, needed.start + candidate)
            try:
                self.ensure_requested(partition, [probe])
                return candidate
            except SPAPIRequestError as exc:
                if not _refuses_range(exc) or candidate <= SHORTEST_PROBE:
                    raise
                self.logger.info(
                    "createReport refused %.1f days of %s (%s); asking for half that.",
                    candidate.total_seconds() / DAY.total_seconds(),
                    self.report.report_type,
                    _amazon_message(exc),
                )
                candidate /= 2
                self._found_longest[partition[ACCOUNT_KEY]] = candidate

    def _warn_about_history(self, needed: QueryWindow) -> None:
        """Say what the 90-day retention limits: reuse, not the history asked for."""
        now = self.run.run_started_at
        if needed.start >= now - RETENTION or self._warned_history:
            return
        self._warned_history = True
        self.logger.warning(
            "%s: asking for data from %s. Amazon keeps report documents %d days and "
            "documents no limit on how far back this type's data goes, so nothing older "
            "is capped; only the search for reports to reuse looks back %d days.",
            self.name,
            isoformat(needed.start),
            RETENTION.days,
            RETENTION.days,
        )

    _warned_history = False

    @cached_property
    def _found_longest(self) -> dict[str, datetime.timedelta]:
        """Per account: the longest range found this run (saved in its state)."""
        return {}

    @staticmethod
    def window_context(partition: Context, window: QueryWindow | None) -> dict[str, Any]:
        """The request context of one window (ISO strings: the SDK logs contexts)."""
        if window is None:
            return {ACCOUNT_KEY: partition[ACCOUNT_KEY]}
        start, end = isoformat(window.start), isoformat(window.end)
        return {ACCOUNT_KEY: partition[ACCOUNT_KEY], "window_start": start, "window_end": end}

    # --- the sync ---------------------------------------------------------------------

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Each window's rows, then that window's bookmark."""
        if context is None or self.abandoned(context):
            return  # no account in this run's shard, or one that already failed
        try:  # planning asks Amazon already (a probing createReport, the account's token)
            windows = self.windows_of(context)
        except TapSpapiError as exc:
            self.settle(exc, context)
            return
        found = self._found_longest.get(context[ACCOUNT_KEY])
        if found is not None:  # later runs split at once instead of probing again
            days = found.total_seconds() / DAY.total_seconds()
            self.save_bookmark(context, **{LONGEST_ACCEPTED: days})
        progress = self._say_cost(context, windows)
        threaded = bool(self.prefetcher.workers)
        with every(progress_lines.PROGRESS_INTERVAL, progress.report, threaded=threaded):
            for window in windows:
                # A failed report stops the stream for the account (SPAPIStream.contain).
                yield from super().get_records(self.window_context(context, window))
                if self.abandoned(context):
                    return  # the window was not read: its bookmark must not move
                if window is not None:
                    self.save_bookmark(context, **{WINDOW_BOOKMARK: window.end.isoformat()})
                progress.advance()

    def _say_cost(self, partition: Context, windows: list[QueryWindow | None]) -> Progress:
        """Log what the account's windows will ask of createReport's plan and how long
        that takes; the `Progress` that reports on the way."""
        limiter = self.account_for(partition).limiter

        def unrequested() -> int:
            return sum(self._request_key(partition, w) not in self._requested for w in windows)

        def seconds_left(_done: int) -> float:
            queued = unrequested() + self._asked_ahead_by_others(partition)
            return limiter.seconds_for("createReport", queued)

        waiting = unrequested()
        self.logger.info(
            "%s: %d reports for account '%s' (%d requested already, %d of other report "
            "streams ahead of them); %s: %s",
            self.name,
            len(windows),
            partition[ACCOUNT_KEY],
            len(windows) - waiting,
            self._asked_ahead_by_others(partition),
            describe_plan("createReport", limiter.plan("createReport")),
            about(seconds_left(0)),
        )
        return Progress(self.logger, f"{self.name} reports", len(windows), seconds_left)

    def start_reading(self) -> None:
        """Request the first reports of every account now, in the background.

        Amazon takes minutes to build a report; asked for at the start of the run,
        they are built while the streams before this one sync.
        """
        if not self.prefetcher.workers:
            return  # sequential mode: reports are requested when the stream syncs
        for partition in self.partitions:
            self.prefetcher.submit(
                context_key(f"{self.name}:requests", partition),
                functools.partial(self._request_in_background, partition),
                priority=-10,  # before any per-id fetch: Amazon needs minutes
            )

    def _request_in_background(self, partition: Context) -> list[dict[str, Any]]:
        try:
            self.ensure_requested(partition, self.windows_of(partition)[:REPORTS_IN_FLIGHT])
        except (TapSpapiError, requests.RequestException) as exc:
            # The stream meets the same problem again when it syncs, and reports it.
            self.logger.info("Requesting %s reports ahead failed: %s", self.name, redact(str(exc)))
        return []

    def request_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The rows of one window's report (the SDK's per-context request loop)."""
        assert context is not None
        partition = {ACCOUNT_KEY: context[ACCOUNT_KEY]}
        windows = self.windows_of(partition)
        window = self._window_in(context)
        position = windows.index(window) if window in windows else 0
        self.ensure_requested(
            partition, [window, *windows[position + 1 : position + REPORTS_IN_FLIGHT]]
        )
        report_id = self._requested[self._request_key(partition, window)]
        report = self._await(report_id, context)
        status = report["processingStatus"]
        if status == "CANCELLED":
            self.logger.info(
                "Report %s (%s) was cancelled by Amazon: no data for %s.",
                report_id,
                self.report.report_type,
                self._describe(window),
            )
            return
        if status == "FATAL":
            raise ReportFailedError(self._fatal_message(report, context))
        yield from self._rows_of(report, context)

    def _window_in(self, context: Context) -> QueryWindow | None:
        if "window_start" not in context:
            return None
        parse = datetime.datetime.fromisoformat
        return QueryWindow(parse(context["window_start"]), parse(context["window_end"]))

    # --- requesting: reuse or create ----------------------------------------------------

    @cached_property
    def _lock(self) -> threading.RLock:
        return threading.RLock()

    @cached_property
    def _windows(self) -> dict[str, list[QueryWindow | None]]:
        return {}

    @cached_property
    def _requested(self) -> dict[tuple[str, str, str], str]:
        """(account, window start, window end) -> report id, for this run."""
        return {}

    @cached_property
    def _existing(self) -> dict[str, list[dict[str, Any]]]:
        """Per account: the reports of this type Amazon still has (getReports)."""
        return {}

    @staticmethod
    def _request_key(partition: Context, window: QueryWindow | None) -> tuple[str, str, str]:
        if window is None:
            return partition[ACCOUNT_KEY], "", ""
        return partition[ACCOUNT_KEY], isoformat(window.start), isoformat(window.end)

    def ensure_requested(self, partition: Context, windows: list[QueryWindow | None]) -> None:
        """A report id for each of `windows`: reused if Amazon has one, else created."""
        with self._lock:
            for window in windows:
                key = self._request_key(partition, window)
                if key in self._requested:
                    continue
                reused = self._reusable(partition, window)
                if reused is not None:
                    self.logger.info(
                        "Reusing report %s (%s, %s) for %s.",
                        reused["reportId"],
                        self.report.report_type,
                        reused["processingStatus"],
                        self._describe(window),
                    )
                    self._requested[key] = reused["reportId"]
                else:
                    self._requested[key] = self._create(partition, window)

    def _marketplaces(self, partition: Context) -> list[str]:
        return list(self.run.marketplace_ids_of(partition[ACCOUNT_KEY]))

    def _create(self, partition: Context, window: QueryWindow | None) -> str:
        body: dict[str, Any] = {
            "reportType": self.report.report_type,
            "marketplaceIds": self._marketplaces(partition),
        }
        if window is not None:
            body["dataStartTime"] = isoformat(window.start)
            body["dataEndTime"] = isoformat(window.end)
        answer = self.call("createReport", partition, body=body)
        report_id = str(answer["reportId"])
        self.logger.info(
            "Requested report %s (%s) for %s.",
            report_id,
            self.report.report_type,
            self._describe(window),
        )
        return report_id

    def _reusable(self, partition: Context, window: QueryWindow | None) -> dict[str, Any] | None:
        """An existing report that holds `window`'s data, the most finished first."""
        marketplaces = sorted(self._marketplaces(partition))
        now = self.run.run_started_at
        fitting = []
        for report in self._existing_reports(partition):
            if sorted(report.get("marketplaceIds") or []) != marketplaces:
                continue
            if window is None:
                created = instant_or_none(report.get("createdTime"))
                if created is not None and created >= now - SNAPSHOT_REUSE:
                    fitting.append(report)
            elif _holds(report, window):
                fitting.append(report)
        fitting.sort(key=lambda r: (r["processingStatus"] != "DONE", r.get("createdTime") or ""))
        return fitting[0] if fitting else None

    def _existing_reports(self, partition: Context) -> list[dict[str, Any]]:
        name = partition[ACCOUNT_KEY]
        if name not in self._existing:
            self._existing[name] = list(self._list_reports(partition))
        return self._existing[name]

    def _list_reports(self, partition: Context) -> Iterator[dict[str, Any]]:
        """getReports of this type, not failed, created since the range began."""
        now = self.run.run_started_at
        if self.report.snapshot:
            since = now - SNAPSHOT_REUSE
        else:
            since = max(now - RETENTION, range_after_bookmark(self, partition).start)
        params: dict[str, Any] = {
            "reportTypes": self.report.report_type,
            "processingStatuses": ",".join(["DONE", *PENDING]),
            "marketplaceIds": ",".join(self._marketplaces(partition)),
            "pageSize": 100,
            "createdSince": isoformat(since),
        }
        seen: set[str] = set()
        while True:
            page = self.call("getReports", partition, params=params)
            yield from page.get("reports") or []
            token = page.get("nextToken")
            if not token or token in seen:
                return
            seen.add(token)
            params = {"nextToken": token}  # Amazon: the token must be the only parameter

    # --- waiting ------------------------------------------------------------------------

    @property
    def max_wait(self) -> float:
        """Setting `report_wait_minutes`, in seconds."""
        return 60.0 * float(self.config.get("report_wait_minutes") or 120)

    def _await(self, report_id: str, context: Context) -> dict[str, Any]:
        """getReport until the report is DONE, CANCELLED or FATAL."""
        started = time.monotonic()
        wait = POLL_FIRST_WAIT
        while True:
            report: dict[str, Any] = self.call(
                "getReport", context, path_values={"reportId": report_id}
            )
            if report.get("processingStatus") in TERMINAL:
                return report
            if time.monotonic() - started + wait > self.max_wait:
                raise ReportFailedError(
                    f"stream '{self.name}' (getReport): report {report_id} is still "
                    f"{report.get('processingStatus')} after {self.max_wait / 60:.0f} minutes "
                    "(setting `report_wait_minutes`); the next run reuses it if Amazon finishes it"
                )
            time.sleep(wait)
            wait = min(POLL_MAX_WAIT, wait * 2)

    # --- the document -------------------------------------------------------------------

    def _document(self, document_id: str, context: Context) -> dict[str, Any]:
        document: dict[str, Any] = self.call(
            "getReportDocument",
            context,
            path_values={"reportDocumentId": document_id},
            restricted=self.report.restricted,
        )
        # The link grants access to the document: keep it, and its signature (which is
        # what urllib3's debug log would show, without the host), out of every log.
        url = str(document.get("url") or "")
        register_secret(url)
        register_secret(urlsplit(url).query)
        return document

    def _rows_of(self, report: dict[str, Any], context: Context) -> Iterator[dict[str, Any]]:
        """The report's rows as records, read again after a broken download.

        The document does not change, so a retry skips the rows already emitted.
        """
        document_id = str(report["reportDocumentId"])
        document = self._document(document_id, context)
        account = self.account_for(context)
        stamp = {
            ACCOUNT_KEY: account.name,
            SELLER_KEY: account.settings.selling_partner_id,
            "report_id": report["reportId"],
        }
        emitted = faults = 0
        link_expired = False
        while True:
            if link_expired:
                # A fresh link after the wait, not before it: the wait may outlast a
                # link's lifetime (5 minutes at Amazon).
                document = self._document(document_id, context)
                link_expired = False
            try:
                for index, row in enumerate(self._download(document, report)):
                    if index >= emitted:
                        row.update(stamp)
                        self._check_required_fields(row)
                        emitted += 1
                        yield row
                return
            except DocumentFaultError as exc:
                link_expired = exc.status in {HTTPStatus.FORBIDDEN, HTTPStatus.BAD_REQUEST}
                faults = self._after_download_fault(exc, faults)
            except DOWNLOAD_FAULTS as exc:
                faults = self._after_download_fault(exc, faults)

    def _after_download_fault(self, exc: Exception, faults: int) -> int:
        faults += 1
        if faults >= self.backoff_max_tries():
            raise RetriesExhaustedError(
                f"stream '{self.name}' (report document download): "
                f"{redact(str(exc) or type(exc).__name__)} (gave up retrying)"
            ) from exc
        wait = min(FAULT_WAIT_CAP, 2.0 ** (faults - 1))
        self.logger.warning(
            "Report document download broke off (%s); reading it again in %.0f s.",
            redact(str(exc) or type(exc).__name__),
            wait,
        )
        time.sleep(wait)
        return faults

    def _download(
        self, document: dict[str, Any], report: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        """Rows of the document at its pre-signed URL (no SP-API auth: not an SP-API call)."""
        where = f"stream '{self.name}' (report {report['reportId']})"
        response = self.requests_session.get(document["url"], stream=True, timeout=self.timeout)
        with response:
            if response.status_code != HTTPStatus.OK:
                raise DocumentFaultError(
                    f"{where}: the document download answered HTTP {response.status_code}: "
                    f"{response.text[:200]!r}",
                    response.status_code,
                )
            gzipped = document.get("compressionAlgorithm") == "GZIP"
            with text_of(response, gzipped=gzipped) as text:
                yield from TypedRows(self.report, where, self._add_columns).rows(text)

    def _fatal_message(self, report: dict[str, Any], context: Context) -> str:
        """Amazon's reason for a FATAL report: its error document, when there is one."""
        window = self._describe(self._window_in(context))
        message = (
            f"stream '{self.name}' (getReport): Amazon could not build report "
            f"{report['reportId']} ({self.report.report_type}, {window}): FATAL"
        )
        document_id = report.get("reportDocumentId")
        if not document_id:
            return message
        document = self._document(str(document_id), context)
        response = self.requests_session.get(document["url"], timeout=self.timeout)
        body = response.content
        if document.get("compressionAlgorithm") == "GZIP":
            body = gzip.decompress(body)
        detail = body.decode("utf-8", errors="replace").strip()
        return f"{message}; Amazon's error document says: {detail[:500]}"

    # --- records ------------------------------------------------------------------------

    def _once_per_key(self, records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Rows as they are: a document is one file, not pages that can overlap, and a
        set of every key seen would grow with the report (40 MB for 200,000 rows)."""
        return iter(records)

    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        """Drop buyer PII unless `include_pii`."""
        return drop_pii(row, self.pii_fields, keep=bool(self.config.get("include_pii")))

    def _add_columns(self, columns: list[str]) -> None:
        """Columns the report type does not list: loaded as strings, and said once."""
        new = [c for c in columns if c not in self.schema["properties"]]
        if not new:
            return
        self.logger.warning(
            "%s report has column(s) the tap does not know: %s; loaded as strings.",
            self.report.report_type,
            ", ".join(new),
        )
        extra = {column: {"type": ["string", "null"]} for column in new}
        self.schema["properties"].update(extra)
        for stream_map in self.stream_maps:
            properties = stream_map.transformed_schema.get("properties")
            if isinstance(properties, dict):
                properties.update(extra)
        self._write_schema_message()

    def _describe(self, window: QueryWindow | None) -> str:
        if window is None:
            return "the present (no data range)"
        return f"{isoformat(window.start)}..{isoformat(window.end)}"


def _refuses_range(exc: SPAPIRequestError) -> bool:
    """A 400 whose message is about the data range (too long), not another mistake."""
    if exc.status != HTTPStatus.BAD_REQUEST:
        return False
    text = _amazon_message(exc).lower()
    return "range" in text or "datastarttime" in text or "dataendtime" in text


def _amazon_message(exc: SPAPIRequestError) -> str:
    error = amazon_error(exc.response)
    return f"{error.code}: {error.message}"


def _holds(report: dict[str, Any], window: QueryWindow) -> bool:
    """Whether `report` holds all of `window`'s data: the very same range (one of ours,
    maybe still building), or a finished report covering it that was created after
    the window ended (so it saw all of the window's data)."""
    start = instant_or_none(report.get("dataStartTime"))
    end = instant_or_none(report.get("dataEndTime"))
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


def _stream_class(report: ReportType) -> type[ReportStream]:
    """The stream of one report type: name, keys and PII from its entry."""
    words = report.stream_name.title().replace("_", "")
    return type(
        f"{words}Stream",
        (ReportStream,),
        {
            "__doc__": report.description,
            "name": report.stream_name,
            "report": report,
            "primary_keys": [ACCOUNT_KEY, *report.keys],
            "pii_fields": report.pii,
            "required_role": report.role,
            "__module__": __name__,
        },
    )


REPORT_STREAM_TYPES: list[type[ReportStream]] = [_stream_class(r) for r in REPORT_TYPES]
