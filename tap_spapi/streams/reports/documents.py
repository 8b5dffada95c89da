"""Reading a report document: the pre-signed download (resumed after a break), gunzip,
decoding, TSV, types.

Everything streams: bytes come off the socket into `gzip`, through a text decoder into
the `csv` reader, one row at a time, so a report of any size is read in constant
memory. Hand-written because no library we depend on parses Amazon's flat files: they
are tab-separated without quoting (a product name may hold a lone `"`), their encoding
is only given in the download's Content-Type, and their values need typing per column.

`ReportDocuments` is a report stream's side: getReportDocument, the rows as its
records, and a FATAL report's error document.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import gzip
import io
import logging
import zlib
from collections import Counter
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import IO, TYPE_CHECKING, Any, cast

import requests
import urllib3

from tap_spapi.errors import TapSpapiError
from tap_spapi.streams.reports.windows import describe
from tap_spapi.wire.redact import redact
from tap_spapi.wire.retries import RetriesExhaustedError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from singer_sdk.helpers.types import Context

    from tap_spapi.amazon.report_types import Kind, ReportType
    from tap_spapi.streams.base.windows import QueryWindow
    from tap_spapi.wire.client import SPAPIClient
    from tap_spapi.wire.retries import RetryPolicy

LOGGER = logging.getLogger("tap-spapi")
DEFAULT_ENCODING = "utf-8"
# Java charset names Amazon puts in Content-Type that Python spells differently.
JAVA_CHARSETS = {"windows-31j": "cp932", "x-sjis": "shift_jis", "ms932": "cp932"}
# Date forms seen in Amazon flat files besides ISO 8601 (`2026-01-02T03:04:05+00:00`).
DATE_FORMATS = ("%d-%b-%Y", "%Y/%m/%d %H:%M:%S", "%d.%m.%Y", "%d/%m/%Y")
GZIP_MAGIC = b"\x1f\x8b"
TRUE, FALSE = frozenset({"true", "yes", "y", "1"}), frozenset({"false", "no", "n", "0"})
# A download that broke off: read the document again (it does not change).
DOWNLOAD_FAULTS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    EOFError,
    zlib.error,
    gzip.BadGzipFile,
    OSError,
    # A read of a body cut off or closed under the reader (io raises ValueError), or
    # bytes no decoder takes: read again, with a fresh link if it expired meanwhile.
    ValueError,
)
# What the storage answers when a pre-signed link has expired (S3: 403 AccessDenied).
EXPIRED_LINK = frozenset({HTTPStatus.FORBIDDEN, HTTPStatus.BAD_REQUEST})


class DocumentFaultError(TapSpapiError):
    """The document download answered with an error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def charset_of(content_type: str | None) -> str:
    """The Python codec for a Content-Type's charset (UTF-8 when absent or unknown)."""
    for part in (content_type or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            charset = value.strip().strip('"').lower()
            charset = JAVA_CHARSETS.get(charset, charset)
            try:
                return codecs.lookup(charset).name
            except LookupError:
                LOGGER.warning("Unknown report charset %r; reading it as UTF-8.", value)
    return DEFAULT_ENCODING


def text_of(response: requests.Response) -> IO[str]:
    """The document's text, read from the socket as it is consumed.

    Gunzipped when its first bytes are gzip's magic number, whatever the labels say:
    Amazon leaves `compressionAlgorithm` out of an uncompressed document (the model: it
    is returned "if the report document contents have been compressed"), a link asked for
    with `enableContentEncodingUrlHeader` labels a gzipped body `Content-Encoding: gzip`,
    and a proxy may have decoded it on the way. Either way the bytes stream: memory stays
    flat whatever the size.
    """
    raw = response.raw
    raw.decode_content = False  # we gunzip ourselves, by the body's own first bytes
    # urllib3 closes the response at the end of the body by default; the readers above
    # it would then fail their last read ("I/O operation on closed file"), which an
    # uncompressed document reaches directly (GzipFile stops at the gzip trailer).
    raw.auto_close = False
    buffered = io.BufferedReader(raw, buffer_size=io.DEFAULT_BUFFER_SIZE * 8)
    binary: IO[bytes] = buffered
    if buffered.peek(len(GZIP_MAGIC))[: len(GZIP_MAGIC)] == GZIP_MAGIC:
        binary = cast("IO[bytes]", gzip.GzipFile(fileobj=buffered, mode="rb"))
    encoding = charset_of(response.headers.get("Content-Type"))
    if encoding == "utf-8":
        encoding = "utf-8-sig"  # some documents start with a byte-order mark
    # errors="replace": one undecodable byte must not fail a million-row report; the
    # replacement character shows where it was.
    return io.TextIOWrapper(binary, encoding=encoding, errors="replace", newline="")


@dataclass
class TypedRows:
    """Rows of one report document as records with typed values.

    Values that do not parse as their column's type become null; each such column is
    named once per document in a warning, with an example, so nothing is silently lost.
    """

    report: ReportType
    where: str
    unknown_columns: Callable[[list[str]], None]
    bad_values: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def rows(self, text: IO[str]) -> Iterator[dict[str, Any]]:
        """Records of the TSV in `text` (header first); empty when there is no header."""
        reader = csv.reader(text, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if not header:
            return
        converters = self._converters(header)
        width = len(converters)
        for values in reader:
            if not values or values == [""]:
                continue
            if len(values) < width:
                values = [*values, *[""] * (width - len(values))]
            yield {
                name: convert(value)
                for (name, convert), value in zip(converters, values, strict=False)
            }
        self._report_bad_values()

    def _converters(self, header: list[str]) -> list[tuple[str, Callable[[str], Any]]]:
        kinds = self.report.kinds
        names = [self.report.column_of(column) for column in header]
        unknown = [name for name in names if name not in kinds]
        if unknown:
            self.unknown_columns(unknown)
        keys = set(self.report.keys)
        return [
            (name, self._converter(name, kinds.get(name, "string"), name in keys)) for name in names
        ]

    def _converter(self, column: str, kind: Kind, key: bool) -> Callable[[str], Any]:
        if kind == "string":
            # Key columns are never null: a blank tracking number is still part of a key.
            return (lambda value: value) if key else (lambda value: value or None)
        parse = PARSERS[kind]

        def convert(value: str) -> Any:
            # Amazon writes a blank cell as nothing between two tabs (a raw document in
            # jlevers/selling-partner-api#158); a cell of spaces is blank all the same.
            if not value or value.isspace():
                return None
            parsed = parse(value)
            if parsed is None:
                self.bad_values[column] += 1
                self.examples.setdefault(column, value[:40])
            return parsed

        return convert

    def _report_bad_values(self) -> None:
        for column, count in self.bad_values.items():
            LOGGER.warning(
                "%s: %d value(s) of column '%s' did not parse as %s (e.g. %r); loaded as null.",
                self.where,
                count,
                column,
                self.report.kinds.get(column),
                self.examples[column],
            )


def parse_int(value: str) -> int | None:
    """`12`, `12.0`, `1,234` -> 12 / 12 / 1234."""
    try:
        return int(value.replace(",", ""))
    except ValueError:
        number = parse_number(value)
        return int(number) if number is not None and number.is_integer() else None


def parse_number(value: str) -> float | None:
    """`12.34`; `12,34` (a decimal comma, as some EU documents write) -> 12.34."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return float(value.replace(".", "").replace(",", "."))
    except ValueError:
        return None


def parse_datetime(value: str) -> str | None:
    """An RFC 3339 instant in UTC, from ISO 8601 or the other forms Amazon writes."""
    moment: datetime.datetime | None = None
    try:
        moment = datetime.datetime.fromisoformat(value.strip().replace(" UTC", "+00:00"))
    except ValueError:
        for form in DATE_FORMATS:
            try:
                moment = datetime.datetime.strptime(value.strip(), form)  # noqa: DTZ007 - UTC below
                break
            except ValueError:
                continue
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC).isoformat()


def parse_bool(value: str) -> bool | None:
    """`true`/`false` (and yes/no, 1/0)."""
    lowered = value.strip().lower()
    return True if lowered in TRUE else False if lowered in FALSE else None


PARSERS: dict[str, Callable[[str], Any]] = {
    "integer": parse_int,
    "number": parse_number,
    "date-time": parse_datetime,
    "boolean": parse_bool,
}


@dataclass
class ReportDocument:
    """One report's document, read to its last row however often the download breaks.

    The document does not change, so a new download skips the rows already emitted.
    """

    report: ReportType
    stream: str
    report_id: str
    #: getReportDocument: the document's description with a fresh pre-signed `url`.
    link: Callable[[], Mapping[str, Any]]
    session: requests.Session
    timeout: float
    #: Faults and waits of a download (see `ReportDocuments.policy`).
    policy: RetryPolicy
    unknown_columns: Callable[[list[str]], None]
    logger: logging.Logger = LOGGER

    @property
    def where(self) -> str:
        """`stream 'x' (report 123)`, for messages."""
        return f"stream '{self.stream}' (report {self.report_id})"

    def rows(self) -> Iterator[dict[str, Any]]:
        """The document's rows as typed records, each once."""
        document = self.link()
        emitted = 0
        link_expired = False
        retried = (DocumentFaultError, *DOWNLOAD_FAULTS)
        for attempt in self.policy.attempts(
            retried, on_backoff=self._say_retry, explain=self._gave_up
        ):
            if link_expired:
                # A fresh link after the wait, not before it: the wait may outlast a
                # link's lifetime (5 minutes at Amazon).
                document = self.link()
                link_expired = False
            with attempt:
                try:
                    for index, row in enumerate(self._download(document)):
                        if index >= emitted:
                            emitted += 1
                            yield row
                except DocumentFaultError as exc:
                    link_expired = exc.status in EXPIRED_LINK
                    raise

    def _download(self, document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Rows of the document at its pre-signed URL (no SP-API auth: not an SP-API call)."""
        response = self.session.get(document["url"], stream=True, timeout=self.timeout)
        with response:
            if response.status_code != HTTPStatus.OK:
                raise DocumentFaultError(
                    f"{self.where}: the document download answered HTTP "
                    f"{response.status_code}: {response.text[:200]!r}",
                    response.status_code,
                )
            with text_of(response) as text:
                yield from TypedRows(self.report, self.where, self.unknown_columns).rows(text)

    def _say_retry(self, details: Mapping[str, Any]) -> None:
        self.logger.warning(
            "Report document download broke off (%s); reading it again in %.0f s.",
            _described(details["exception"]),
            details["wait"],
        )

    def _gave_up(self, exc: BaseException) -> Exception:
        return RetriesExhaustedError(
            f"{self.where}: the document download failed: {_described(exc)} (gave up retrying)"
        )


def _described(exc: BaseException) -> str:
    return redact(str(exc) or type(exc).__name__)


def error_document_text(
    session: requests.Session, document: Mapping[str, Any], timeout: float
) -> str:
    """The text of a FATAL report's error document (small: read whole, not streamed)."""
    response = session.get(document["url"], timeout=timeout)
    body = response.content  # requests has undone a `Content-Encoding: gzip` already
    if body.startswith(GZIP_MAGIC):  # `compressionAlgorithm: GZIP`, served as identity
        body = gzip.decompress(body)
    return body.decode("utf-8", errors="replace").strip()


class ReportDocuments:
    """One report stream's documents: getReportDocument (a fresh pre-signed link), the
    rows of a DONE report as records, and Amazon's reason for a FATAL one.

    `client` and `session` are the stream's (`session`: the calling thread's), `check`
    its test of a record's key fields, `unknown_columns` what it does with columns the
    report type does not list.
    """

    def __init__(
        self,
        report: ReportType,
        *,
        where: str,
        client: Callable[[Context], SPAPIClient],
        session: Callable[[], requests.Session],
        timeout: float,
        policy: RetryPolicy,
        unknown_columns: Callable[[list[str]], None],
        check: Callable[[dict[str, Any]], None],
        logger: logging.Logger,
    ) -> None:
        self.report = report
        self._where = where
        self._client = client
        self._session = session
        self._timeout = timeout
        # The request policy's fault budget, with fixed waits (1 s, 2 s, 4 s...): one
        # reader waits, there is no crowd to spread out, and no 429s to bound by time.
        self.policy = policy.with_waits(jitter=False, max_seconds=None)
        self._unknown_columns = unknown_columns
        self._check = check
        self._logger = logger

    def link(self, document_id: str, context: Context) -> dict[str, Any]:
        """getReportDocument: the document's description, with a fresh pre-signed `url`."""
        document: dict[str, Any] = self._client(context).call(
            "getReportDocument",
            where=self._where,
            path_values={"reportDocumentId": document_id},
            # A gzipped document is then labelled `Content-Encoding: gzip` (model,
            # 2026-04-01), as HTTP means it; the reader gunzips by the body's first bytes.
            params={"enableContentEncodingUrlHeader": "true"},
            restricted=self.report.restricted,
        )
        return document  # its link is masked in logs by shape (tap_spapi/wire/redact.py)

    def rows(
        self, report: Mapping[str, Any], context: Context, stamp: Mapping[str, Any]
    ) -> Iterator[dict[str, Any]]:
        """The rows of a DONE `report` as records, each with `stamp` and the report's id
        (read again after a broken download)."""
        document_id = str(report["reportDocumentId"])
        document = ReportDocument(
            report=self.report,
            stream=self._where,
            report_id=str(report["reportId"]),
            link=lambda: self.link(document_id, context),
            session=self._session(),
            timeout=self._timeout,
            policy=self.policy,
            unknown_columns=self._unknown_columns,
            logger=self._logger,
        )
        for row in document.rows():
            row.update(stamp)
            row["report_id"] = report["reportId"]
            self._check(row)
            yield row

    def fatal_message(
        self, report: Mapping[str, Any], window: QueryWindow | None, context: Context
    ) -> str:
        """Amazon's reason for a FATAL report: its error document, when there is one."""
        message = (
            f"stream '{self._where}' (getReport): Amazon could not build report "
            f"{report['reportId']} ({self.report.report_type}, {describe(window)}): FATAL"
        )
        document_id = report.get("reportDocumentId")
        if not document_id:
            return message
        document = self.link(str(document_id), context)
        detail = error_document_text(self._session(), document, self._timeout)
        return f"{message}; Amazon's error document says: {detail[:500]}"
