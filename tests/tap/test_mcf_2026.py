"""`mcf_api_version: 2026-07-04`: MCF orders, shipments and items from FBA Outbound
2026-07-04 listOrders pages, with 2020-07-01's stream names and keys, no request per
order, and the streams 2026-07-04 has no data for skipped with one warning each."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from pii_leaks import leaked

from spapi_standin import StandIn, StandInConfig
from tap_spapi.config.settings import DEFAULTS
from testkit import SingerOutput, expected_keys, key_of, run_cli, run_tap, select_only, tap_config

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

# The data set of the suite's `standin` fixture: a worker builds it once, and each
# stand-in here gets a copy of its own (a test's changes stay its own).
SEED = 11
MCF_2026 = {"mcf_api_version": "2026-07-04"}
READ = ("outbound_orders", "outbound_shipments", "outbound_order_items")
NOT_IN_2026 = ("outbound_returns", "outbound_return_authorizations", "outbound_package_tracking")
PER_ORDER = ("getFulfillmentOrder", "listAllFulfillmentOrders", "getPackageTrackingDetails")


def emitted(output: SingerOutput, stream: str) -> set[Any]:
    return {key_of(stream, record) for record in output.records(stream)}


def list_orders_queries(server: StandIn) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(target).query) for target in server.stats.targets("listOrders")]


def test_every_order_shipment_and_item_with_2020s_keys_and_no_request_per_order():
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        config = tap_config(server, max_concurrency=4, **MCF_2026)
        output = run_tap(config, catalog=select_only(config, set(READ)))
        expected = expected_keys(server.dataset)
        pages = -(-len(server.dataset.outbound_orders) // server.config.outbound_page_size)
        assert server.stats.count("listOrders") == pages
        assert [server.stats.count(op) for op in PER_ORDER] == [0, 0, 0]
        assert all(q["shipments"] == ["INCLUDE"] for q in list_orders_queries(server))

        config_2020 = tap_config(server, max_concurrency=4)
        streams_2020 = {"outbound_orders", "outbound_order_items"}
        output_2020 = run_tap(config_2020, catalog=select_only(config_2020, streams_2020))
    for stream in READ:
        assert expected[stream], f"the stand-in has no {stream} data"
        assert emitted(output, stream) == expected[stream], stream
    for stream in streams_2020:
        assert emitted(output, stream) == emitted(output_2020, stream), stream
    orders = output.records("outbound_orders")
    assert all(o["sellerFulfillmentOrderId"] == o["orderId"] for o in orders)
    # The 2026-07-04 columns: the lists are streams of their own, the order has none.
    assert not {"lineItems", "shipments"} & set(output.schema("outbound_orders")["properties"])
    assert not any("lineItems" in o or "shipments" in o for o in orders)
    shipments = output.records("outbound_shipments")
    assert all(s["sellerFulfillmentOrderId"] for s in shipments)
    assert sum(len(s["packages"]) for s in shipments) == sum(
        len(s.get("fulfillmentShipmentPackage") or [])
        for detail in server.dataset.outbound_details.values()
        for s in detail.get("fulfillmentShipments") or []
    )


def test_without_the_shipments_stream_list_orders_leaves_shipments_out():
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        config = tap_config(server, **MCF_2026)
        output = run_tap(config, catalog=select_only(config, {"outbound_orders"}))
        queries = list_orders_queries(server)
        expected = expected_keys(server.dataset)["outbound_orders"]
    assert queries and all(q["shipments"] == ["EXCLUDE"] for q in queries)
    assert emitted(output, "outbound_orders") == expected


def test_a_second_run_asks_from_the_bookmark_minus_lookback_and_emits_only_changed_orders():
    lookback = timedelta(minutes=30)
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        config = tap_config(server, lookback_window=30, **MCF_2026)
        catalog = select_only(config, set(READ))
        first = run_tap(config, catalog=catalog)
        (partition,) = first.states[-1]["bookmarks"]["outbound_orders"]["partitions"]
        bookmark = datetime.fromisoformat(partition["replication_key_value"])
        touched_at = datetime.now(UTC).replace(microsecond=0)
        touched = set(server.touch("outbound_orders", 4, at=touched_at))
        assert touched
        asked_before = len(server.stats.targets("listOrders"))

        second = run_tap(config, catalog=catalog, state=first.states[-1])
        queries = list_orders_queries(server)[asked_before:]
    assert queries
    for query in queries:
        assert datetime.fromisoformat(query["updatedAfter"][0]) == bookmark - lookback
    # Orders changed within the lookback before the bookmark come again; no other.
    again = {
        o["sellerFulfillmentOrderId"]
        for o in first.records("outbound_orders")
        if datetime.fromisoformat(o["statusUpdateTime"]) > bookmark - lookback
    }
    assert emitted(second, "outbound_orders") == touched | again
    assert len(again) < len(first.records("outbound_orders")) // 2
    assert {order for order, _ in emitted(second, "outbound_order_items")} == touched | again
    (partition,) = second.states[-1]["bookmarks"]["outbound_orders"]["partitions"]
    assert datetime.fromisoformat(partition["replication_key_value"]) == touched_at


def test_destination_addresses_are_dropped_unless_pii_is_asked_for():
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        config = tap_config(server, **MCF_2026)
        without = run_tap(config, catalog=select_only(config, set(READ)))
        pii_config = {**config, "include_pii": True}
        with_pii = run_tap(pii_config, catalog=select_only(pii_config, set(READ)))
        sentinels = server.dataset.pii_sentinels
    assert without.records("outbound_orders")
    assert not leaked(json.dumps(without.messages), sentinels)
    assert "destination" not in without.schema("outbound_orders")["properties"]
    shipment_package = without.schema("outbound_shipments")["properties"]["packages"]["items"]
    assert "proofOfDelivery" not in shipment_package["properties"]["tracking"]["properties"]
    addresses = [o["destination"]["deliveryAddress"] for o in with_pii.records("outbound_orders")]
    assert any(value in sentinels for address in addresses for value in address.values())
    received_by = [
        p["tracking"]["proofOfDelivery"]["receivedBy"]
        for s in with_pii.records("outbound_shipments")
        for p in s["packages"]
        if "proofOfDelivery" in p["tracking"]
    ]
    assert received_by and set(received_by) <= sentinels


def test_streams_2026_has_no_data_for_are_skipped_with_one_warning_each(
    caplog: pytest.LogCaptureFixture,
):
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        config = tap_config(server, max_concurrency=4, **MCF_2026)
        with caplog.at_level(logging.WARNING):
            output = run_tap(config, catalog=select_only(config, {*READ, *NOT_IN_2026}))
        assert [server.stats.count(op) for op in PER_ORDER] == [0, 0, 0]
        expected = expected_keys(server.dataset)
    assert output.failures is not None and not output.failures.reported
    assert emitted(output, "outbound_orders") == expected["outbound_orders"]
    for stream in NOT_IN_2026:
        warnings = [r.getMessage() for r in caplog.records if r.getMessage().startswith(stream)]
        assert len(warnings) == 1, (stream, warnings)
        assert "mcf_api_version" in warnings[0] and "2026-07-04 has no" in warnings[0]
        assert not output.records(stream)


def test_the_command_line_exits_0_when_only_a_skipped_stream_is_selected(tmp_path: Path):
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        config = tap_config(server, **MCF_2026)
        (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
        catalog = select_only(config, {"outbound_returns"})
        (tmp_path / "catalog.json").write_text(json.dumps(catalog), encoding="utf-8")
        args = ["--config", str(tmp_path / "config.json")]
        result = run_cli([*args, "--catalog", str(tmp_path / "catalog.json")])
        assert server.stats.count("listOrders") == 0
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("outbound_returns is skipped: mcf_api_version is 2026-07-04") == 1
    assert "outbound_returns" in {
        m["stream"] for m in SingerOutput.parse(result.stdout).messages if m["type"] == "SCHEMA"
    }


def test_a_switch_from_2020_07_01_continues_from_its_bookmark():
    # Both versions bookmark the time the order's status last changed.
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        config_2020 = tap_config(server)
        first = run_tap(config_2020, catalog=select_only(config_2020, {"outbound_orders"}))
        (partition,) = first.states[-1]["bookmarks"]["outbound_orders"]["partitions"]
        bookmark = datetime.fromisoformat(partition["replication_key_value"])
        config = tap_config(server, **MCF_2026)
        second = run_tap(
            config, catalog=select_only(config, {"outbound_orders"}), state=first.states[-1]
        )
        queries = list_orders_queries(server)
    lookback = timedelta(minutes=DEFAULTS["lookback_window"])
    assert [datetime.fromisoformat(q["updatedAfter"][0]) for q in queries] == [bookmark - lookback]
    changed = {
        o["sellerFulfillmentOrderId"]
        for o in first.records("outbound_orders")
        if datetime.fromisoformat(o["statusUpdatedDate"]) > bookmark - lookback
    }
    assert emitted(second, "outbound_orders") == changed
    (partition,) = second.states[-1]["bookmarks"]["outbound_orders"]["partitions"]
    assert datetime.fromisoformat(partition["replication_key_value"]) == bookmark


def test_list_orders_faults_and_throttling_are_retried_and_every_order_arrives():
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        config = tap_config(server, max_retry_seconds=60, **MCF_2026)
        server.inject("listOrders", status=503, times=1)
        server.inject("listOrders", status=429, times=1, matching="pageToken")
        output = run_tap(config, catalog=select_only(config, set(READ)))
        expected = expected_keys(server.dataset)
        assert server.stats.count("listOrders", "429") == 1
    assert output.failures is not None and not output.failures.reported
    for stream in READ:
        assert emitted(output, stream) == expected[stream], stream


def test_the_packages_amazon_tracking_numbers_are_tracked_as_in_2020():
    # shipment_tracking asks the Tracking API for the AFTN of every MCF package, whichever
    # API version read the packages.
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        config = tap_config(server, max_concurrency=4, **MCF_2026)
        streams = {"outbound_orders", "outbound_shipments", "shipment_tracking"}
        output = run_tap(config, catalog=select_only(config, streams))
        expected = expected_keys(server.dataset)["shipment_tracking"]
    aftns = {key for key in expected if key[0] == "aftn"}
    assert aftns, "the stand-in has no MCF package with an AFTN"
    tracked = {key_of("shipment_tracking", r) for r in output.records("shipment_tracking")}
    assert {key for key in tracked if key[0] == "aftn"} == aftns
    assert tracked == expected  # with the inbound boxes' (their plans are read for it)
