"""The SDK's private members the tap relies on, and what it relies on them to do.

singer-sdk gives no promise about its underscored names. The tap uses a few of them where
the public API has no hook (see each test's docstring for where and why). When an SDK
upgrade renames or changes one, a test here fails with the member's name, instead of the
tap failing on a live account. The static half of the contract is mypy's
`explicit-override` check (pyproject's `[tool.mypy]`): every method that overrides one of
the SDK's carries `@override`, so a renamed hook is a type error, not a silent no-op.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import pytest
import requests
from singer_sdk import Stream, Tap
from singer_sdk.pagination import JSONPathPaginator
from singer_sdk.plugin_base import PluginBase
from singer_sdk.streams import RESTStream
from singer_sdk.streams._state import StreamStateManager
from typing_extensions import override

from tap_spapi.runtime.state import IndexedStateManager, PacedStateWriter
from tap_spapi.tap import TapSpapi
from testkit import tap_config

if TYPE_CHECKING:
    from spapi_standin.server import StandIn


@pytest.fixture
def tap(standin: StandIn) -> TapSpapi:
    return TapSpapi(config=tap_config(standin))


def a_stream(tap: TapSpapi) -> Stream:
    return next(iter(tap.streams.values()))


def test_stream_keeps_its_tap_as_underscore_tap(tap: TapSpapi) -> None:
    """Streams reach the run through `Stream._tap` (the SDK has no public accessor)."""
    for stream in tap.streams.values():
        assert stream._tap is tap


def test_tap_streams_property_returns_the_cached_underscore_streams(tap: TapSpapi) -> None:
    """`TapSpapi.streams` reorders the SDK's streams by assigning `Tap._streams`, which the
    SDK's own `streams` property must then return as it is (it sorts by name otherwise)."""
    reordered = dict(reversed(list(tap.streams.items())))
    tap._streams = reordered
    assert Tap.streams.fget(tap) is reordered  # type: ignore[attr-defined]


def test_validate_config_is_the_hook_the_constructor_calls() -> None:
    """`TapSpapi._validate_config` runs our checks (naming the setting, never echoing a
    secret) before the SDK's JSON-schema validation; `Tap._config` is the raw config."""
    signature = inspect.signature(PluginBase._validate_config)
    assert signature.parameters["raise_errors"].kind is inspect.Parameter.KEYWORD_ONLY
    assert "self._validate_config(" in inspect.getsource(PluginBase.__init__)
    assert "self._config" in inspect.getsource(PluginBase.__init__)


def test_validate_config_sees_the_raw_config(standin: StandIn) -> None:
    seen: dict[str, Any] = {}

    class Probe(TapSpapi):
        @override
        def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
            seen.update(self._config)
            return super()._validate_config(raise_errors=raise_errors)

    config = tap_config(standin)
    Probe(config=config)
    assert seen["client_id"] == config["client_id"]


def test_request_sends_a_prepared_request_through_the_session() -> None:
    """`SPAPIStream` sends its own prepared requests (createReport, RDT) through
    `RESTStream._request` wrapped in `request_decorator`: the SDK's retries and metrics."""
    parameters = list(inspect.signature(RESTStream._request).parameters)
    assert parameters == ["self", "prepared_request", "context"]
    source = inspect.getsource(RESTStream._request)
    assert "self.requests_session.send(" in source
    assert "self.validate_response(" in source


def test_a_paginator_counts_its_pages_in_underscore_page_count() -> None:
    """`DecodedBodyPaginator.advance` asks a page again by taking it off `_page_count`
    (the SDK counted it as read)."""
    paginator = JSONPathPaginator("$.next")
    answer = requests.Response()
    answer._content = b'{"next": "PAGE-TWO"}'
    paginator.advance(answer)
    assert paginator._page_count == 1 == paginator.count
    paginator._page_count -= 1
    assert paginator.count == 0


def test_stream_selected_is_a_property_with_a_setter() -> None:
    """`SPAPIStream.selected` widens singer-sdk's getter and keeps its setter, which it
    reaches as `vars(Stream)["selected"]`."""
    selected = vars(Stream)["selected"]
    assert isinstance(selected, property)
    assert selected.fset is not None


def test_jsonpath_paginator_keeps_its_path_as_underscore_jsonpath() -> None:
    """`DecodedBodyPaginator` reads `_jsonpath` to match on the already decoded body."""
    assert JSONPathPaginator("$.payload.NextToken")._jsonpath == "$.payload.NextToken"


