"""`SPAPIStream`: the base every stream inherits.

It turns an operation id into method, path and usage plan (from the generated catalog),
sends requests through the account's paced, authenticated session, parses pages and
keeps bookmarks. The request loop itself is singer-sdk's; only its hooks are overridden
here. What an answer means is responses.py's, fetching ahead is fetch_ahead.py's,
containing failures is containment.py's (both bases of `SPAPIStream`), and the run's
state is run.py's, reached through `SPAPIStream.run`.
"""

from __future__ import annotations

import datetime
import importlib.resources
import logging
import sys
import threading
import time
from functools import cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

import msgspec
import requests
from requests.auth import AuthBase
from singer_sdk import Stream
from singer_sdk.exceptions import AbortedSyncExceptionBase
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.helpers.jsonpath import extract_jsonpath
from singer_sdk.mapper import RemoveRecordTransform
from singer_sdk.pagination import BaseAPIPaginator, JSONPathPaginator, SinglePagePaginator
from singer_sdk.schema.source import SchemaDirectory, StreamSchema
from singer_sdk.singerlib.catalog import SelectionMask
from typing_extensions import override

from tap_spapi.amazon.operations import load_catalog
from tap_spapi.keys import ACCOUNT_KEY, SELLER_KEY
from tap_spapi.runtime.run import Run
from tap_spapi.runtime.state import IdentifierBook, IndexedStateManager
from tap_spapi.streams.base.containment import ContainsFailures
from tap_spapi.streams.base.pii import drop_pii, schema_without_pii
from tap_spapi.streams.base.windows import instant
from tap_spapi.wire.responses import (
    AccessDeniedError,
    MissingKeyError,
    PaginationLoopError,
    SPAPIRequestError,
    decode,
    decoded_body,
    error_for,
    error_message,
    is_expired_token,
    operation_called,
)
from tap_spapi.wire.retries import (
    RequestRetries,
    RetryBudget,
    RetryPolicy,
    waits,
)
from tap_spapi.wire.transport import ACCOUNT_HEADER, RESTRICTED_HEADER, paced_session

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable, Iterator

    from backoff.types import Details
    from singer_sdk.helpers.types import Context
    from singer_sdk.mapper import StreamMap
    from singer_sdk.streams._state import StreamStateManager
    from singer_sdk.streams.rest import HTTPRequest, PageContext

    from tap_spapi.amazon.operations import Operation
    from tap_spapi.wire.account import Account
    from tap_spapi.wire.pacing import OperationLane


class _Unchanged(AuthBase):
    @override
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


_UNCHANGED = _Unchanged()
# Generated from Amazon's models by scripts/generate_from_models.py; shipped in the wheel.
SCHEMAS = SchemaDirectory(importlib.resources.files("tap_spapi.amazon") / "schemas")
LOGGER = logging.getLogger("tap-spapi")


def fill_path(template: str, values: dict[str, Any]) -> str:
    """`template` with each `{name}` replaced by its value, percent-encoded.

    Ids in paths are seller-chosen (MCF order ids may hold any character), so they are
    encoded, which the SDK's own `{param}` substitution does not do.
    """
    for name, value in values.items():
        template = template.replace(f"{{{name}}}", quote(str(value), safe=""))
    return template


# A page whose answer hands back a token already followed is asked again this many
# times, with the fault backoff, before the stream stops: live Amazon's repeats are
# mostly one-off (a stale page behind a load balancer), and a stream that stops on the
# first one starts over at page 1 in every later run.
PAGE_RETRIES = 2


class _RepeatedToken(Exception):  # noqa: N818 - a signal between two methods, not an error
    """get_next found a token already followed: advance asks the page again."""


