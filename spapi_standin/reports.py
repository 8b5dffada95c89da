"""Reports API 2021-06-30: asynchronous reports and their gzipped TSV documents.

A created report is IN_QUEUE, then IN_PROGRESS, then DONE once
`report_processing_seconds` have passed (or CANCELLED / FATAL when a test scripts it,
and CANCELLED when its range holds no rows, as live Amazon does: live.py). A DONE
report's document is a gzipped tab-separated file served at a separate, unauthenticated
URL (Amazon's pre-signed S3 link, refused once older than the live link lifetime);
FATAL reports may carry an error document. Rows are derived from the row index and the
seed, never stored, so a test can ask for a report of any size (tens of megabytes)
without the stand-in holding it.

The columns, flags and limits come from the stand-in's own `report_fixtures.py`
(transcribed from Amazon's pages: the models do not describe report documents); a test
can add columns the tap does not know.

A report that reaches its final status (DONE, CANCELLED or FATAL) is announced once to
the `listener` (the stand-in's REPORT_PROCESSING_FINISHED notification, notifications.py):
at once when it is final on creation (`report_processing_seconds` 0, or planted), else
when its processing time is up or a client first sees it final, whichever comes first;
so a client that reads DONE finds the notification already in its queue.
"""

from __future__ import annotations

import bisect
import gzip
import io
import itertools
import json
import random
import sys
import threading
import time
import traceback
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from spapi_standin.auth_check import RESTRICTED, check_access
from spapi_standin.instances import PII_PREFIX, parse_instant
from spapi_standin.live import expired_link, uncompressed_document
from spapi_standin.page_tokens import decode_token, encode_token
from spapi_standin.replies import Action, Reply, error, invalid_input, json_reply
from spapi_standin.report_fixtures import BY_TYPE, ReportFixture

if TYPE_CHECKING:
    from collections.abc import Iterator

    from spapi_standin.config import StandInConfig
    from spapi_standin.lwa import TokenRegistry
    from spapi_standin.request import Request

DOCUMENT_PREFIX = "/_documents/"
OUTCOMES = frozenset({"DONE", "CANCELLED", "FATAL", "FATAL_WITHOUT_DOCUMENT"})
STATUSES = frozenset({"CANCELLED", "DONE", "FATAL", "IN_PROGRESS", "IN_QUEUE"})
MAX_PAGE_SIZE = 100
RETENTION = timedelta(days=90)
TOKEN_ONLY = "nextToken must be the only parameter when it is given."
FINAL = frozenset({"DONE", "CANCELLED", "FATAL"})


class ReportListener(Protocol):
    """Who hears of reports reaching their final status."""

    def listening(self, account: str) -> bool:
        """Whether the account's finished reports are of interest (a subscription)."""

    def finished(self, report: Report) -> None:
        """`report` has reached its final status (called once per report)."""


@dataclass
class Report:
    """One report the stand-in holds (created by a client or planted by a test)."""

    report_id: str
    account: str
    report_type: str
    marketplace_ids: list[str]
    start: datetime | None
    end: datetime | None
    created: datetime
    ready_at: float  # time.monotonic() when processing ends
    outcome: str = "DONE"
    document_id: str | None = None
    created_at_mono: float = 0.0
    announced: bool = False  # told to the listener (final)

    def status(self) -> str:
        """The processing status now: queued for the first half of the delay."""
        left = self.ready_at - time.monotonic()
        if left > 0:
            halfway = (self.ready_at - self.created_at_mono) / 2
            return "IN_QUEUE" if left > halfway else "IN_PROGRESS"
        return "FATAL" if self.outcome.startswith("FATAL") else self.outcome

    def describe(self) -> dict[str, Any]:
        """The model's `Report`."""
        status = self.status()
        body: dict[str, Any] = {
            "reportId": self.report_id,
            "reportType": self.report_type,
            "marketplaceIds": self.marketplace_ids,
            "createdTime": _iso(self.created),
            "processingStatus": status,
        }
        if self.start is not None and self.end is not None:
            body["dataStartTime"] = _iso(self.start)
            body["dataEndTime"] = _iso(self.end)
        if status != "IN_QUEUE":
            body["processingStartTime"] = _iso(self.created)
        if status in {"DONE", "FATAL", "CANCELLED"}:
            body["processingEndTime"] = _iso(self.created)
        if status in {"DONE", "FATAL"} and self.document_id:
            body["reportDocumentId"] = self.document_id
        return body


