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

With the notifications queue on (`self.run.inbox`), the run's REPORT_PROCESSING_FINISHED
notifications spare requests: a notified report is not polled in step 3, and a notified
DONE report Amazon's list lacks can be reused in step 1 (requesting.py). A report
notified while the stream waits for it (the queue is read again between two polls, for
REPORT_PROCESSING_FINISHED only) is not polled again (waiting.py).

The stream's collaborators, one module each: requesting.py (steps 1 and 2), waiting.py
(step 3), documents.py (step 4, and a FATAL report's error document), windows.py.
"""

from __future__ import annotations

import datetime
import functools
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

import requests
from typing_extensions import override

from tap_spapi.amazon.report_types import REPORT_TYPES, ReportType
from tap_spapi.errors import TapSpapiError
from tap_spapi.keys import ACCOUNT_KEY, SELLER_KEY
from tap_spapi.runtime import progress as progress_lines
from tap_spapi.runtime.pools import context_key, every
from tap_spapi.runtime.state import LONGEST_ACCEPTED, WINDOW_BOOKMARK
from tap_spapi.streams.base.fetch_ahead import AheadOfSync
from tap_spapi.streams.base.stream import SPAPIStream
from tap_spapi.streams.base.windows import (
    QueryWindow,
    range_after_bookmark,
    split_windows,
)
from tap_spapi.streams.reports.documents import ReportDocuments
from tap_spapi.streams.reports.requesting import ReportRequests, RequestBook
from tap_spapi.streams.reports.waiting import ReportFailedError, ReportWaits, finished_payloads
from tap_spapi.streams.reports.windows import (
    DAY,
    RETENTION,
    amazon_message,
    beyond_retention,
    describe,
    longest_range,
    window_context,
    window_in,
)
from tap_spapi.wire.redact import redact

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

    from tap_spapi.runtime.progress import Progress
    from tap_spapi.wire.responses import SPAPIRequestError

# Reports requested ahead of the one being read (createReport's burst is 15).
REPORTS_IN_FLIGHT = 4


def pause_between_polls(seconds: float) -> None:
    """The wait between two getReport polls (a test's to replace: it waits for the
    stand-in instead of the clock)."""
    time.sleep(seconds)


class ReportStream(SPAPIStream):
    """Rows of one report type, per account, window after window."""

    report: ClassVar[ReportType]
    # The operation that names the API in messages about missing roles.
    operation_id = "createReport"
    read_ahead = True  # see `_request_ahead`: the first reports are requested at once
    # Rows as they are: a document is one file, not pages that can overlap, and a set of
    # every key seen would grow with the report (40 MB for 200,000 rows).
    pages_may_repeat = False

    @property
    @override
    def partitions(self) -> list[dict[str, Any]]:
        """One partition (and bookmark) per account."""
        return [{ACCOUNT_KEY: name} for name in self.run.accounts]

    # --- windows ----------------------------------------------------------------------

    def windows_of(self, partition: Context) -> list[QueryWindow | None]:
        """This run's windows of `partition` (None: a snapshot with no data range).

        Fixed once per run and account: the bookmark moves while the windows are read.
        """
        return self._book.windows_of(partition[ACCOUNT_KEY], lambda: self._plan_windows(partition))

    def unrequested_ahead(self, partition: Context) -> int:
        """How many of the reports this stream asks for ahead are not requested yet (none
        before its windows are planned: estimating must not ask Amazon for anything)."""
        account = partition[ACCOUNT_KEY]
        return self._book.unrequested(account, self._book.planned(account)[:REPORTS_IN_FLIGHT])

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
        """The documented longest range, else the one Amazon accepts (windows.py)."""
        if self.report.max_window_days is not None:
            return datetime.timedelta(days=self.report.max_window_days)

        def refused(length: datetime.timedelta, exc: SPAPIRequestError) -> None:
            self.logger.info(
                "createReport refused %.1f days of %s (%s); asking for half that.",
                length.total_seconds() / DAY.total_seconds(),
                self.report.report_type,
                amazon_message(exc),
            )
            self._found_longest[partition[ACCOUNT_KEY]] = length / 2

        return longest_range(
            needed,
            remembered_days=self.get_context_state(partition).get(LONGEST_ACCEPTED),
            request=lambda probe: self.ensure_requested(partition, [probe]),
            refused=refused,
        )

    def _warn_about_history(self, needed: QueryWindow) -> None:
        """Say what the 90-day retention limits: reuse, not the history asked for."""
        now = self.run.run_started_at
        if needed.start >= now - RETENTION or not self.run.first_time("beyond retention"):
            return
        # A note, not a warning (nothing to act on), once for every report stream.
        self.logger.info(beyond_retention("report streams", needed.start))

    @cached_property
    def _found_longest(self) -> dict[str, datetime.timedelta]:
        """Per account: the longest range found this run (saved in its state)."""
        return {}

    # --- the sync ---------------------------------------------------------------------

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Each window's rows, then that window's bookmark."""
        if context is None or self.abandoned(context):
            return  # no account in this run's shard, or one that already failed
        try:  # planning asks Amazon already (a probing createReport, the account's token)
            windows = self.windows_of(context)
        except TapSpapiError as exc:
            self.contained.settle(exc, context)
            return
        found = self._found_longest.get(context[ACCOUNT_KEY])
        if found is not None:  # later runs split at once instead of probing again
            days = found.total_seconds() / DAY.total_seconds()
            self.bookmarks.save(context, **{LONGEST_ACCEPTED: days})
        progress = self._say_cost(context, windows)
        threaded = bool(self.run.prefetcher.workers)
        with every(progress_lines.PROGRESS_INTERVAL, progress.report, threaded=threaded):
            for window in windows:
                # A failed report stops the stream for the account (SPAPIStream.contain).
                yield from super().get_records(window_context(context[ACCOUNT_KEY], window))
                if self.abandoned(context):
                    return  # the window was not read: its bookmark must not move
                if window is not None:
                    self.bookmarks.save(context, **{WINDOW_BOOKMARK: window.end.isoformat()})
                progress.advance()

    def _say_cost(self, partition: Context, windows: list[QueryWindow | None]) -> Progress:
        account = partition[ACCOUNT_KEY]
        return progress_lines.report_cost(
            self.logger,
            self.name,
            account,
            len(windows),
            limiter=self.account_for(partition).limiter,
            unrequested=lambda: self._book.unrequested(account, windows),
            ahead_of_them=lambda: asked_ahead_by_others(self, partition),
        )

    @cached_property
    @override
    def ahead(self) -> AheadOfSync:
        """Read ahead: the first reports requested at the start (`_request_ahead`)."""
        return AheadOfSync(self, prefetch=self.prefetch, start=self._request_ahead)

    def _request_ahead(self) -> None:
        """Request the first reports of every account now, in the background.

        Amazon takes minutes to build a report; asked for at the start of the run,
        they are built while the streams before this one sync.
        """
        if not self.run.prefetcher.workers:
            return  # sequential mode: reports are requested when the stream syncs
        for partition in self.partitions:
            self.run.prefetcher.submit(
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

    @override
    def request_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The rows of one window's report (the SDK's per-context request loop)."""
        assert context is not None
        partition = {ACCOUNT_KEY: context[ACCOUNT_KEY]}
        windows = self.windows_of(partition)
        window = window_in(context)
        position = windows.index(window) if window in windows else 0
        self.ensure_requested(
            partition, [window, *windows[position + 1 : position + REPORTS_IN_FLIGHT]]
        )
        report_id = self._book.report_id(partition[ACCOUNT_KEY], window)
        report = self._waits.final(report_id, context)
        status = report["processingStatus"]
        if status == "CANCELLED":
            self.logger.info(
                "Report %s (%s) was cancelled by Amazon: no data for %s.",
                report_id,
                self.report.report_type,
                describe(window),
            )
            return
        if status == "FATAL":
            raise ReportFailedError(self._documents.fatal_message(report, window, context))
        yield from self._rows_of(report, context)

    # --- requesting: reuse or create ----------------------------------------------------

    @cached_property
    def _requests(self) -> ReportRequests:
        return ReportRequests(
            self.report,
            client=self.client,
            where=self.name,
            marketplaces=self._marketplaces,
            now=self.run.run_started_at,
            range_start=lambda partition: range_after_bookmark(self, partition).start,
            logger=self.logger,
            notified=lambda account: finished_payloads(self.run.inbox, account),
        )

    @property
    def _book(self) -> RequestBook:
        return self._requests.book

    def ensure_requested(self, partition: Context, windows: list[QueryWindow | None]) -> None:
        """A report id for each of `windows`: reused if Amazon has one, else created."""
        self._requests.ensure(partition, windows)

    def _marketplaces(self, account: str) -> list[str]:
        return list(self.run.marketplace_ids_of(account))

    # --- waiting (waiting.py) and the document (documents.py) ---------------------------

    @cached_property
    def _waits(self) -> ReportWaits:
        return ReportWaits(
            self._requests,
            client=self.client,
            where=self.name,
            max_wait=60.0 * self.run.settings.report_wait_minutes,
            inbox=lambda: self.run.inbox,
            sleep=pause_between_polls,  # read when the first report is awaited (a test's)
            logger=self.logger,
        )

    @cached_property
    def _documents(self) -> ReportDocuments:
        return ReportDocuments(
            self.report,
            where=self.name,
            client=self.client,
            session=lambda: self.requests_session,  # the calling thread's
            timeout=self.timeout,
            policy=self.retries.policy,
            unknown_columns=self._add_columns,
            check=self.records.check,
            logger=self.logger,
        )

    def _rows_of(self, report: dict[str, Any], context: Context) -> Iterator[dict[str, Any]]:
        """The report's rows as records (read again after a broken download)."""
        account = self.account_for(context)
        stamp = {ACCOUNT_KEY: account.name, SELLER_KEY: account.settings.selling_partner_id}
        return self._documents.rows(report, context, stamp)

    # --- records ------------------------------------------------------------------------

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


def asked_ahead_by_others(stream: ReportStream, partition: Context) -> int:
    """Reports the other selected report streams request ahead (at the start of the run,
    see `ReportStream._request_ahead`) and have not yet: they share createReport's plan."""
    if not stream.run.prefetcher.workers:
        return 0
    others = [
        other
        for other in stream._tap.streams.values()
        if isinstance(other, ReportStream) and other is not stream and other.selected
    ]
    return sum(other.unrequested_ahead(partition) for other in others)


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