class DecodedBodyPaginator(JSONPathPaginator):
    """singer-sdk's token paginator, reading the body `validate_response` decoded, and
    refusing any token seen before in the query (not only the previous one).

    The SDK's own calls `response.json()` again: a second parse of every page, about a
    quarter of the tap's CPU when records are small and pages come fast. A token that
    comes back after other tokens (A, B, A) would loop forever past the SDK's check;
    here the page that handed it out is asked again (`PAGE_RETRIES` times, waiting
    `wait(n)` seconds before the n-th), and if the token keeps coming back the query
    stops with an error naming the page.
    """

    def __init__(
        self,
        jsonpath: str,
        where: str,
        wait: Callable[[int], float] = lambda _retry: 0.0,
    ) -> None:
        super().__init__(jsonpath)
        self._where = where
        self._seen: set[str] = set()
        self._wait = wait
        self._retried = 0

    @override
    def get_next(self, response: requests.Response) -> str | None:
        token = next(extract_jsonpath(self._jsonpath, decoded_body(response)), None)
        if token and token in self._seen:
            raise _RepeatedToken
        if token:
            self._seen.add(token)
        return token

    @override
    def advance(self, response: requests.Response) -> None:
        """The next page's token; the same page again after a token already followed."""
        try:
            super().advance(response)
        except _RepeatedToken:
            page = self.count  # the SDK counted the page just read
            if self._retried >= PAGE_RETRIES:
                request_id = response.headers.get("x-amzn-RequestId", "none")
                raise PaginationLoopError(
                    f"{self._where}: page {page}: Amazon returned a page token already "
                    f"followed, {self._retried + 1} times in a row; stopping instead of "
                    f"looping [x-amzn-RequestId: {request_id}]"
                ) from None
            self._retried += 1
            self._page_count -= 1  # the page is asked again, not a new one
            wait = self._wait(self._retried)
            LOGGER.info(
                "%s: page %d came with a page token already followed; asking it again in %.1f s.",
                self._where,
                page,
                wait,
            )
            time.sleep(wait)
            return
        self._retried = 0


class SchemaWithoutUnwantedPII(StreamSchema):
    """The stream's generated schema, minus its `pii_fields` unless `include_pii` is on.

    Records lose those fields (see `SPAPIStream.post_process`), so the columns are not
    declared either: a warehouse gets no always-null PII column it might later trust.
    """

    @override
    def get_stream_schema(self, stream: Any, stream_class: Any) -> dict[str, Any]:
        schema: dict[str, Any] = super().get_stream_schema(stream, stream_class)
        fields = getattr(stream, "pii_fields", ())
        if not fields or stream.config.get("include_pii"):
            return schema
        return schema_without_pii(schema, fields)


# A selection mask in which every field is selected (missing entries follow the root).
_EVERY_FIELD = SelectionMask({(): True})


class ReadWithoutOutput(RemoveRecordTransform):
    """The map of a stream read only for the streams that need its records: no SCHEMA,
    no RECORD (singer-sdk's map that removes a stream), but its children still synced
    (that one would stop them, as a filter that drops every record)."""

    @override
    def get_filter_result(self, record: dict[str, Any]) -> bool:
        return True


