"""Amazon Warehousing and Distribution: inbound shipments, their SKU quantities, outbound
orders and the inventory, complete against the stand-in's data set; incremental runs
that ask from the bookmark (minus the lookback) and nothing more when nothing changed;
the record at the inclusive `updatedAfter` boundary, emitted again, merges on its key."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pii_leaks import leaked

from spapi_standin import StandIn, StandInConfig
from testkit import (
    SingerOutput,
    assert_complete,
    expected_keys,
    key_of,
    run_tap,
    tap_config,
)

SEED = 11
AWD = (
    "awd_inbound_shipments",
    "awd_inbound_shipment_items",
    "awd_outbound_orders",
    "awd_inventory",
)
LISTS = ("listInboundShipments", "listOutbounds", "listInventory")


def pages(count: int, size: int) -> int:
    return max(1, -(-count // size))


def queries(server: StandIn, operation: str) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(target).query) for target in server.stats.targets(operation)]


def counts(server: StandIn) -> dict[str, int]:
    """Requests answered per operation (a 429 under the plans x50 is the pacer's concern,
    benchmarks/run.py's `awd` row at Amazon's plans counts those)."""
    ops = (*LISTS, "getInboundShipment", "getOutbound")
    return {op: server.stats.count(op, "200") for op in ops}


def key_properties(output: SingerOutput, stream: str) -> list[str]:
    """The key a target merges the stream's rows on (its SCHEMA message's)."""
    return next(
        m["key_properties"]
        for m in output.messages
        if m["type"] == "SCHEMA" and m["stream"] == stream
    )


def merged(*outputs: SingerOutput, stream: str) -> dict[Any, dict[str, Any]]:
    """What a target that merges on the stream's key holds after loading `outputs`."""
    table: dict[Any, dict[str, Any]] = {}
    for output in outputs:
        keys = key_properties(output, stream)
        for record in output.records(stream):
            table[tuple(record[k] for k in keys)] = record
    return table


@pytest.mark.parametrize("size", ["small", "medium"])
def test_every_awd_record_once_with_the_fewest_requests(size: str):
    page = 20 if size == "small" else 200  # small: several pages of each listing
    # Medium is AWD's data at the medium size's x10; the other families stay small (a
    # medium data set of every family took the stand-in 24 s to build).
    config = StandInConfig(seed=SEED, rate_scale=50.0, awd_page_size=page)
    if size == "medium":
        config = dataclasses.replace(
            config, awd_inbound_shipments=600, awd_outbound_orders=300, awd_skus=800
        )
    with StandIn(config) as server:
        settings = tap_config(server, max_concurrency=4)
        output = run_tap(settings, streams=AWD)
        data = server.dataset
        asked = counts(server)
        inventory_pages = pages(len(data.awd_inventory), page)
    assert_complete(output, server, AWD)
    for stream in AWD:
        assert output.records(stream), stream
    assert asked == {
        "listInboundShipments": pages(len(data.awd_inbound_shipments), page),
        "listOutbounds": pages(len(data.awd_outbound_orders), min(page, 100)),
        # #4713: the third page first hands back its own token, and is asked again.
        "listInventory": inventory_pages + (inventory_pages >= 3),
        "getInboundShipment": len(data.awd_inbound_shipments),
        "getOutbound": 0,  # listOutbounds pages hold whole orders
    }
    items = output.records("awd_inbound_shipment_items")
    assert all(item["orderId"] == item["shipmentId"] for item in items)
    inventory = output.records("awd_inventory")
    assert all("inventoryDetails" in summary for summary in inventory)  # details=SHOW


def test_listings_ask_from_the_start_date_oldest_update_first_with_the_largest_page(standin):
    settings = tap_config(standin)
    run_tap(settings, streams=AWD)
    (shipments,) = queries(standin, "listInboundShipments")
    (outbounds,) = queries(standin, "listOutbounds")
    (inventory,) = queries(standin, "listInventory")
    start = settings["start_date"]
    assert shipments == {
        "sortBy": ["UPDATED_AT"],
        "sortOrder": ["ASCENDING"],
        "updatedAfter": [start],
        "maxResults": ["200"],
    }
    assert outbounds == {"sortOrder": ["ASCENDING"], "updatedAfter": [start], "maxResults": ["100"]}
    assert inventory == {"details": ["SHOW"], "sortOrder": ["ASCENDING"], "maxResults": ["200"]}
    assert all(q["skuQuantities"] == ["SHOW"] for q in queries(standin, "getInboundShipment"))


