"""`SPAPIStream`: the base every stream inherits.

It turns an operation id into method, path and usage plan (from the generated catalog),
sends requests through the account's paced, authenticated session, turns Amazon's error
bodies into one-line messages, and decides what is retried and how long to wait. The
request loop itself is singer-sdk's; only its hooks are overridden here.
"""

from __future__ import annotations

import datetime
import functools
import importlib.resources
import threading
from collections import deque
from functools import cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar, cast
from urllib.parse import quote, urlsplit

import msgspec
import requests
from requests.auth import AuthBase
from singer_sdk import RESTStream
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.helpers.jsonpath import extract_jsonpath
from singer_sdk.pagination import BaseAPIPaginator, JSONPathPaginator, SinglePagePaginator
from singer_sdk.schema.source import SchemaDirectory, StreamSchema

from tap_spapi.account import amazon_error
from tap_spapi.concurrency import context_key
from tap_spapi.errors import AccountUnavailableError, TapSpapiError
from tap_spapi.operations import load_catalog
from tap_spapi.redact import redact
from tap_spapi.retries import (
    DeniedError,
    ExpiredTokenError,
    NotJSONError,
    RequestRetries,
    RetryBudget,
    RetryPolicy,
    ThrottledError,
    waits,
)
from tap_spapi.roles import missing_role_hint
from tap_spapi.transport import ACCOUNT_HEADER, RESTRICTED_HEADER, paced_session

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable, Iterator

    from backoff.types import Details
    from singer_sdk.helpers.types import Context
    from singer_sdk.streams.rest import HTTPRequest, PageContext

    from tap_spapi.account import Account
    from tap_spapi.concurrency import Prefetcher, ReadAhead
    from tap_spapi.failures import RunFailures
    from tap_spapi.operations import Operation

_EXPIRED_HINTS = ("expired", "expire")
# Every record and every context names its account (a key property of every stream).
ACCOUNT_KEY = "account"
SELLER_KEY = "selling_partner_id"


class _Unchanged(AuthBase):
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


_UNCHANGED = _Unchanged()
# Generated from Amazon's models by scripts/generate_from_models.py; shipped in the wheel.
SCHEMAS = SchemaDirectory(importlib.resources.files("tap_spapi") / "schemas")


def decoded_body(response: requests.Response) -> Any:
    """The response's JSON body, decoded once (by `SPAPIStream.validate_response`)."""
    body = getattr(response, "spapi_json", None)
    return response.json() if body is None else body


def fill_path(template: str, values: dict[str, Any]) -> str:
    """`template` with each `{name}` replaced by its value, percent-encoded.

    Ids in paths are seller-chosen (MCF order ids may hold any character), so they are
    encoded, which the SDK's own `{param}` substitution does not do.
    """
    for name, value in values.items():
        template = template.replace(f"{{{name}}}", quote(str(value), safe=""))
    return template


class PaginationLoopError(TapSpapiError):
    """Amazon handed back a page token it had already given for this query."""


class DecodedBodyPaginator(JSONPathPaginator):
    """singer-sdk's token paginator, reading the body `validate_response` decoded, and
    refusing any token seen before in the query (not only the previous one).

    The SDK's own calls `response.json()` again: a second parse of every page, about a
    quarter of the tap's CPU when records are small and pages come fast. A token that
    comes back after other tokens (A, B, A) would loop forever past the SDK's check.
    """

    def __init__(self, jsonpath: str, where: str) -> None:
        super().__init__(jsonpath)
        self._where = where
        self._seen: set[str] = set()

    def get_next(self, response: requests.Response) -> str | None:
        token = next(extract_jsonpath(self._jsonpath, decoded_body(response)), None)
        if token and token in self._seen:
            request_id = response.headers.get("x-amzn-RequestId", "none")
            raise PaginationLoopError(
                f"{self._where}: Amazon returned a page token already followed after "
                f"{len(self._seen)} pages; stopping instead of looping "
                f"[x-amzn-RequestId: {request_id}]"
            )
        if token:
            self._seen.add(token)
        return token


