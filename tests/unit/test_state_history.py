"""What the state says of a stream's earlier successes (`succeeded_for`, state.py): the
history that tells a role never granted from an outage when Amazon answers 403."""

from __future__ import annotations

from typing import Any

from tap_spapi.runtime.state import SUCCEEDED_FOR, note_succeeded, shape_error, succeeded_accounts


def test_a_partition_with_a_bookmark_of_its_own_shows_its_account_succeeded() -> None:
    stream_state: dict[str, Any] = {
        "partitions": [
            {"context": {"account": "windowed"}, "window_end": "2026-01-01T00:00:00+00:00"},
            {
                "context": {"account": "keyed", "marketplace_id": "M"},
                "replication_key_value": "2026-01-01T00:00:00Z",
            },
            # Identifiers noted by a parent, a final shipment: no request of its own answered.
            {"context": {"account": "noted"}, "open": {"aftn": {"A1": -1}}},
            {"context": {"account": "shipments"}, "final_shipments": {"S1": 1}},
        ]
    }
    assert succeeded_accounts(stream_state) == {"windowed", "keyed"}
    assert succeeded_accounts({}) == set()


def test_accounts_without_a_bookmark_are_noted_once_each_and_sorted() -> None:
    stream_state: dict[str, Any] = {
        "partitions": [{"context": {"account": "b"}, "replication_key_value": "2026-01-01"}]
    }
    assert note_succeeded(stream_state, ["c", "b", "a"])
    assert stream_state[SUCCEEDED_FOR] == ["a", "c"]  # b shows it by its bookmark
    assert not note_succeeded(stream_state, ["a", "b", "c"])  # nothing new: unchanged
    assert note_succeeded(stream_state, ["d"])
    assert stream_state[SUCCEEDED_FOR] == ["a", "c", "d"]
    assert succeeded_accounts(stream_state) == {"a", "b", "c", "d"}


def test_a_marker_that_is_not_a_list_of_names_is_refused() -> None:
    assert shape_error("s", {SUCCEEDED_FOR: ["default"]}) is None
    for bad in ("default", ["default", 1], {"default": True}):
        assert shape_error("s", {SUCCEEDED_FOR: bad}) == (
            "stream 's' succeeded_for must be a list of account names"
        )
