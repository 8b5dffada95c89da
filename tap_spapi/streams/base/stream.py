"""`SPAPIStream`: the base every stream inherits.

It turns an operation id into method, path and usage plan (from the generated catalog),
sends requests through the account's paced, authenticated session and parses pages.
The request loop itself is singer-sdk's; only its hooks are overridden here. What an
answer means is responses.py's; the stream's collaborators, each in its module, fetch
ahead (fetch_ahead.py), contain failures (containment.py), keep bookmarks
(bookmarks.py) and find records in answers (records.py); reading ids a notification
named is notified.py's, reading a stream only for others read_for_others.py's; and the
run's state is run.py's, reached through `SPAPIStream.run`.
"""

from __future__ import annotations

import importlib.resources
import logging
import sys
import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from requests.auth import AuthBase
from singer_sdk import RESTStream, Stream
from singer_sdk.exceptions import AbortedSyncExceptionBase
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.pagination import BaseAPIPaginator, SinglePagePaginator
from singer_sdk.schema.source import SchemaDirectory, StreamSchema
from typing_extensions import override

from tap_spapi.amazon.operations import load_catalog
from tap_spapi.config.settings import Settings
from tap_spapi.keys import ACCOUNT_KEY
from tap_spapi.runtime.run import Run
from tap_spapi.streams.base.bookmarks import Bookmarks, indexed_state_manager
from tap_spapi.streams.base.containment import Containment
from tap_spapi.streams.base.fetch_ahead import AheadOfSync
from tap_spapi.streams.base.paging import DecodedBodyPaginator
from tap_spapi.streams.base.pii import drop_pii, schema_without_pii
from tap_spapi.streams.base.read_for_others import EVERY_FIELD, silent_maps
from tap_spapi.streams.base.records import Records
from tap_spapi.wire.client import fill_path
from tap_spapi.wire.headers import ACCOUNT_HEADER, account_of
from tap_spapi.wire.responses import (
    AccessDeniedError,
    decoded_body,
    error_message,
    operation_called,
)
from tap_spapi.wire.retries import (
    RequestRetries,
    RetryBudget,
    waits,
)
from tap_spapi.wire.transport import paced_session

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable

    import requests
    from backoff.types import Details
    from singer_sdk.helpers.types import Context
    from singer_sdk.mapper import StreamMap
    from singer_sdk.singerlib.catalog import SelectionMask
    from singer_sdk.streams._state import StreamStateManager
    from singer_sdk.streams.rest import HTTPRequest, PageContext

    from tap_spapi.amazon.operations import Operation
    from tap_spapi.runtime.failures import RunFailures
    from tap_spapi.wire.account import Account
    from tap_spapi.wire.client import SPAPIClient
    from tap_spapi.wire.pacing import OperationLane


class _Unchanged(AuthBase):
    @override
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


_UNCHANGED = _Unchanged()
# Generated from Amazon's models by scripts/generate_from_models.py; shipped in the wheel.
SCHEMAS = SchemaDirectory(importlib.resources.files("tap_spapi.amazon") / "schemas")
LOGGER = logging.getLogger("tap-spapi")


class SchemaWithoutUnwantedPII(StreamSchema):
    """The stream's generated schema, minus its `pii_fields` unless `include_pii` is on.

    Records lose those fields (see `SPAPIStream.post_process`), so the columns are not
    declared either: a warehouse gets no always-null PII column it might later trust.
    """

    @override
    def get_stream_schema(self, stream: Any, stream_class: Any) -> dict[str, Any]:
        schema: dict[str, Any] = super().get_stream_schema(stream, stream_class)
        fields = getattr(stream, "pii_fields", ())
        if not fields or stream.settings.include_pii:
            return schema
        return schema_without_pii(schema, fields)