class SchemaWithoutUnwantedPII(StreamSchema):
    """The stream's generated schema, minus its `pii_fields` unless `include_pii` is on.

    Records lose those fields (see `SPAPIStream.post_process`), so the columns are not
    declared either: a warehouse gets no always-null PII column it might later trust.
    """

    def get_stream_schema(self, stream: Any, stream_class: Any) -> dict[str, Any]:
        schema: dict[str, Any] = super().get_stream_schema(stream, stream_class)
        fields = getattr(stream, "pii_fields", ())
        if not fields or stream.config.get("include_pii"):
            return schema
        properties = {k: v for k, v in schema["properties"].items() if k not in fields}
        return {**schema, "properties": properties}


class SPAPIRequestError(FatalAPIError, TapSpapiError):
    """A request Amazon refused for good (4xx other than throttling or token expiry)."""

    def __init__(self, message: str, response: requests.Response) -> None:
        super().__init__(message)
        self.response = response
        self.status = response.status_code

    @property
    def missing_role(self) -> bool:
        """403 Unauthorized (not an expired token): the application may lack the API's role."""
        return is_denied(self.response)


def is_denied(response: requests.Response) -> bool:
    """403 Unauthorized or AccessDenied: no role, or (transiently) no access to one id."""
    if response.status_code != HTTPStatus.FORBIDDEN:
        return False
    return amazon_error(response).code in {"Unauthorized", "AccessDenied"}


class MissingKeyError(TapSpapiError):
    """Amazon sent a record without a field of the stream's primary key."""


class AccessDeniedError(SPAPIRequestError):
    """403 Unauthorized still, after the retries a transient refusal gets."""