class SPAPIStream(ContainsFailures):
    """A stream backed by one SP-API operation."""

    #: For a stream that is not sorted (singer-sdk keeps its new bookmark as a progress
    #: marker until the stream completes): what a run killed mid-way means for it. Said
    #: here, and in the docs, instead of singer-sdk's warning on every run (progress.py).
    after_a_kill: ClassVar[str] = ""

    #: Streams whose records this stream needs although it is not their child (e.g.
    #: shipment_tracking: the shipments that carry its identifiers); they, and their
    #: parents, are read when this stream is selected, as singer-sdk reads a child's parents.
    needs: ClassVar[tuple[str, ...]] = ()

    #: Operation id in Amazon's model; method, path and usage plan come from the catalog.
    operation_id: ClassVar[str]
    #: Dotted path of the next-page token in the response body, if the operation pages.
    next_token_path: ClassVar[str | None] = None
    records_jsonpath = "$.payload[*]"
    #: Key (or replication key) fields the stream adds itself in `post_process`.
    derived_keys: ClassVar[tuple[str, ...]] = ()
    #: Fields holding buyer PII, as dotted paths from the record's top: dropped from
    #: schema and records unless `include_pii` is on (see pii.py).
    pii_fields: ClassVar[tuple[str, ...]] = ()
    #: Context keys copied onto every record (`post_process`): the ids a child record
    #: only has through its parent.
    context_keys_on_records: ClassVar[tuple[str, ...]] = ()
    #: One partition (and bookmark) per account of the run (`partitions`).
    partitioned_by_account: ClassVar[bool] = False
    schema = SchemaWithoutUnwantedPII(SCHEMAS)
    # Records are decoded JSON: their values already have JSON types, and the schemas
    # allow additional properties, so singer-sdk's conformance pass would change
    # nothing but cost a quarter of the tap's CPU per record (throughput benchmark).
    # A stream that builds records with Python types (dates, decimals) sets its own.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    # --- what to call -------------------------------------------------------------

    @override
    def account_for(self, context: Context | None) -> Account:
        """The selling-partner account `context` belongs to (every context names one)."""
        return self.run.account_named((context or {}).get(ACCOUNT_KEY))

    @override
    def fetch_lane(self, context: Context | None) -> OperationLane:
        """This stream's operation at the context's account."""
        return self.account_for(context).limiter.lane(self.operation_id)

    @cached_property
    @override
    def operation(self) -> Operation:
        """This stream's operation in the generated catalog."""
        return load_catalog()[self.operation_id]

    @property
    @override
    def url_base(self) -> str:
        """Unused: each context's account has its own regional endpoint (see `get_url`)."""
        return ""

    @property
    @override
    def path(self) -> str:  # type: ignore[override]
        """The operation's path template; `{param}`s are filled from the context."""
        return self.operation.path

    #: `{placeholder}` of the operation's path → the context key that fills it.
    path_params: ClassVar[dict[str, str]] = {}

    @override
    def get_url(self, context: Context | None) -> str:
        """The operation's URL at the context's account, `path_params` filled in."""
        values: dict[str, Any] = {}
        for placeholder, key in self.path_params.items():
            assert context is not None, f"{self.name} needs a context for {{{placeholder}}}"
            values[placeholder] = context[key]
        return f"{self.account_for(context).base_url}{fill_path(self.path, values)}"

    @override
    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        """singer-sdk's request, stamped with its account for the router to pace and sign."""
        request = super().get_http_request(page=page)
        request.headers[ACCOUNT_HEADER] = self.account_for(page.stream_context).name
        return request

    @property  # type: ignore[misc]
    @override
    def http_method(self) -> str:
        """The operation's HTTP method (some SP-API reads are PUT or POST)."""
        return self.operation.method

    @property
    @override
    def requests_session(self) -> requests.Session:
        """This thread's session, routed through each account's paced, signing adapter.

        One per thread because `requests.Session` is not thread-safe; they share the
        tap's router and the accounts' adapters (connection pool, limiter, auth), which are.
        """
        session: requests.Session | None = getattr(self._thread_sessions, "session", None)
        if session is None:
            session = self._thread_sessions.session = paced_session(self.run.router)
        return session

    @cached_property
    def _thread_sessions(self) -> threading.local:
        return threading.local()

    @property
    @override
    def authenticator(self) -> AuthBase:
        """Nothing at the SDK's step: the router authenticates each request for its account,
        after pacing, so a request that waited for a token never leaves with a stale one."""
        return _UNCHANGED

    @property
    @override
    def timeout(self) -> int:
        """Seconds to wait for one response (setting `request_timeout`)."""
        return self.run.settings.request_timeout

    @property
    @override
    def http_headers(self) -> dict[str, Any]:
        """Headers every SP-API call carries besides auth."""
        return {"Accept": "application/json", "User-Agent": self.run.user_agent}

    @property
    def paging_where(self) -> str:
        """`stream 'x' (operation)`, for the paginator's messages."""
        return f"stream '{self.name}' ({self.operation_id})"

    @override
    def get_new_paginator(self) -> BaseAPIPaginator[Any]:
        """A token paginator at `next_token_path`, or a single page."""
        if self.next_token_path:
            return DecodedBodyPaginator(
                f"$.{self.next_token_path}", self.paging_where, self.retries.policy.fault_wait
            )
        return SinglePagePaginator()

    def call(
        self,
        operation_id: str,
        context: Context | None,
        *,
        path_values: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        restricted: bool = False,
    ) -> Any:
        """One request to `operation_id` outside the SDK's record loop, decoded.

        For streams that need several operations per context (reports: list, create,
        poll, document). It goes through the same retries, pacing, auth and error
        messages as the SDK's own requests; `restricted` asks for a Restricted Data
        Token where the need depends on the data, not the operation.
        """
        operation = load_catalog()[operation_id]
        account = self.account_for(context)
        headers = {**self.http_headers, ACCOUNT_HEADER: account.name}
        if restricted:
            headers[RESTRICTED_HEADER] = "1"
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = requests.Request(
            operation.method,
            f"{account.base_url}{fill_path(operation.path, path_values or {})}",
            params=params,
            data=msgspec.json.encode(body) if body is not None else None,
            headers=headers,
        )
        prepared = self.requests_session.prepare_request(request)
        send = self.request_decorator(self._request)
        return decoded_body(send(prepared, context))

    def notified_bodies(
        self,
        context: Context,
        ids: Iterable[str],
        operation_id: str,
        path_key: str,
        *,
        params: dict[str, Any] | None = None,
        backstop: str,
    ) -> Iterator[tuple[str, Any]]:
        """(id, decoded answer) of `operation_id` for each id a notification named, in
        turn, until the account is abandoned. An id Amazon refuses is left to the
        `backstop` operation (its listing or search), gathered into one warning."""
        account = self.account_for(context)
        for item in ids:
            if self.abandoned(context):
                return
            asked = {**context, path_key: item}
            try:
                yield item, self.call(operation_id, asked, path_values={path_key: item},
                                      params=params)  # fmt: skip
            except SPAPIRequestError as exc:
                name = operation_id.rsplit(".", 1)[-1]
                self.run.gather(
                    f"{name} refused {{}} notified ids ({backstop} reads them)",
                    f"{account.name}/{item} (HTTP {exc.status})",
                )

    @property
    @override
    def run(self) -> Run:
        """The run this stream is part of: accounts, pools, clock, failures (run.py).

        The one place a stream reaches its tap; every TapSpapi has a run.
        """
        run = getattr(self._tap, "run", None)
        assert isinstance(run, Run), f"stream '{self.name}' belongs to a tap without a run"
        return run

    # --- selection ----------------------------------------------------------------------

    # mypy asks for @override on the decorator line of a property that has a setter.
    @property  # type: ignore[explicit-override]
    @override
    def selected(self) -> bool:
        """Selected in the catalog, or read only for the selected streams that need its
        records (`read_for_others`): then it keeps its bookmarks but emits nothing."""
        return self.catalog_selected or self.read_for_others

    @selected.setter
    def selected(self, value: bool | None) -> None:
        Stream.selected.fset(self, value)  # type: ignore[attr-defined]

    @property
    def catalog_selected(self) -> bool:
        """Whether the catalog selects this stream (singer-sdk's `selected`)."""
        return bool(Stream.mask.fget(self).get((), True))  # type: ignore[attr-defined]

    @property
    def read_for_others(self) -> bool:
        """Whether this run reads the stream, unselected, for streams that need it (the
        tap decides when the sync starts: `TapSpapi.sync_all`)."""
        return self.name in getattr(self._tap, "read_for_others", ())

    @property
    @override
    def mask(self) -> SelectionMask:
        """singer-sdk's selection of fields; every field while `read_for_others` (the SDK
        drops unselected fields from a record before it moves the bookmark by it)."""
        if self.read_for_others:
            return _EVERY_FIELD
        return super().mask

    @property
    @override
    def stream_maps(self) -> list[StreamMap]:
        """singer-sdk's maps; none that writes anything while `read_for_others`."""
        if not self.read_for_others:
            return super().stream_maps
        if self._silent_maps is None:
            self._silent_maps = [
                ReadWithoutOutput(
                    stream_alias=self.name,
                    raw_schema=self.schema,
                    key_properties=self.primary_keys,
                    flattening_options=None,
                )
            ]
        return self._silent_maps

    _silent_maps: list[StreamMap] | None = None

    # --- records ----------------------------------------------------------------------

    def account_partitions(self) -> list[dict[str, Any]]:
        """One partition per account of the run (top-level streams queried per account)."""
        return [{ACCOUNT_KEY: name} for name in self.run.accounts]

    @property
    @override
    def partitions(self) -> list[dict[str, Any]] | None:
        """One per account with `partitioned_by_account`, else singer-sdk's (from state)."""
        if self.partitioned_by_account:
            return self.account_partitions()
        return super().partitions

    @override
    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        """Copy `context_keys_on_records` from the context; drop `pii_fields` unless
        `include_pii`. Streams that shape records further call this last."""
        for key in self.context_keys_on_records:
            row[key] = (context or {}).get(key)
        return drop_pii(row, self.pii_fields, keep=self.run.settings.include_pii)

    @override
    def _succeeded_before(self, error: SPAPIRequestError) -> bool:
        operation = self._operation_of(error.response)
        return operation in self._account_of(error.response).adapter.succeeded

    # --- state --------------------------------------------------------------------

    @property
    @override
    def state_manager(self) -> StreamStateManager:
        """singer-sdk's manager, made as it makes it, with partitions found through an
        index (state.IndexedStateManager) instead of a search of the list."""
        if self._state_manager is None:
            self._state_manager = IndexedStateManager(
                tap_name=self.tap_name,
                stream_name=self.name,
                tap_state=self._tap_state,
                state_partitioning_keys=self.state_partitioning_keys,
                is_sorted=self.is_sorted,
                check_sorted=self.check_sorted,
            )
        return self._state_manager

    def save_bookmark(self, context: Context | None, **values: Any) -> None:
        """Store `values` in the partition's state and emit a STATE message at once.

        For bookmarks singer-sdk cannot derive from a record's replication key (a query
        window's upper bound, a label's final status): written beside the SDK's own
        values and flushed immediately, so a killed run resumes after the last finished
        window instead of from the previous run's bookmark.
        """
        if self.failures.holds(self.name, (context or {}).get(ACCOUNT_KEY, "")):
            return  # something under this bookmark was missed this run
        self.note_in_state(context, **values)

    def note_in_state(self, context: Context | None, **values: Any) -> None:
        """Store `values` in the partition's state and emit a STATE message at once,
        whatever failed: for what moves no bookmark (`save_bookmark` checks first)."""
        self.get_context_state(context).update(values)
        self.state_manager.is_flushed = False
        self._write_state_message()

    def book(self, account: str) -> IdentifierBook:
        """The identifiers (labels) of `account` in this stream's state, for the streams
        that keep a book per account instead of a partition per identifier (state.py)."""
        book = self._books.get(account)
        if book is None:
            book = IdentifierBook(self.get_context_state({ACCOUNT_KEY: account}))
            self._books[account] = book
        return book

    @cached_property
    def _books(self) -> dict[str, IdentifierBook]:
        return {}

    def _keep(
        self, book: IdentifierBook, kind: str, value: str, record: dict[str, Any], *, final: bool
    ) -> None:
        """After `record` of identifier (label) `value` was handed to the SDK: keep its
        newest event time (`post_process` set the replication key), or that it ended.
        A record `post_process` dropped for being empty has neither: nothing is kept."""
        latest = record.get(self.replication_key or "")
        second = int(instant(latest).timestamp()) if latest else 0
        if second or final:
            now = int(self.run.run_started_at.timestamp())
            book.loaded(kind, value, second or now, final=final)
            self.state_manager.is_flushed = False

    @property
    def lookback(self) -> datetime.timedelta:
        """Setting `lookback_window`: how far before a bookmark each run asks again."""
        return datetime.timedelta(minutes=self.run.settings.lookback_window)

    def start_after(self, bookmark: str | None) -> datetime.datetime:
        """Where this run's query after `bookmark` starts: the bookmark minus the
        lookback, else the run's default start (`start_date`)."""
        return instant(bookmark) - self.lookback if bookmark else self.run.default_start

    @override
    def log(self, message: str, *args: Any, level: int = logging.INFO, **kwargs: Any) -> None:
        """singer-sdk's, without its ERROR line for the signal that stops a stream after
        its first record in a connection test (`--test`): a test that passed is no error."""
        if level >= logging.ERROR and isinstance(sys.exc_info()[1], AbortedSyncExceptionBase):
            return
        super().log(message, *args, level=level, **kwargs)

    # --- responses ----------------------------------------------------------------

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Sort a response into success, retry (429, 5xx, expired token) or fatal
        (responses.py), dropping an expired token first so the retry gets a fresh one."""
        if response.status_code >= HTTPStatus.BAD_REQUEST:
            if is_expired_token(response):
                self._account_of(response).auth.invalidate(response.request)
            raise error_for(response, self.response_error_message(response))
        decode(response, self.response_error_message)

    def _account_of(self, response: requests.Response) -> Account:
        """The account a response answers (the router noted it on the request)."""
        return self.run.account_named(getattr(response.request, "spapi_account", None))

    @override
    def response_error_message(self, response: requests.Response) -> str:
        """`stream 'x' (operation y): HTTP 400 Code: message (details) [x-amzn-RequestId: …]`."""
        return error_message(response, self.name, self._operation_of(response))

    def _operation_of(self, response: requests.Response) -> str:
        """The operation `response` answers (a stream may call several, e.g. reports)."""
        return self._operation_called(response.request)

    def _operation_called(self, request: requests.PreparedRequest | None) -> str:
        """The operation `request` calls (this stream's own if it cannot tell)."""
        return operation_called(request, self.operation_id)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """Records at `records_jsonpath` of the (already decoded) body, with their account."""
        return self.records_in(decoded_body(response), self._account_of(response))

    def records_in(self, body: Any, account: Account) -> Iterator[dict[str, Any]]:
        """Records at `records_jsonpath` of a decoded `body` of `account`'s."""
        seller = account.settings.selling_partner_id
        for record in extract_jsonpath(self.records_jsonpath, input=body):
            self._check_required_fields(record)
            record[ACCOUNT_KEY] = account.name
            record[SELLER_KEY] = seller
            yield record

    @cached_property
    def _required_fields(self) -> list[str]:
        needed = [*(self.primary_keys or []), self.replication_key]
        return [f for f in needed if f and f != ACCOUNT_KEY and f not in self.derived_keys]

    def _check_required_fields(self, record: dict[str, Any]) -> None:
        """A record without its key or bookmark field cannot be loaded: say which."""
        for field in self._required_fields:
            if record.get(field) is None:
                raise MissingKeyError(
                    f"stream '{self.name}' ({self.operation_id}): Amazon sent a record "
                    f"without '{field}', which the stream is keyed or bookmarked by"
                )

    # --- retries: singer-sdk's hooks, delegating to the one policy (retries.py) --------

    @cached_property
    def retries(self) -> RequestRetries:
        """This stream's SP-API calls under the one retry policy (see retries.py)."""
        policy = RetryPolicy(
            max_faults=self.run.settings.max_retries,
            max_seconds=self.run.settings.max_retry_seconds,
        )
        return RequestRetries(
            policy,
            stream=self.name,
            account_named=lambda name: self.account_for({ACCOUNT_KEY: name}),
            operation_called=self._operation_called,
            refused=AccessDeniedError,
            logger=self.logger,
        )

    @override
    def backoff_max_tries(self) -> int:
        """First attempt plus setting `max_retries` (faults other than 429s, see retries.py)."""
        return self.retries.policy.max_faults + 1

    @override
    def request_decorator(self, func: Any) -> Any:
        """singer-sdk's backoff decorator, with our policy (retries.py)."""
        return self.retries.decorate(
            func, wait_gen=self.backoff_wait_generator, on_backoff=self.backoff_handler
        )

    @override
    def backoff_wait_generator(
        self, budget: RetryBudget | None = None
    ) -> Generator[float, Any, None]:
        """How long to wait before retrying, chosen by what went wrong (retries.py)."""
        return waits(budget or self.retries.budget())

    @override
    def backoff_handler(self, details: Details) -> None:
        """Log each retry once (retries.py)."""
        self.retries.log_retry(details)