@dataclass
class Document:
    """A stored document: gzipped bytes and how to serve them."""

    body: bytes
    charset: str
    #: Stored and served uncompressed, announced without `compressionAlgorithm` (live.py).
    plain: bool = False


@dataclass
class ReportsService:
    """The Reports operations and the document downloads of one stand-in."""

    config: StandInConfig
    registry: TokenRegistry
    now: datetime
    reports: dict[str, Report] = field(default_factory=dict)
    documents: dict[str, Document] = field(default_factory=dict)
    extra_columns: list[str] = field(default_factory=list)
    #: Columns left out of every document (a test of a document without its key column).
    dropped_columns: set[str] = field(default_factory=set)
    row_counts: dict[str, int] = field(default_factory=dict)
    pii_sentinels: set[str] = field(default_factory=set)
    signatures: list[str] = field(default_factory=list)  # of every link handed out
    _link_issued: dict[str, float] = field(default_factory=dict)  # signature -> monotonic
    # Links asked for with enableContentEncodingUrlHeader=true (model, 2026-04-01): their
    # gzipped document is served with `Content-Encoding: gzip` instead of `identity`.
    encoded_links: set[str] = field(default_factory=set)
    _scripted: defaultdict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(50001))
    listener: ReportListener | None = None
    _timers: dict[str, threading.Timer] = field(default_factory=dict)  # by report id

    # -- the data -----------------------------------------------------------------------------

    def rows_of(self, report_type: ReportFixture) -> int:
        """How many rows the data set holds for `report_type`."""
        default = self.config.scaled(self.config.report_rows)
        return self.row_counts.get(report_type.report_type, default)

    def row_time(self, report_type: ReportFixture, index: int) -> datetime:
        """When row `index` happened: spread evenly over the history, newest last."""
        count = self.rows_of(report_type)
        span = timedelta(days=self.config.history_days)
        return self.now - span + span * ((index + 0.5) / count)

    def row(self, report_type: ReportFixture, index: int) -> list[str]:
        """Row `index` of `report_type`, the same every time it is asked for."""
        rng = random.Random(f"{self.config.seed}:{report_type.report_type}:{index}")
        identity = set(report_type.identity)
        values = []
        for column, kind in report_type.columns.items():
            if column in self.dropped_columns:
                continue
            if column == report_type.date_column:
                values.append(self.row_time(report_type, index).isoformat(timespec="seconds"))
            elif column in identity:
                values.append(f"{column[:3].upper()}-{index:07d}")
            elif column in report_type.pii:
                value = f"{PII_PREFIX}{column}-{index:05d}"
                if index < 50:  # enough to prove where PII goes, without a huge set
                    self.pii_sentinels.add(value)
                values.append(value)
            else:
                values.append(_value(kind, rng, self.row_time(report_type, index)))
        values.extend(f"extra-{index}" for _ in self.extra_columns)
        return values

    def header(self, report_type: ReportFixture) -> list[str]:
        """The document's header: Amazon's column names, then any extra test columns."""
        kept = [column for column in report_type.columns if column not in self.dropped_columns]
        return [*kept, *self.extra_columns]

    def document_rows(self, report: Report) -> Iterator[list[str]]:
        """Rows of `report` (its data range, or all of them for a snapshot)."""
        kind = BY_TYPE[report.report_type]
        start, end = (None, None) if kind.snapshot else (report.start, report.end)
        for index in range(self.rows_of(kind)):
            moment = self.row_time(kind, index)
            if start is None or end is None or start <= moment < end:
                yield self.row(kind, index)

    def keys_of(
        self, report_type: str, start: datetime | None = None, end: datetime | None = None
    ) -> set[tuple[str, ...]]:
        """The identity columns' values of the rows a report of that range holds."""
        kind = BY_TYPE[report_type]
        names = list(kind.columns)
        positions = [names.index(column) for column in kind.identity]
        probe = Report("", "", report_type, [], start, end, self.now, 0.0)
        return {tuple(row[p] for p in positions) for row in self.document_rows(probe)}

    # -- test controls ------------------------------------------------------------------------

    def script(self, report_type: str, outcome: str, times: int = 1) -> None:
        """The next `times` reports of `report_type` end with `outcome` instead of DONE."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}")
        with self._lock:
            self._scripted[report_type].extend([outcome] * times)

    def plant(
        self,
        account: str,
        report_type: str,
        marketplace_ids: list[str],
        start: datetime | None,
        end: datetime | None,
        *,
        created: datetime | None = None,
    ) -> str:
        """A DONE report as if Amazon's own schedule had made it (announced at once); its id."""
        return self._add(account, report_type, marketplace_ids, start, end, created, delay=0.0)

    # -- operations ---------------------------------------------------------------------------

    def create_report(self, request: Request) -> Reply:
        """createReport: 202 with the new report's id."""
        assert request.token is not None
        try:
            spec = json.loads(request.body or b"null")
        except ValueError:
            return invalid_input("The request body is not valid JSON.")
        if not isinstance(spec, dict):
            return invalid_input("The request body must be a CreateReportSpecification.")
        report_type = spec.get("reportType")
        if report_type not in BY_TYPE:
            return invalid_input(f"Invalid reportType: {report_type}")
        marketplaces = spec.get("marketplaceIds")
        if not isinstance(marketplaces, list) or not marketplaces or len(marketplaces) > 25:
            return invalid_input("marketplaceIds must list 1 to 25 marketplaces.")
        start, end = (
            parse_instant(spec.get("dataStartTime")),
            parse_instant(spec.get("dataEndTime")),
        )
        problem = self._range_problem(BY_TYPE[report_type], spec, start, end)
        if problem:
            return invalid_input(problem)
        report_id = self._add(
            request.token.account, report_type, marketplaces, start, end, None,
            delay=self.config.report_processing_seconds,
        )  # fmt: skip
        return json_reply({"reportId": report_id}, status=202)

    def get_reports(self, request: Request) -> Reply:
        """getReports: the account's reports, newest first, filtered and paged."""
        assert request.token is not None
        token = request.first("nextToken")
        if token is not None:
            if set(request.query) - {"nextToken"}:
                return invalid_input(TOKEN_ONLY)
            state = decode_token(token)
            if state is None:
                return invalid_input("Invalid nextToken.")
        else:
            state, problem = self._filters(request)
            if problem:
                return invalid_input(problem)
        with self._lock:
            found = [
                r for r in self.reports.values()
                if r.account == request.token.account and _matches(r, state)
            ]  # fmt: skip
        found.sort(key=lambda r: r.created, reverse=True)
        offset, size = state["o"], state["size"]
        page = found[offset : offset + size]
        for report in page:
            self._announce(report)
        body: dict[str, Any] = {"reports": [r.describe() for r in page]}
        if offset + size < len(found):
            body["nextToken"] = encode_token({**state, "o": offset + size})
        return json_reply(body)

    def get_report(self, request: Request) -> Reply:
        """getReport: one report of the account."""
        report = self._own(request, request.params["reportId"])
        if report is None:
            return error(404, "NotFound", "Report not found.")
        self._announce(report)
        return json_reply(report.describe())

    def get_report_document(self, request: Request) -> Reply:
        """getReportDocument: the document's pre-signed link (an RDT for restricted types)."""
        document_id = request.params["reportDocumentId"]
        with self._lock:
            owner = next((r for r in self.reports.values() if r.document_id == document_id), None)
        if owner is None or request.token is None or owner.account != request.token.account:
            return invalid_input("Invalid or unsupported document ID found")
        if BY_TYPE[owner.report_type].restricted and request.token.kind != "rdt":
            access = check_access(
                self.registry,
                RESTRICTED,
                request.method,
                request.path,
                request.headers.get("x-amz-access-token"),
            )
            if isinstance(access, Reply):
                return access
        self._build_document(owner)
        host = request.headers.get("host", "127.0.0.1")
        signature = uuid.uuid4().hex  # what makes Amazon's links secret
        url = f"http://{host}{DOCUMENT_PREFIX}{document_id}?X-Amz-Signature={signature}"
        with self._lock:
            self.signatures.append(signature)
            self._link_issued[signature] = time.monotonic()
        answer = {"reportDocumentId": document_id, "url": url}
        if not self.documents[document_id].plain:
            answer["compressionAlgorithm"] = "GZIP"
            if request.first("enableContentEncodingUrlHeader") == "true":
                with self._lock:
                    self.encoded_links.add(signature)
        return json_reply(answer)

    def download(self, document_id: str, signature: str | None) -> Reply:
        """The document bytes (no SP-API auth: the link itself is the credential)."""
        with self._lock:
            document = self.documents.get(document_id)
            issued = self._link_issued.get(signature or "")
            encoded = signature in self.encoded_links
        if document is None:
            return Reply(404, b"<Error><Code>NoSuchKey</Code></Error>")
        lifetime = self.config.live.document_link_seconds
        if issued is None or (lifetime and time.monotonic() - issued > lifetime):
            return expired_link()
        headers = (
            ("Content-Type", f"text/plain;charset={document.charset}"),
            ("Content-Encoding", "gzip" if encoded else "identity"),
        )
        action: Action = "trickle" if self.config.document_bytes_per_second else "send"
        return Reply(200, document.body, headers, action)

    # -- internals ----------------------------------------------------------------------------

    def _add(
        self,
        account: str,
        report_type: str,
        marketplace_ids: list[str],
        start: datetime | None,
        end: datetime | None,
        created: datetime | None,
        *,
        delay: float,
    ) -> str:
        with self._lock:
            scripted = self._scripted[report_type]
            outcome = scripted.popleft() if scripted else "DONE"
            if outcome == "DONE" and self.config.live.empty_reports_cancelled:
                outcome = "DONE" if self._holds_rows(report_type, start, end) else "CANCELLED"
            report_id = str(next(self._ids))
            mono = time.monotonic()
            report = Report(
                report_id, account, report_type, list(marketplace_ids), start, end,
                created or datetime.now(UTC), mono + delay, outcome,
                f"amzn1.spdoc.1.4.na.{uuid.uuid4()}" if outcome in {"DONE", "FATAL"} else None,
                mono,
            )  # fmt: skip
            self.reports[report_id] = report
        self._when_final(report)
        return report_id

    def stop(self) -> None:
        """Cancel the announcements still waiting for reports to finish (server stop)."""
        with self._lock:
            timers, self._timers = self._timers, {}
        for timer in timers.values():
            timer.cancel()

    def _when_final(self, report: Report) -> None:
        """Announce `report` now if it is final, else when its processing time is up."""
        if self.listener is None:
            return
        left = report.ready_at - time.monotonic()
        if not self.listener.listening(report.account):
            if left <= 0:  # finished with nobody subscribed: never announced later
                with self._lock:
                    report.announced = True
            return
        if left <= 0:
            self._announce(report)
            return
        timer = threading.Timer(left, self._on_time, (report,))
        timer.daemon = True
        with self._lock:
            self._timers[report.report_id] = timer
        timer.start()

    def _on_time(self, report: Report) -> None:
        with self._lock:
            self._timers.pop(report.report_id, None)
        try:
            if report.status() in FINAL:
                self._announce(report)
            else:  # woken a hair early
                self._when_final(report)
        except Exception:  # a timer thread: print like a handler's error, never raise
            traceback.print_exc(file=sys.stderr)

    def _announce(self, report: Report) -> None:
        """Tell the listener once that `report` is final (no-op before then)."""
        if self.listener is None:
            return
        with self._lock:
            if report.announced or report.status() not in FINAL:
                return
            report.announced = True
        self.listener.finished(report)

    def _holds_rows(self, report_type: str, start: datetime | None, end: datetime | None) -> bool:
        """Whether a report of that range has any row (rows are ordered by time)."""
        kind = BY_TYPE[report_type]
        count = self.rows_of(kind)
        if kind.snapshot or start is None or end is None:
            return count > 0
        first = bisect.bisect_left(range(count), start, key=lambda i: self.row_time(kind, i))
        return first < count and self.row_time(kind, first) < end

    def _build_document(self, report: Report) -> None:
        """Write `report`'s gzipped document once (rows streamed into the compressor)."""
        assert report.document_id is not None
        with self._lock:
            if report.document_id in self.documents:
                return
            charset = self.config.report_charset
            buffer = io.BytesIO()
            with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1) as gz:
                if report.outcome == "FATAL":
                    message = {"errorDetails": "The report could not be generated (scripted)."}
                    gz.write(json.dumps(message).encode())
                else:
                    kind = BY_TYPE[report.report_type]
                    lines = itertools.chain([self.header(kind)], self.document_rows(report))
                    for line in lines:
                        gz.write(("\t".join(line) + "\r\n").encode(charset, errors="replace"))
            plain = report.outcome != "FATAL" and uncompressed_document(
                self.config.seed, report.report_id, self.config.live
            )
            body = gzip.decompress(buffer.getvalue()) if plain else buffer.getvalue()
            self.documents[report.document_id] = Document(body, charset, plain)

    def _own(self, request: Request, report_id: str) -> Report | None:
        with self._lock:
            report = self.reports.get(report_id)
        if report is None or request.token is None or report.account != request.token.account:
            return None
        return report

    def _range_problem(
        self,
        kind: ReportFixture,
        spec: dict[str, Any],
        start: datetime | None,
        end: datetime | None,
    ) -> str | None:
        for name, value in (("dataStartTime", start), ("dataEndTime", end)):
            if spec.get(name) is not None and value is None:
                return f"{name} must be an ISO 8601 date-time."
        if start is not None and end is not None:
            if start > end:
                return "dataStartTime must not be later than dataEndTime."
            longest = self.config.report_longest_range_days.get(
                kind.report_type, kind.max_window_days
            )
            if longest is not None and end - start > timedelta(days=longest):
                return f"The requested data range exceeds {longest:g} days for {kind.report_type}."
        return None

    def _filters(self, request: Request) -> tuple[dict[str, Any], str | None]:
        types = request.csv("reportTypes")
        if not types:
            return {}, "Either reportTypes or nextToken is required."
        statuses = request.csv("processingStatuses")
        if statuses and set(statuses) - STATUSES:
            return {}, f"Invalid processingStatuses: {','.join(sorted(set(statuses) - STATUSES))}"
        size = int(request.first("pageSize") or 10)
        if not 1 <= size <= MAX_PAGE_SIZE:
            return {}, "pageSize must be between 1 and 100."
        since = parse_instant(request.first("createdSince")) or datetime.now(UTC) - RETENTION
        until = parse_instant(request.first("createdUntil")) or datetime.now(UTC) + timedelta(
            days=1
        )
        state = {
            "types": types,
            "statuses": statuses,
            "marketplaces": request.csv("marketplaceIds"),
            "since": since.isoformat(),
            "until": until.isoformat(),
            "o": 0,
            "size": size,
        }
        return state, None


def _matches(report: Report, state: dict[str, Any]) -> bool:
    if report.report_type not in state["types"]:
        return False
    if state["statuses"] and report.status() not in state["statuses"]:
        return False
    if state["marketplaces"] and not set(state["marketplaces"]) & set(report.marketplace_ids):
        return False
    since, until = datetime.fromisoformat(state["since"]), datetime.fromisoformat(state["until"])
    return since <= report.created <= until


def _value(kind: str, rng: random.Random, moment: datetime) -> str:
    if kind == "integer":
        return str(rng.randint(1, 5))
    if kind == "number":
        return f"{rng.uniform(1, 200):.2f}"
    if kind == "date-time":
        return (moment + timedelta(days=rng.randint(0, 5))).isoformat(timespec="seconds")
    if kind == "boolean":
        return rng.choice(("true", "false"))
    return rng.choice(("UPS", "USPS", "FedEx", "AMZN_US", "Standard", "Expedited", "TX", "US"))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
