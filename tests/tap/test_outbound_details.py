"""MCF order items, returns and return authorizations: the rest of each order's
getFulfillmentOrder answer, read with the shipments' request and no other."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pii_leaks import leaked

from spapi_standin import StandIn, StandInConfig
from tap_spapi.runtime.shared_bodies import SharedBodies
from testkit import SingerOutput, expected_keys, key_of, run_tap, select_only, tap_config

# The data set of the suite's `standin` fixture: a worker builds it once, and each
# stand-in here gets a copy of its own (a test's changes stay its own).
SEED = 11
DETAIL_STREAMS = ("outbound_order_items", "outbound_returns", "outbound_return_authorizations")
UNAUTHORIZED = {"errors": [{"code": "Unauthorized", "message": "Access denied.", "details": ""}]}


def emitted(output: SingerOutput, stream: str) -> set[Any]:
    return {key_of(stream, record) for record in output.records(stream)}


@pytest.mark.parametrize(
    "selected",
    [
        {"outbound_orders", "outbound_shipments", *DETAIL_STREAMS},
        {"outbound_orders", *DETAIL_STREAMS},  # without shipments: one of them fetches
        {"outbound_orders", "outbound_returns"},
    ],
    ids=["with-shipments", "without-shipments", "returns-only"],
)
def test_each_order_costs_one_get_fulfillment_order_however_many_siblings_read_it(
    selected: set[str],
):
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        config = tap_config(server, max_concurrency=4)
        output = run_tap(config, catalog=select_only(config, selected))
        orders = len(server.dataset.outbound_orders)
        assert server.stats.count("getFulfillmentOrder") == orders
        expected = expected_keys(server.dataset)
    for stream in selected:
        assert expected[stream], f"the stand-in has no {stream} data"
        assert emitted(output, stream) == expected[stream], stream


def test_the_sequential_mode_shares_the_answer_too():
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        config = tap_config(server, max_concurrency=1)
        streams = {"outbound_orders", "outbound_shipments", *DETAIL_STREAMS}
        output = run_tap(config, catalog=select_only(config, streams))
        assert server.stats.count("getFulfillmentOrder") == len(server.dataset.outbound_orders)
        expected = expected_keys(server.dataset)
    for stream in DETAIL_STREAMS:
        assert emitted(output, stream) == expected[stream], stream


def test_an_order_refused_for_good_fails_in_each_sibling_and_the_others_complete():
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        # An order with returns, so every sibling has something it misses.
        refused = next(
            order_id
            for order_id, detail in server.dataset.outbound_details.items()
            if detail.get("returnItems")
        )
        config = tap_config(server, max_concurrency=4)
        streams = {"outbound_orders", "outbound_shipments", *DETAIL_STREAMS}
        catalog = select_only(config, streams)
        # First succeed once, so the 403 is one refused id, not a missing role.
        server.inject(
            "getFulfillmentOrder", status=403, times=1000, body=UNAUTHORIZED, matching=refused
        )
        output = run_tap(config, catalog=catalog)
        expected = expected_keys(server.dataset)
        assert (
            server.stats.count("getFulfillmentOrder", "200") == len(expected["outbound_orders"]) - 1
        )
    assert output.failures is not None
    failed = {stream for stream, _ in output.failures.failed_contexts}
    assert failed == {"outbound_shipments", *DETAIL_STREAMS}
    for stream in DETAIL_STREAMS:
        missed = {key for key in expected[stream] if key[0] == refused}
        assert missed, stream
        assert emitted(output, stream) == expected[stream] - missed, stream
    # One failure line per stream, each naming the order and Amazon's answer.
    for stream in ("outbound_shipments", *DETAIL_STREAMS):
        line = output.failures.reported[f"stream '{stream}' of account 'default'"]
        assert refused in line and "Unauthorized" in line, line


def test_gift_messages_and_return_comments_are_dropped_unless_pii_is_asked_for():
    # The return-to address is Amazon's fulfillment center (the model): always kept.
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        config = tap_config(server, max_concurrency=4)
        streams = {"outbound_orders", *DETAIL_STREAMS}
        without = run_tap(config, catalog=select_only(config, streams))
        pii_config = {**config, "include_pii": True}
        with_pii = run_tap(pii_config, catalog=select_only(pii_config, streams))
        sentinels = server.dataset.pii_sentinels
    text = json.dumps(without.messages)
    assert not leaked(text, sentinels)
    for stream, field in (
        ("outbound_order_items", "giftMessage"),
        ("outbound_returns", "returnComment"),
    ):
        assert without.records(stream), stream
        assert field not in without.schema(stream)["properties"]
        assert any(r.get(field) in sentinels for r in with_pii.records(stream)), stream
    authorizations = without.records("outbound_return_authorizations")
    assert authorizations and all(r.get("returnToAddress") for r in authorizations)


def test_a_shared_fetch_that_fails_raises_for_every_reader_and_holds_nothing():
    bodies = SharedBodies()
    bodies.expect("op", ("a", "b", "c"))
    calls: list[str] = []

    def fail() -> Any:
        calls.append("fetch")
        raise ValueError("refused")

    for reader in ("a", "b", "c"):
        with pytest.raises(ValueError, match="refused"):
            bodies.take("op", "order-1", reader, fail)
    assert calls == ["fetch"]
    assert len(bodies) == 0
    # A reader that stopped is not waited for: the body is dropped after the others.
    assert bodies.take("op", "order-2", "a", lambda: {"x": 1}, ["a", "b"]) == {"x": 1}
    assert bodies.take("op", "order-2", "b", lambda: {"x": 2}, ["a", "b"]) == {"x": 1}
    assert len(bodies) == 0