def test_write_state_message_writes_once_until_marked_unflushed(
    tap: TapSpapi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`save_bookmark` sets `state_manager.is_flushed = False` and calls
    `_write_state_message()`, so a window's bookmark is on stdout before the next window."""
    stream = a_stream(tap)
    assert isinstance(stream.state_manager, StreamStateManager)
    written: list[dict[str, Any]] = []
    monkeypatch.setattr(tap.state_writer, "write_state", written.append)
    stream.state_manager.is_flushed = False
    stream._write_state_message()
    stream._write_state_message()
    assert len(written) == 1
    assert stream.state_manager.is_flushed is True


def test_the_tap_s_state_writer_is_underscore_state_writer_and_sync_all_uses_it(
    tap: TapSpapi,
) -> None:
    """`TapSpapi.__init__` replaces `Tap._state_writer` with `PacedStateWriter`: the
    `state_writer` property must return it, and `sync_all` (the state it starts from)
    and the SIGTERM handler (the state when killed) must write through it."""
    assert isinstance(tap._state_writer, PacedStateWriter)
    assert tap.state_writer is tap._state_writer
    assert "self._state_writer.write_state(self.state)" in inspect.getsource(Tap.sync_all)
    assert "self._state_writer.write_state(" in inspect.getsource(Tap._handle_termination)
    assert "self._tap.state_writer.write_state(" in inspect.getsource(Stream._write_state_message)


def test_state_manager_is_made_from_underscore_members_and_holds_every_lookup(
    tap: TapSpapi,
) -> None:
    """`SPAPIStream.state_manager` makes `IndexedStateManager` as singer-sdk's property
    makes its manager (from `Stream._state_manager` and `Stream._tap_state`), and every
    partition lookup of the SDK goes through the manager's `get_context_state`."""
    source = inspect.getsource(Stream.state_manager.fget)  # type: ignore[attr-defined]
    assert "self._state_manager = StreamStateManager(" in source
    for argument in ("tap_name", "stream_name", "tap_state=self._tap_state",
                     "state_partitioning_keys", "is_sorted", "check_sorted"):  # fmt: skip
        assert argument in source, argument
    assert "self.state_manager.get_context_state(context)" in inspect.getsource(
        Stream.get_context_state
    )
    stream = a_stream(tap)
    assert isinstance(stream.state_manager, IndexedStateManager)
    assert stream.state_manager.tap_state is tap.state


def test_indexed_partitions_are_singer_sdk_s_partitions() -> None:
    """Lookups find the entries singer-sdk (or anyone) appended, create what is missing
    where singer-sdk would, and follow a list that was replaced."""
    state: dict[str, Any] = {"bookmarks": {"s": {"partitions": [{"context": {"a": 1}}]}}}
    manager = IndexedStateManager(stream_name="s", tap_state=state)
    partitions = state["bookmarks"]["s"]["partitions"]
    assert manager.get_context_state({"a": 1}) is partitions[0]
    partitions.append({"context": {"a": 2}, "replication_key_value": "x"})
    assert manager.get_context_state({"a": 2})["replication_key_value"] == "x"
    created = manager.get_context_state({"a": 3})
    assert partitions[-1] is created and created == {"context": {"a": 3}}
    state["bookmarks"]["s"]["partitions"] = [{"context": {"a": 1}, "v": 1}]
    assert manager.get_context_state({"a": 1}) == {"context": {"a": 1}, "v": 1}
    assert manager.get_context_state(None) is state["bookmarks"]["s"]


def test_write_schema_message_sends_each_map_s_transformed_schema(
    tap: TapSpapi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report with columns the tap does not know widens `stream_map.transformed_schema`
    in place and re-sends the SCHEMA with `_write_schema_message()`."""
    stream = a_stream(tap)
    sent: list[Any] = []
    monkeypatch.setattr(tap, "write_message", sent.append)
    for stream_map in stream.stream_maps:
        stream_map.transformed_schema["properties"]["x_contract_column"] = {"type": ["string"]}
    stream._write_schema_message()
    assert sent, "no SCHEMA message written"
    assert all("x_contract_column" in message.schema["properties"] for message in sent)


def test_a_stream_read_for_others_writes_nothing_but_moves_its_bookmark() -> None:
    """`SPAPIStream.read_for_others` relies on singer-sdk as follows: `selected` is the
    mask's root (`Stream.mask.fget`, `Stream.selected.fset`); a `RemoveRecordTransform`
    map writes no SCHEMA and no RECORD; children are synced when the first map's
    `get_filter_result` is true; unselected fields are popped from the record (by the
    mask) before the bookmark moves by it; a selected record increments the state."""
    assert "self.mask.get((), True)" in inspect.getsource(Stream.selected.fget)  # type: ignore[attr-defined]
    assert Stream.selected.fset is not None  # type: ignore[attr-defined]
    schema_messages = inspect.getsource(Stream._generate_schema_messages)
    assert "isinstance(stream_map, RemoveRecordTransform)" in schema_messages
    record_messages = inspect.getsource(Stream._generate_record_messages)
    assert "pop_deselected_record_properties(record, self.schema, self.mask)" in record_messages
    assert "stream_map.transform(record)" in record_messages
    process = inspect.getsource(Stream._process_record)
    assert "self.stream_maps[0].get_filter_result(record)" in process
    sync_records = inspect.getsource(Stream._sync_records)
    write = sync_records.index("self._write_record_message(record)")
    assert sync_records.index("self._increment_stream_state(record", write) > write
    assert "selected = self.selected" in sync_records


def test_sync_all_ends_each_top_level_stream_with_finalize_state_progress_markers() -> None:
    """shipment_tracking forgets what is past its grace period, and every stream notes
    the accounts it succeeded for (containment.py), in overrides of
    `finalize_state_progress_markers`, which `Tap.sync_all` calls after each top-level
    stream's `sync` (itself final) with no state, and which calls its selected children's."""
    source = inspect.getsource(Tap.sync_all)
    assert source.index("stream.finalize_state_progress_markers()") > source.index("stream.sync()")
    finalize = inspect.getsource(Stream.finalize_state_progress_markers)
    assert "child_stream.finalize_state_progress_markers()" in finalize
