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
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from requests.auth import AuthBase
from singer_sdk import RESTStream, Stream
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
from tap_spapi.streams.base.pii import schema_without_pii
from tap_spapi.streams.base.read_for_others import EVERY_FIELD, silent_maps
from tap_spapi.streams.base.records import Records
from tap_spapi.wire.client import fill_path, retries_for
from tap_spapi.wire.headers import ACCOUNT_HEADER, account_of
from tap_spapi.wire.responses import decoded_body, error_message, operation_called
from tap_spapi.wire.retries import RequestRetries, waits

if TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context
    from singer_sdk.mapper import StreamMap
    from singer_sdk.singerlib.catalog import SelectionMask
    from singer_sdk.streams._state import StreamStateManager
    from singer_sdk.streams.rest import HTTPRequest, PageContext

    from tap_spapi.amazon.operations import Operation
    from tap_spapi.wire.account import Account
    from tap_spapi.wire.client import SPAPIClient


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

    #: Operation id in Amazon's model; method, path and usage plan come from the catalog.
    operation_id: ClassVar[str]
    #: `{placeholder}` of the operation's path → the context key that fills it.
    path_params: ClassVar[dict[str, str]] = {}
    #: Dotted path of the next-page token in the response body, if the operation pages.
    next_token_path: ClassVar[str | None] = None
    records_jsonpath = "$.payload[*]"
    #: One partition (and bookmark) per account of the run (`partitions`).
    partitioned_by_account: ClassVar[bool] = False
    #: Fetching ahead of the sync (fetch_ahead.py): a per-id stream's requests in the
    #: account's pool while the main thread emits (`prefetch`); a top-level stream's
    #: contexts read from the start of the run (`read_ahead`); a per-id stream's contexts
    #: fetched as soon as they are known, long before its turn (`fetches_early`).
    prefetch: ClassVar[bool] = False
    read_ahead: ClassVar[bool] = False
    fetches_early: ClassVar[bool] = False
    #: The fields that tell records of one query apart as Amazon sends them, if the key
    #: is built in `post_process`; whether pages may repeat a record (containment.py).
    query_keys: ClassVar[tuple[str, ...]] = ()
    pages_may_repeat: ClassVar[bool] = True
    #: Key (or replication key) fields the stream adds itself in `post_process`.
    derived_keys: ClassVar[tuple[str, ...]] = ()
    #: Context keys copied onto every record: the ids a child has through its parent.
    context_keys_on_records: ClassVar[tuple[str, ...]] = ()
    #: Dotted paths of buyer PII, dropped from schema and records unless `include_pii`.
    pii_fields: ClassVar[tuple[str, ...]] = ()
    #: What a kill means for an unsorted stream, said instead of singer-sdk's warning.
    after_a_kill: ClassVar[str] = ""
    #: Streams whose records this stream needs though not their child (shipment_tracking:
    #: the shipments with its identifiers): they and their parents are read when it is.
    needs: ClassVar[tuple[str, ...]] = ()
    #: Read, unselected, only for the selected streams that need it (set by the tap when
    #: the sync starts: read_for_others.py); then it keeps its bookmarks, emits nothing.
    read_for_others: bool = False
    schema = SchemaWithoutUnwantedPII(SCHEMAS)
    # Records are decoded JSON, and the schemas allow additional properties: singer-sdk's
    # conformance pass would change nothing but cost a quarter of the tap's CPU per record
    # (throughput benchmark). A stream that builds records with Python types sets its own.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    url_base = ""  # unused: each account has its own regional endpoint (`get_url`)

    def __init__(self, tap: Tap, **kwargs: Any) -> None:
        """singer-sdk's, with the operation's path and method (some reads are POST)."""
        super().__init__(tap, path=self.operation.path, http_method=self.operation.method, **kwargs)
        self.bookmarks = Bookmarks(self)  # what it keeps in its state beside singer-sdk's
        self.records = Records(self)  # the records in its decoded answers

    # --- the run, and what to call ------------------------------------------------

    @property
    def run(self) -> Run:
        """The run (accounts, pools, clock, failures: run.py): a stream's one way to its tap."""
        run = getattr(self._tap, "run", None)
        assert isinstance(run, Run), f"stream '{self.name}' belongs to a tap without a run"
        return run

    @property
    def settings(self) -> Settings:
        """The tap's settings (the run's, without a run: the schema needs them to discover)."""
        settings = getattr(self._tap, "settings", None)
        assert isinstance(settings, Settings), f"stream '{self.name}' belongs to another tap"
        return settings

    def account_for(self, context: Context | None) -> Account:
        """The selling-partner account `context` belongs to (every context names one)."""
        return self.run.account_named((context or {}).get(ACCOUNT_KEY))

    def client(self, context: Context | None) -> SPAPIClient:
        """The SP-API client of `context`'s account, for calls outside singer-sdk's loop."""
        return self.run.client(self.account_for(context).name)

    @cached_property
    def operation(self) -> Operation:
        """This stream's operation in the generated catalog."""
        return load_catalog()[self.operation_id]

    @override
    def get_url(self, context: Context | None) -> str:
        """The operation's URL at the context's account, `path_params` filled in."""
        values: dict[str, Any] = {}
        for placeholder, key in self.path_params.items():
            assert context is not None, f"{self.name} needs a context for {{{placeholder}}}"
            values[placeholder] = context[key]
        return f"{self.account_for(context).base_url}{fill_path(self.operation.path, values)}"

    @override
    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        """singer-sdk's request, stamped with its account for the router to pace and sign."""
        request = super().get_http_request(page=page)
        request.headers[ACCOUNT_HEADER] = self.account_for(page.stream_context).name
        return request

    @property
    @override
    def requests_session(self) -> requests.Session:
        """This thread's session, through each account's paced, signing adapter."""
        return self.run.sessions.session()

    @property
    @override
    def authenticator(self) -> AuthBase:
        """None here: the router signs each request for its account once it is paced, so a
        request that waited for a token never leaves with a stale one."""
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

    @override
    def get_new_paginator(self) -> BaseAPIPaginator[Any]:
        """A token paginator at `next_token_path`, or a single page."""
        return DecodedBodyPaginator.of(self) if self.next_token_path else SinglePagePaginator()

    @cached_property
    def retries(self) -> RequestRetries:
        """This stream's SP-API calls under the one retry policy (see retries.py)."""
        return retries_for(
            self.run.retry_policy, self.name, self.operation_id, self.run.account_named, self.logger
        )

    @override
    def request_decorator(self, func: Any) -> Any:
        """Our policy in place of singer-sdk's backoff hooks, which only its decorator reads."""
        return self.retries.decorate(func, wait_gen=waits, on_backoff=self.retries.log_retry)

    # --- answers --------------------------------------------------------------------

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Sort a response into success, retry or fatal: the account's client's `check`."""
        client = self.run.client(account_of(response.request) or "")
        client.check(response, self.name, self.operation_id)

    @override
    def response_error_message(self, response: requests.Response) -> str:
        """`stream 'x' (operation y): HTTP 400 Code: message (details) [x-amzn-RequestId: …]`."""
        operation = operation_called(response.request, self.operation_id)
        return error_message(response, self.name, operation)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """Records at `records_jsonpath` of the (already decoded) body, with their account."""
        return self.records.in_body(decoded_body(response), self._account_of(response))

    def _account_of(self, response: requests.Response) -> Account:
        """The account a response answers (the one its request names)."""
        return self.run.account_named(account_of(response.request))

    # --- the sync: its collaborators, each in its module --------------------------------

    @cached_property
    def ahead(self) -> AheadOfSync:
        """This stream's requests run by the run's pools ahead of the sync."""
        return AheadOfSync(self, prefetch=self.prefetch)  # a family may give its own steps

    @cached_property
    def contained(self) -> Containment:
        """What this stream's failures stop."""
        keys = list(self.query_keys or self.primary_keys or [])
        role = getattr(self, "required_role", None)
        return Containment(
            self, per_id=self.prefetch, keys=keys, repeats=self.pages_may_repeat, role=role
        )

    @cached_property
    def required_fields(self) -> list[str]:
        """The fields a record must have (`Records.check`): its key and bookmark fields."""
        needed = [*(self.primary_keys or []), self.replication_key]
        return [f for f in needed if f and f != ACCOUNT_KEY and f not in self.derived_keys]

    def wants(self, context: Context | None) -> bool:
        """Whether `context` needs a request this run (e.g. not a final tracking)."""
        return True

    def abandoned(self, context: Context | None) -> bool:
        """Whether `context`'s account failed or this stream stopped for it this run:
        later windows must not move its bookmark past data that was never read."""
        return self.run.failures.abandoned(self.name, (context or {}).get(ACCOUNT_KEY, ""))

    @property
    @override
    def partitions(self) -> list[dict[str, Any]] | None:
        """One per account with `partitioned_by_account`, else singer-sdk's (from state)."""
        if self.partitioned_by_account:
            return [{ACCOUNT_KEY: name} for name in self.run.accounts]
        return super().partitions

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Records of `context`, failures contained (`Containment.records`)."""
        yield from self.contained.records(context)

    @override
    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        """The record as loaded (`Records.finish`: context keys, PII). Streams that shape
        records further call this last."""
        return self.records.finish(row, context)

    @property
    @override
    def state_manager(self) -> StreamStateManager:
        """singer-sdk's manager, made as it makes it, found by index (bookmarks.py)."""
        if self._state_manager is None:
            self._state_manager = indexed_state_manager(self)
        return self._state_manager

    @override
    def finalize_state_progress_markers(self, state: dict[str, Any] | None = None) -> None:
        """singer-sdk's, then the accounts this stream succeeded for are noted (state.py)."""
        super().finalize_state_progress_markers(state)
        self.contained.note_succeeded()

    # --- selection: `read_for_others` widens singer-sdk's (read_for_others.py) --------

    # mypy asks for @override on the decorator line of a property that has a setter.
    @property  # type: ignore[explicit-override]
    @override
    def selected(self) -> bool:
        """Selected in the catalog, or `read_for_others`."""
        return self.catalog_selected or self.read_for_others

    @selected.setter
    def selected(self, value: bool | None) -> None:
        vars(Stream)["selected"].__set__(self, value)  # singer-sdk's setter

    @property
    def catalog_selected(self) -> bool:
        """Whether the catalog selects this stream (singer-sdk's `selected`)."""
        return bool(super().mask.get((), True))

    @property
    @override
    def mask(self) -> SelectionMask:
        """singer-sdk's selection of fields; every field while `read_for_others` (the SDK
        drops unselected fields from a record before it moves the bookmark by it)."""
        return EVERY_FIELD if self.read_for_others else super().mask

    @property
    @override
    def stream_maps(self) -> list[StreamMap]:
        """singer-sdk's maps; one that writes nothing while `read_for_others`."""
        return self._silent_maps if self.read_for_others else super().stream_maps

    @cached_property
    def _silent_maps(self) -> list[StreamMap]:
        return silent_maps(self)
