"""The order streams sync in: parents first, the slowest usage plan last.

singer-sdk writes records stream by stream in the order of the tap's streams, so a
stream that waits on a slow plan holds back the output of every stream after it.
`tests/tap/test_storms.py` shows it on a run under a 429 storm; this checks the order
against the plans of the generated catalog, so a new stream or plan cannot undo it.
"""

from __future__ import annotations

import pytest

from tap_spapi.amazon.operations import load_catalog
from tap_spapi.config.settings import MCF_2026
from tap_spapi.streams.base.stream import SPAPIStream
from tap_spapi.tap import TapSpapi

CONFIG = {"client_id": "x", "client_secret": "y", "refresh_token": "z"}


def family_rate(stream: SPAPIStream, streams: list[SPAPIStream]) -> float:
    """The slowest plan (requests/s) among the operations of `stream` and its descendants:
    the plan its sync, children included, may wait on."""
    children = [other for other in streams if other.parent_stream_type is type(stream)]
    own = load_catalog()[stream.operation_id].rate
    return min([own, *(family_rate(child, streams) for child in children)])


@pytest.mark.parametrize("mcf", ["2020-07-01", MCF_2026])
def test_the_stream_with_the_slowest_usage_plan_syncs_last_and_parents_before_children(mcf: str):
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/spapi"
    tap = TapSpapi(config={**CONFIG, "mcf_api_version": mcf, "notifications_queue_url": queue})
    streams = [stream for stream in tap.streams.values() if isinstance(stream, SPAPIStream)]
    assert len(streams) == len(tap.streams)
    # Last of all, `notifications`: it makes no request but reads the queue, and records
    # as processed what every stream before it emitted (streams/notifications.py).
    assert streams.pop().name == "notifications"
    position: dict[type, int] = {type(stream): index for index, stream in enumerate(streams)}
    for stream in streams:
        if stream.parent_stream_type is not None:
            assert position[stream.parent_stream_type] < position[type(stream)], stream.name

    top_level = [stream for stream in streams if stream.parent_stream_type is None]
    rates = {stream.name: family_rate(stream, streams) for stream in top_level}
    slowest = min(rates.values())
    assert top_level[-1].name == "orders"  # searchOrders, 0.0056/s
    assert rates["orders"] == slowest
    assert [name for name, rate in rates.items() if rate == slowest] == ["orders"]
    # Its children (embedded in its pages) follow it: nothing syncs after the family.
    assert {stream.name for stream in streams[position[type(top_level[-1])] :]} == {
        "orders",
        "order_items",
        "order_packages",
    }