class SPAPIStream(RESTStream[str]):
    """A stream backed by one SP-API operation."""

    #: Operation id in Amazon's model; method, path and usage plan come from the catalog.
    operation_id: ClassVar[str]
    #: Dotted path of the next-page token in the response body, if the operation pages.
    next_token_path: ClassVar[str | None] = None
    #: Per-id streams (children, per-label partitions): requests are fetched ahead in
    #: the account's worker pool while the main thread emits (see concurrency.py).
    prefetch: ClassVar[bool] = False
    records_jsonpath = "$.payload[*]"
    #: Key (or replication key) fields the stream adds itself in `post_process`.
    derived_keys: ClassVar[tuple[str, ...]] = ()
    #: Top-level fields holding buyer PII: dropped from schema and records unless
    #: `include_pii` is on.
    pii_fields: ClassVar[tuple[str, ...]] = ()
    schema = SchemaWithoutUnwantedPII(SCHEMAS)
    # Records are decoded JSON: their values already have JSON types, and the schemas
    # allow additional properties, so singer-sdk's conformance pass would change
    # nothing but cost a quarter of the tap's CPU per record (throughput benchmark).
    # A stream that builds records with Python types (dates, decimals) sets its own.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    # --- what to call -------------------------------------------------------------

    def account_for(self, context: Context | None) -> Account:
        """The selling-partner account `context` belongs to (every context names one)."""
        return self._tap.account_named((context or {}).get(ACCOUNT_KEY))  # type: ignore[attr-defined]

    @cached_property
    def operation(self) -> Operation:
        """This stream's operation in the generated catalog."""
        return load_catalog()[self.operation_id]

    @property
    def url_base(self) -> str:
        """Unused: each context's account has its own regional endpoint (see `get_url`)."""
        return ""

    @property
    def path(self) -> str:  # type: ignore[override]
        """The operation's path template; `{param}`s are filled from the context."""
        return self.operation.path

    #: `{placeholder}` of the operation's path → the context key that fills it.
    path_params: ClassVar[dict[str, str]] = {}

    def get_url(self, context: Context | None) -> str:
        """The operation's URL at the context's account, `path_params` filled in."""
        values: dict[str, Any] = {}
        for placeholder, key in self.path_params.items():
            assert context is not None, f"{self.name} needs a context for {{{placeholder}}}"
            values[placeholder] = context[key]
        return f"{self.account_for(context).base_url}{fill_path(self.path, values)}"

    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        """singer-sdk's request, stamped with its account for the router to pace and sign."""
        request = super().get_http_request(page=page)
        request.headers[ACCOUNT_HEADER] = self.account_for(page.stream_context).name
        return request

    @property  # type: ignore[misc]
    def http_method(self) -> str:
        """The operation's HTTP method (some SP-API reads are PUT or POST)."""
        return self.operation.method

    @property
    def requests_session(self) -> requests.Session:
        """This thread's session, routed through each account's paced, signing adapter.

        One per thread because `requests.Session` is not thread-safe; they share the
        tap's router and the accounts' adapters (connection pool, limiter, auth), which are.
        """
        session: requests.Session | None = getattr(self._thread_sessions, "session", None)
        if session is None:
            session = self._thread_sessions.session = paced_session(self._tap.router)  # type: ignore[attr-defined]
        return session

    @cached_property
    def _thread_sessions(self) -> threading.local:
        return threading.local()

    @property
    def authenticator(self) -> AuthBase:
        """Nothing at the SDK's step: the router authenticates each request for its account,
        after pacing, so a request that waited for a token never leaves with a stale one."""
        return _UNCHANGED

    @property
    def timeout(self) -> int:
        """Seconds to wait for one response (setting `request_timeout`)."""
        return int(self.config.get("request_timeout") or 60)

    @property
    def http_headers(self) -> dict[str, Any]:
        """Headers every SP-API call carries besides auth."""
        return {"Accept": "application/json", "User-Agent": self._tap.spapi_user_agent}  # type: ignore[attr-defined]

    def get_new_paginator(self) -> BaseAPIPaginator[Any]:
        """A token paginator at `next_token_path`, or a single page."""
        if self.next_token_path:
            where = f"stream '{self.name}' ({self.operation_id})"
            return DecodedBodyPaginator(f"$.{self.next_token_path}", where)
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

    @property
    def failures(self) -> RunFailures:
        """The run's failures (see failures.py)."""
        return self._tap.failures  # type: ignore[attr-defined]

    def abandoned(self, context: Context | None) -> bool:
        """Whether `context`'s account failed or this stream stopped for it this run:
        later windows must not move its bookmark past data that was never read."""
        return self.failures.abandoned(self.name, (context or {}).get(ACCOUNT_KEY, ""))

    @property
    def ancestors(self) -> list[str]:
        """Names of the parent, grandparent, ...: their bookmarks cover this stream's data."""
        names, parent = [], self.parent_stream_type
        while parent is not None:
            names.append(str(cast("Any", parent).name))  # a class attribute of ours
            parent = parent.parent_stream_type
        return names

    # --- fetching ahead -------------------------------------------------------------

    def account_partitions(self) -> list[dict[str, Any]]:
        """One partition per account of the run (top-level streams queried per account)."""
        return [{ACCOUNT_KEY: name} for name in self._tap.accounts]  # type: ignore[attr-defined]

    def wants(self, context: Context | None) -> bool:
        """Whether `context` needs a request this run (e.g. not a final tracking)."""
        return True

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Records of `context` (prefetched when announced), announcing children ahead.

        Failures are contained (see failures.py): an account whose credentials or
        endpoint fail is skipped with an error naming it, and so are its later contexts;
        a stream that fails for good stops for that account; one per-id context Amazon
        refuses fails alone. The others finish, bookmarks that would move past what was
        missed stay, and the run exits non-zero at the end.
        """
        if not (context or {}).get(ACCOUNT_KEY):
            return  # no account in this run's shard: singer-sdk syncs once without context
        name = self.account_for(context).name
        if self.abandoned(context) or not self.wants(context):
            return
        try:
            records = self._announcing_children(self._records_of(context), context)
            yield from self._once_per_key(records)
        except TapSpapiError as exc:
            self.settle(exc, context)
        if self.failures.holds(self.name, name):
            # An unsorted stream's new bookmark waits in its progress markers until the
            # SDK finalizes the partition, right after this: it must not move.
            self.get_context_state(context).pop("progress_markers", None)

    def settle(self, error: TapSpapiError, context: Context | None) -> None:
        """Record a failure of `context`: the account's (credentials, endpoint), else what
        `contain` decides; the partition's pending bookmark is dropped either way."""
        self.get_context_state(context).pop("progress_markers", None)
        if isinstance(error, AccountUnavailableError):
            self.failures.account_failed(self.account_for(context).name, error)
        else:
            self.contain(error, context)

    def contain(self, error: TapSpapiError, context: Context | None) -> None:
        """Decide what `error` stops: the stream for the account, or only `context`.

        A 403 from an operation that never succeeded for the account means a missing
        role; one from an operation that did, or another refusal of one id, fails that
        per-id context alone; anything else (retries exhausted, a pagination loop, a
        record without its key) stops the stream for the account.
        """
        name = self.account_for(context).name
        if not isinstance(error, SPAPIRequestError):
            self.failures.stream_stopped(self.name, name, error, self.ancestors)
        elif error.missing_role and not self._succeeded_before(error):
            role = missing_role_hint(self.operation.api, getattr(self, "required_role", None))
            message = f"{role}. {error}"
            self.failures.stream_skipped(self.name, name, message, self.ancestors)
        elif self.prefetch:
            what = ", ".join(f"{k}={v}" for k, v in (context or {}).items() if k != ACCOUNT_KEY)
            self.failures.context_failed(self.name, name, what, error, self.ancestors)
        else:
            self.failures.stream_stopped(self.name, name, error, self.ancestors)

    def _succeeded_before(self, error: SPAPIRequestError) -> bool:
        operation = self._operation_of(error.response)
        return operation in self._account_of(error.response).adapter.succeeded

    def _once_per_key(self, records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """`records` without repeats of a primary key within one query.

        Amazon has returned a record on two consecutive pages; targets that append would
        load it twice. Records that lack a key field here (it is added later) pass.
        """
        keys = self.primary_keys or []
        seen: set[tuple[Any, ...]] = set()  # key fields are strings or numbers (the schemas)
        repeats = 0
        for record in records:
            if keys and all(field in record for field in keys):
                key = tuple([record[field] for field in keys])
                try:
                    repeated = key in seen
                except TypeError:  # a key Amazon sent as an object or list
                    key = tuple(map(repr, key))
                    repeated = key in seen
                if repeated:
                    repeats += 1
                    continue
                seen.add(key)
            yield record
        if repeats:
            self.logger.warning(
                "%s returned %d record(s) twice within one query; each was emitted once.",
                self.operation_id,
                repeats,
            )

    def _records_of(self, context: Context | None) -> Iterable[dict[str, Any]]:
        key = context_key(self.name, context)
        if self.prefetch:
            self._announce_partitions_after(context)
            return self.prefetcher.take(key, lambda: list(self.request_records(context)))
        self._tap.start_reading_ahead()  # type: ignore[attr-defined]
        return self.reader.take(key, lambda: self.request_records(context))

    @property
    def prefetcher(self) -> Prefetcher:
        """The run's pool for per-id requests (see concurrency.py)."""
        return self._tap.prefetcher  # type: ignore[attr-defined]

    @property
    def reader(self) -> ReadAhead:
        """The run's readers of top-level contexts ahead of the sync."""
        return self._tap.read_ahead  # type: ignore[attr-defined]

    #: Top-level streams whose contexts are known at the start of the run: the tap reads
    #: them ahead while earlier streams sync (see concurrency.ReadAhead).
    read_ahead: ClassVar[bool] = False

    def read_ahead_contexts(self) -> list[Context | None]:
        """The contexts `get_records` will fetch this run, in order (default: partitions)."""
        return [*self.partitions] if self.partitions else [None]

    def start_reading(self) -> None:
        """Announce every context of this run to the read-ahead readers.

        A reader also announces the children of what it reads, so another account's
        order → shipment → package chain runs while this account's syncs (the SDK
        syncs one context at a time; the children are taken from the pool later, once).
        """
        for context in self.read_ahead_contexts():
            if self.wants(context):
                self.reader.announce(
                    context_key(self.name, context),
                    functools.partial(self._read_with_children, context),
                )

    def _read_with_children(self, context: Context | None) -> Iterator[dict[str, Any]]:
        return self._announcing_children(self.request_records(context), context)

    def announce(self, context: Context | None) -> None:
        """Fetch `context`'s records in the account's pool, for `get_records` to take.

        Once fetched, the worker announces the records' own children at once, so a
        grandchild chain (order → shipments → package tracking) stays in flight across
        parents instead of waiting for the main thread to reach each parent.
        """
        if self.wants(context):
            self.prefetcher.submit(
                context_key(self.name, context),
                functools.partial(self._fetch_ahead, context),
                priority=-self.depth,
            )

    @property
    def depth(self) -> int:
        """0 for a top-level stream, 1 for its children, 2 for grandchildren."""
        depth, parent = 0, self.parent_stream_type
        while parent is not None:
            depth, parent = depth + 1, parent.parent_stream_type
        return depth

    def _fetch_ahead(self, context: Context | None) -> list[dict[str, Any]]:
        if self.abandoned(context):
            return []  # e.g. skipped for a missing role since it was announced
        records = list(self.request_records(context))
        children = self._prefetching_children()
        if children:
            for record in records:
                self._announce_children_of(record, context, children)
        return records

    def _prefetching_children(self) -> list[SPAPIStream]:
        if not self.prefetcher.workers:
            return []  # sequential mode: the SDK fetches each child when it gets there
        return [
            child
            for child in self.child_streams
            if isinstance(child, SPAPIStream)
            and child.prefetch
            and (child.selected or child.has_selected_descendents)
        ]

    def _announce_children_of(
        self, record: dict[str, Any], context: Context | None, children: list[SPAPIStream]
    ) -> None:
        # The SDK derives child contexts from post-processed records; work on a copy so
        # the record itself is post-processed once, by the SDK.
        processed = self.post_process(dict(record), context)
        if processed is None:
            return
        for child_context in self.generate_child_contexts(processed, context):
            for child in children:
                child.announce(child_context)

    @property
    def lookahead(self) -> int:
        """How many contexts ahead to announce: enough to keep every worker busy."""
        return 4 * self.prefetcher.workers

    def _announcing_children(
        self, records: Iterable[dict[str, Any]], context: Context | None
    ) -> Iterator[dict[str, Any]]:
        children = self._prefetching_children()
        if not children:
            yield from records
            return
        # A sliding window: a record's children are announced `lookahead` records before
        # the SDK syncs them, so the pool never drains at a batch boundary.
        window: deque[dict[str, Any]] = deque()
        for record in records:
            self._announce_children_of(record, context, children)
            window.append(record)
            if len(window) > self.lookahead:
                yield window.popleft()
        yield from window

    def _announce_partitions_after(self, context: Context | None) -> None:
        order = self._partition_order
        position = order.get(context_key(self.name, context))
        if position is None:
            return
        for upcoming in self._partition_list[position + 1 : position + 1 + self.lookahead]:
            self.announce(upcoming)

    @cached_property
    def _partition_list(self) -> list[dict[str, Any]]:
        return list(self.partitions or []) if self.parent_stream_type is None else []

    @cached_property
    def _partition_order(self) -> dict[Any, int]:
        return {context_key(self.name, p): i for i, p in enumerate(self._partition_list)}

    # --- state --------------------------------------------------------------------

    def save_bookmark(self, context: Context | None, **values: Any) -> None:
        """Store `values` in the partition's state and emit a STATE message at once.

        For bookmarks singer-sdk cannot derive from a record's replication key (a query
        window's upper bound, a label's final status): written beside the SDK's own
        values and flushed immediately, so a killed run resumes after the last finished
        window instead of from the previous run's bookmark.
        """
        if self.failures.holds(self.name, (context or {}).get(ACCOUNT_KEY, "")):
            return  # something under this bookmark was missed this run
        self.get_context_state(context).update(values)
        self.state_manager.is_flushed = False
        self._write_state_message()

    @property
    def lookback(self) -> datetime.timedelta:
        """Setting `lookback_window`: how far before a bookmark each run asks again."""
        return datetime.timedelta(minutes=int(self.config.get("lookback_window", 180)))

    # --- responses ----------------------------------------------------------------

    def validate_response(self, response: requests.Response) -> None:
        """Sort a response into success, retry (429, 5xx, expired token) or fatal."""
        status = response.status_code
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            raise ThrottledError(self.response_error_message(response), response)
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(self.response_error_message(response), response)
        if status in {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN} and self._expired(response):
            self._account_of(response).auth.invalidate(response.request)
            raise ExpiredTokenError(self.response_error_message(response), response)
        if is_denied(response):
            raise DeniedError(self.response_error_message(response), response)
        if status >= HTTPStatus.BAD_REQUEST:
            raise SPAPIRequestError(self.response_error_message(response), response)
        self._decode_json(response)

    def _account_of(self, response: requests.Response) -> Account:
        """The account a response answers (the router noted it on the request)."""
        name = getattr(response.request, "spapi_account", None)
        return self._tap.account_named(name)  # type: ignore[attr-defined]

    @staticmethod
    def _expired(response: requests.Response) -> bool:
        if response.status_code == HTTPStatus.UNAUTHORIZED:
            return True
        error = amazon_error(response)
        text = f"{error.message} {error.details}".lower()
        return any(hint in text for hint in _EXPIRED_HINTS)

    def _decode_json(self, response: requests.Response) -> None:
        """Parse the body once, here, so a 200 with HTML or a cut-off body is retried."""
        try:
            # msgspec parses several times faster than the json/simplejson behind
            # `response.json()`; singer-sdk already depends on it for its writer.
            response.spapi_json = msgspec.json.decode(response.content)  # type: ignore[attr-defined]
        except (msgspec.DecodeError, ValueError):
            message = self.response_error_message(response)
            raise NotJSONError(f"{message}: the body is not JSON", response) from None

    def response_error_message(self, response: requests.Response) -> str:
        """`stream 'x' (operation y): HTTP 400 Code: message (details) [x-amzn-RequestId: …]`."""
        described = amazon_error(response).describe()
        return redact(f"stream '{self.name}' ({self._operation_of(response)}): {described}")

    def _operation_of(self, response: requests.Response) -> str:
        """The operation `response` answers (a stream may call several, e.g. reports)."""
        return self._operation_called(response.request)

    def _operation_called(self, request: requests.PreparedRequest | None) -> str:
        """The operation `request` calls (this stream's own if it cannot tell)."""
        if request is not None and request.url:
            found = load_catalog().match(request.method or "GET", urlsplit(request.url).path)
            if found is not None:
                return found.operation_id
        return self.operation_id

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """Records at `records_jsonpath` of the (already decoded) body, with their account."""
        account = self._account_of(response)
        seller = account.settings.selling_partner_id
        for record in extract_jsonpath(self.records_jsonpath, input=decoded_body(response)):
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
            max_faults=int(self.config.get("max_retries", 8)),
            max_seconds=int(self.config.get("max_retry_seconds", 900)),
        )
        return RequestRetries(
            policy,
            stream=self.name,
            account_named=lambda name: self.account_for({ACCOUNT_KEY: name}),
            operation_called=self._operation_called,
            refused=AccessDeniedError,
            logger=self.logger,
        )

    def backoff_max_tries(self) -> int:
        """First attempt plus setting `max_retries` (faults other than 429s, see retries.py)."""
        return self.retries.policy.max_faults + 1

    def request_decorator(self, func: Any) -> Any:
        """singer-sdk's backoff decorator, with our policy (retries.py)."""
        return self.retries.decorate(
            func, wait_gen=self.backoff_wait_generator, on_backoff=self.backoff_handler
        )

    def backoff_wait_generator(
        self, budget: RetryBudget | None = None
    ) -> Generator[float, Any, None]:
        """How long to wait before retrying, chosen by what went wrong (retries.py)."""
        return waits(budget or self.retries.budget())

    def backoff_handler(self, details: Details) -> None:
        """Log each retry once (retries.py)."""
        self.retries.log_retry(details)