class SPAPIStream(RESTStream[str]):
    """A stream backed by one SP-API operation.

    Its collaborators: the account's client (`client`) for calls outside singer-sdk's
    loop, `ahead` for the requests the run's pools make before the sync asks,
    `contained` for what a failure stops, `bookmarks` for what it keeps in its state
    beside singer-sdk's values, and `records` for the records in Amazon's answers.
    """

    #: Per-id streams (children, per-label partitions): requests fetched ahead in the
    #: account's worker pool while the main thread emits (runtime/pools.py).
    prefetch: ClassVar[bool] = False
    #: Top-level streams whose contexts are known at the start of the run: read ahead
    #: while earlier streams sync (`start_reading`).
    read_ahead: ClassVar[bool] = False
    #: Per-id streams synced after others whose contexts are known before their turn
    #: (labels and identifiers listed or left open, identifiers noted by a parent): each
    #: fetched as soon as it is known (`AheadOfSync.fetch_early`), within the plan.
    fetches_early: ClassVar[bool] = False
    #: The fields that tell records of one query apart as Amazon sends them, where the
    #: primary key is only built in `post_process` (default: the primary key).
    query_keys: ClassVar[tuple[str, ...]] = ()
    #: Whether one query's pages may repeat a record (`Containment.once_per_key`).
    pages_may_repeat: ClassVar[bool] = True
    #: An unsorted stream's (singer-sdk keeps its new bookmark as a progress marker until
    #: it completes): what a run killed mid-way means for it, said here and in the docs
    #: instead of singer-sdk's warning on every run (progress.py).
    after_a_kill: ClassVar[str] = ""
    #: Streams whose records this stream needs though not their child (shipment_tracking:
    #: the shipments with its identifiers): they and their parents are read when it is.
    needs: ClassVar[tuple[str, ...]] = ()
    #: Operation id in Amazon's model; method, path and usage plan come from the catalog.
    operation_id: ClassVar[str]
    #: `{placeholder}` of the operation's path → the context key that fills it.
    path_params: ClassVar[dict[str, str]] = {}
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
    # Records are decoded JSON, and the schemas allow additional properties: singer-sdk's
    # conformance pass would change nothing but cost a quarter of the tap's CPU per record
    # (throughput benchmark). A stream that builds records with Python types sets its own.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    # --- what to call -------------------------------------------------------------

    def account_for(self, context: Context | None) -> Account:
        """The selling-partner account `context` belongs to (every context names one)."""
        return self.run.account_named((context or {}).get(ACCOUNT_KEY))

    def account_name(self, context: Context | None) -> str:
        """The name of the account `context` belongs to."""
        return self.account_for(context).name

    def fetch_lane(self, context: Context | None) -> OperationLane | None:
        """The usage plan `context`'s fetch first waits on (the pool runs first the fetch
        whose plan has a token soonest): this stream's operation at its account."""
        return self.account_for(context).limiter.lane(self.operation_id)

    @cached_property
    def operation(self) -> Operation:
        """This stream's operation in the generated catalog."""
        return load_catalog()[self.operation_id]

    @property
    @override
    def url_base(self) -> str:
        """Unused: each context's account has its own regional endpoint (`get_url`)."""
        return ""

    @property
    @override
    def path(self) -> str:  # type: ignore[override]
        """The operation's path template; `{param}`s are filled from the context."""
        return self.operation.path

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
        """This thread's session (`requests.Session` is not thread-safe), routed through
        each account's paced, signing adapter; they share the tap's router and the
        accounts' adapters (connection pool, limiter, auth), which are thread-safe."""
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

    def client(self, context: Context | None) -> SPAPIClient:
        """The SP-API client of `context`'s account, for calls outside singer-sdk's loop
        (a report's several operations, a notified id's get operation)."""
        return self.run.client(self.account_for(context).name)

    @property
    def settings(self) -> Settings:
        """The tap's settings, parsed once (the run's, without starting a run: the schema
        needs them at discovery)."""
        settings = getattr(self._tap, "settings", None)
        assert isinstance(settings, Settings), f"stream '{self.name}' belongs to another tap"
        return settings

    @property
    def run(self) -> Run:
        """The run (accounts, pools, clock, failures: run.py): a stream's one way to its tap."""
        run = getattr(self._tap, "run", None)
        assert isinstance(run, Run), f"stream '{self.name}' belongs to a tap without a run"
        return run

    # --- the sync: its collaborators, each in its module --------------------------------

    @cached_property
    def ahead(self) -> AheadOfSync:
        """This stream's requests run by the run's pools ahead of the sync."""
        return AheadOfSync(self, prefetch=self.prefetch)

    @cached_property
    def contained(self) -> Containment:
        """What this stream's failures stop."""
        keys = list(self.query_keys or self.primary_keys or [])
        role = getattr(self, "required_role", None)
        return Containment(
            self, per_id=self.prefetch, keys=keys, repeats=self.pages_may_repeat, role=role
        )

    @cached_property
    def bookmarks(self) -> Bookmarks:
        """What this stream writes to its state beside singer-sdk's values."""
        return Bookmarks(self)

    @cached_property
    def records(self) -> Records:
        """The records in this stream's decoded answers."""
        return Records(self)

    @cached_property
    def required_fields(self) -> list[str]:
        """The fields a record must have (`Records.check`): its key and bookmark fields."""
        needed = [*(self.primary_keys or []), self.replication_key]
        return [f for f in needed if f and f != ACCOUNT_KEY and f not in self.derived_keys]

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Records of `context`, failures contained (`Containment.records`)."""
        yield from self.contained.records(context)

    @override
    def finalize_state_progress_markers(self, state: dict[str, Any] | None = None) -> None:
        """singer-sdk's, then the accounts this stream succeeded for are noted (state.py)."""
        super().finalize_state_progress_markers(state)
        self.contained.note_succeeded()

    def records_of(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """`context`'s records, as fetched ahead or now (`AheadOfSync.records_of`)."""
        return self.ahead.records_of(context)

    def wants(self, context: Context | None) -> bool:
        """Whether `context` needs a request this run (e.g. not a final tracking)."""
        return True

    def announce(self, context: Context | None) -> None:
        """Fetch `context` in the account's pool for the sync to take (`AheadOfSync`)."""
        self.ahead.submit(context)

    def fetch_ahead(self, context: Context | None) -> list[dict[str, Any]]:
        """In a worker: `context`'s records, their children announced."""
        return self.ahead.fetched_with_children(
            context, lambda: list(self.request_records(context))
        )

    def start_reading(self) -> None:
        """With `read_ahead`: announce every context of this run to the readers."""
        self.ahead.start_reading()

    def read_ahead_contexts(self) -> list[Context | None]:
        """The contexts `get_records` will fetch this run, in order (default: partitions)."""
        return [*self.partitions] if self.partitions else [None]

    @property
    def failures(self) -> RunFailures:
        """The run's failures (see failures.py)."""
        return self.run.failures

    def abandoned(self, context: Context | None) -> bool:
        """Whether `context`'s account failed or this stream stopped for it this run:
        later windows must not move its bookmark past data that was never read."""
        return self.failures.abandoned(self.name, (context or {}).get(ACCOUNT_KEY, ""))

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
        vars(Stream)["selected"].__set__(self, value)  # singer-sdk's setter

    @property
    def catalog_selected(self) -> bool:
        """Whether the catalog selects this stream (singer-sdk's `selected`)."""
        return bool(super().mask.get((), True))

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
        return EVERY_FIELD if self.read_for_others else super().mask

    @property
    @override
    def stream_maps(self) -> list[StreamMap]:
        """singer-sdk's maps; none that writes anything while `read_for_others`."""
        return self._silent_maps if self.read_for_others else super().stream_maps

    @cached_property
    def _silent_maps(self) -> list[StreamMap]:
        return silent_maps(self)

    # --- records ----------------------------------------------------------------------

    def account_partitions(self) -> list[dict[str, Any]]:
        """One partition per account of the run (top-level streams queried per account)."""
        return [{ACCOUNT_KEY: name} for name in self.run.accounts]

    @property
    @override
    def partitions(self) -> list[dict[str, Any]] | None:
        """One per account with `partitioned_by_account`, else singer-sdk's (from state)."""
        return self.account_partitions() if self.partitioned_by_account else super().partitions

    @override
    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        """Copy `context_keys_on_records` from the context; drop `pii_fields` unless
        `include_pii`. Streams that shape records further call this last."""
        for key in self.context_keys_on_records:
            row[key] = (context or {}).get(key)
        return drop_pii(row, self.pii_fields, keep=self.run.settings.include_pii)

    @property
    @override
    def state_manager(self) -> StreamStateManager:
        """singer-sdk's manager, made as it makes it, found by index (bookmarks.py)."""
        if self._state_manager is None:
            self._state_manager = indexed_state_manager(self)
        return self._state_manager

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
        """Sort a response into success, retry or fatal: the account's client's `check`."""
        self.run.client(self._account_of(response).name).check(
            response, self.name, self.operation_id
        )

    def _account_of(self, response: requests.Response) -> Account:
        """The account a response answers (the one its request names)."""
        return self.run.account_named(account_of(response.request))

    @override
    def response_error_message(self, response: requests.Response) -> str:
        """`stream 'x' (operation y): HTTP 400 Code: message (details) [x-amzn-RequestId: …]`."""
        return error_message(response, self.name, self._operation_called(response.request))

    def _operation_called(self, request: requests.PreparedRequest | None) -> str:
        """The operation `request` calls (a stream may call several, e.g. reports; this
        stream's own if it cannot tell)."""
        return operation_called(request, self.operation_id)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """Records at `records_jsonpath` of the (already decoded) body, with their account."""
        return self.records.in_body(decoded_body(response), self._account_of(response))

    # --- retries: singer-sdk's hooks, delegating to the one policy (retries.py) --------

    @cached_property
    def retries(self) -> RequestRetries:
        """This stream's SP-API calls under the one retry policy (see retries.py)."""
        return RequestRetries(
            self.run.retry_policy,
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
