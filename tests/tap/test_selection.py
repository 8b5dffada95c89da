"""A stream selected alone is complete: the streams it needs are read, not emitted, and
keep bookmarks of their own until they are selected themselves."""

from __future__ import annotations

from typing import Any

import pytest

from spapi_standin import StandIn
from tap_spapi.runtime.state import READ_WITHOUT_OUTPUT
from testkit import every_stream, expected_keys, key_of, run_tap, tap_config

TRACKING = "shipment_tracking"
SOURCES = ("outbound_orders", "outbound_shipments", "inbound_plans", "inbound_plan_shipments")


def _keys(output: Any, stream: str) -> set[Any]:
    return {key_of(stream, record) for record in output.records(stream)}


@pytest.fixture
def standin() -> Any:
    with StandIn(every_stream()) as server:
        yield server


def test_shipment_tracking_selected_alone_tracks_every_identifier_and_emits_nothing_else(
    standin: StandIn,
) -> None:
    config = tap_config(standin)
    output = run_tap(config, streams={TRACKING})
    expected = expected_keys(standin.dataset)[TRACKING]
    kinds = {kind for kind, _ in expected}
    assert {"aftn", "carrierTracking"} <= kinds  # MCF packages and inbound boxes
    assert _keys(output, TRACKING) == expected
    messages = {(m["type"], m.get("stream")) for m in output.messages if m["type"] != "STATE"}
    assert {stream for _, stream in messages} == {TRACKING}
    bookmarks = output.states[-1]["bookmarks"]
    for source in SOURCES:
        assert bookmarks[source][READ_WITHOUT_OUTPUT] is True
    (orders,) = bookmarks["outbound_orders"]["partitions"]
    assert orders["replication_key_value"]  # read incrementally from now on

    # The next run reads the sources from their bookmarks, not their whole history.
    details_first = standin.stats.count("getFulfillmentOrder")
    standin.dataset.touch("outbound_orders", 2)
    again = run_tap(config, streams={TRACKING}, state=output.states[-1])
    assert standin.stats.count("getFulfillmentOrder") - details_first < details_first / 4
    assert {m.get("stream") for m in again.messages if m["type"] == "RECORD"} <= {TRACKING}

    # Selected later, a source starts afresh: every order is emitted once.
    both = run_tap(config, streams={TRACKING, "outbound_orders"}, state=again.states[-1])
    assert _keys(both, "outbound_orders") == expected_keys(standin.dataset)["outbound_orders"]
    final = both.states[-1]["bookmarks"]
    assert READ_WITHOUT_OUTPUT not in final["outbound_orders"]
    # Its earlier success stays known: a 403 now is an outage, not a missing role.
    assert final["outbound_orders"]["succeeded_for"] == ["default"]
    assert final["outbound_shipments"][READ_WITHOUT_OUTPUT] is True  # still not selected


def test_a_child_selected_alone_keeps_its_parents_bookmarks(standin: StandIn) -> None:
    # singer-sdk reads the parents of a selected child without emitting them, and would
    # read their whole history again every run; here they keep (marked) bookmarks.
    config = tap_config(standin)
    output = run_tap(config, streams={"outbound_package_tracking"})
    stream = "outbound_package_tracking"
    assert _keys(output, stream) == expected_keys(standin.dataset)[stream]
    assert output.streams == {stream}
    bookmarks = output.states[-1]["bookmarks"]
    assert bookmarks["outbound_orders"][READ_WITHOUT_OUTPUT] is True
    assert bookmarks["outbound_orders"]["partitions"][0]["replication_key_value"]
    assert TRACKING not in bookmarks  # nothing noted for an unselected tracking stream