def test_a_run_with_nothing_new_asks_each_listing_once_and_the_boundary_record_merges():
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        settings = tap_config(server, lookback_window=0)
        first = run_tap(settings, streams=AWD)
        before = counts(server)
        second = run_tap(settings, streams=AWD, state=first.states[-1])
        after = counts(server)
    asked = {op: after[op] - before[op] for op in after}
    assert asked == {
        "listInboundShipments": 1,
        "listOutbounds": 1,
        "listInventory": 1,
        "getInboundShipment": 0,  # the boundary shipment's quantities were read already
        "getOutbound": 0,
    }
    for stream in ("awd_inbound_shipments", "awd_outbound_orders"):
        (partition,) = first.states[-1]["bookmarks"][stream]["partitions"]
        bookmark = partition["replication_key_value"]
        again = second.records(stream)
        # updatedAfter is inclusive: the records at the bookmark come again, and only they.
        assert again and {r["updatedAt"] for r in again} == {bookmark}, stream
        # A target merging on the key holds each once, with the newest copy.
        table = merged(first, second, stream=stream)
        assert len(table) == len(first.records(stream)), stream
        assert key_properties(second, stream)[0] == "account"
    assert not second.records("awd_inbound_shipment_items")
    assert {key_of("awd_inventory", r) for r in second.records("awd_inventory")} == {
        key_of("awd_inventory", r) for r in first.records("awd_inventory")
    }


def test_a_second_run_reads_changes_from_the_bookmark_minus_the_lookback():
    lookback = datetime.timedelta(minutes=30)
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        settings = tap_config(server, lookback_window=30)
        first = run_tap(settings, streams=AWD)
        marks = {
            stream: datetime.datetime.fromisoformat(
                first.states[-1]["bookmarks"][stream]["partitions"][0]["replication_key_value"]
            )
            for stream in ("awd_inbound_shipments", "awd_outbound_orders")
        }
        # The stand-in's clock, an hour on: no date of the machine's.
        touched_at = server.dataset.now + datetime.timedelta(hours=1)
        shipments = set(server.touch("awd_inbound_shipments", 3, at=touched_at))
        orders = set(server.touch("awd_outbound_orders", 2, at=touched_at))
        asked = len(queries(server, "listInboundShipments"))
        second = run_tap(settings, streams=AWD, state=first.states[-1])
        later = queries(server, "listInboundShipments")[asked:]
    assert [q["updatedAfter"] for q in later] == [
        [(marks["awd_inbound_shipments"] - lookback).strftime("%Y-%m-%dT%H:%M:%SZ")]
    ]

    def within_lookback(stream: str) -> set[Any]:
        return {
            key_of(stream, r)
            for r in first.records(stream)
            if datetime.datetime.fromisoformat(r["updatedAt"]) >= marks[stream] - lookback
        }

    assert {
        key_of("awd_inbound_shipments", r) for r in second.records("awd_inbound_shipments")
    } == (shipments | within_lookback("awd_inbound_shipments"))
    assert {key_of("awd_outbound_orders", r) for r in second.records("awd_outbound_orders")} == (
        orders | within_lookback("awd_outbound_orders")
    )
    # Quantities of every shipment that changed or fell in the lookback, but not of the
    # bookmark's own record (read with it, unchanged).
    unchanged = {
        key_of("awd_inbound_shipments", r)
        for r in first.records("awd_inbound_shipments")
        if datetime.datetime.fromisoformat(r["updatedAt"]) == marks["awd_inbound_shipments"]
    }
    items = {item["shipmentId"] for item in second.records("awd_inbound_shipment_items")}
    assert shipments <= items
    assert items == (shipments | within_lookback("awd_inbound_shipments")) - (unchanged - shipments)
    received = [
        item
        for item in second.records("awd_inbound_shipment_items")
        if item["shipmentId"] in shipments
    ]
    assert all(i["receivedQuantity"] == i["expectedQuantity"] for i in received)
    for stream in ("awd_inbound_shipments", "awd_outbound_orders"):
        (partition,) = second.states[-1]["bookmarks"][stream]["partitions"]
        assert datetime.datetime.fromisoformat(partition["replication_key_value"]) == touched_at


def test_the_inventory_page_that_hands_back_its_own_token_is_asked_again():
    # selling-partner-api-models #4713; the stand-in repeats the third page's token once.
    config = StandInConfig(seed=SEED, rate_scale=50.0, awd_page_size=200)
    with StandIn(config) as server:
        settings = tap_config(server)
        # The stand-in's pages are at most 200; with 80 SKUs, ask for pages of 20.
        server.config.awd_page_size = 20
        output = run_tap(settings, streams={"awd_inventory"})
        asked = server.stats.count("listInventory", "200")
        expected = expected_keys(server.dataset)["awd_inventory"]
    assert asked == pages(len(expected), 20) + 1
    keys = [key_of("awd_inventory", r) for r in output.records("awd_inventory")]
    assert sorted(keys) == sorted(expected)  # each SKU once
    assert output.failures is not None and not output.failures.stopped


def test_outbound_destinations_are_dropped_unless_pii_is_asked_for():
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        settings = tap_config(server)
        without = run_tap(settings, streams={"awd_outbound_orders"})
        with_pii = run_tap({**settings, "include_pii": True}, streams={"awd_outbound_orders"})
        sentinels = server.dataset.pii_sentinels
    assert not leaked(str(without.messages), sentinels)
    assert leaked(str(with_pii.messages), sentinels)
    shipments = [s for o in without.records("awd_outbound_orders") for s in o["outboundShipments"]]
    assert shipments and not any("destinationAddress" in s for s in shipments)
    properties = without.schema("awd_outbound_orders")["properties"]["outboundShipments"]
    assert "destinationAddress" not in properties["items"]["properties"]
