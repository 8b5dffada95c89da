"""Every shipment and tracking stream end to end against the stand-in's data set."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest
from pii_leaks import leaked

from spapi_standin import StandIn
from spapi_standin.config import EU_MARKETPLACE, NA_MARKETPLACES
from testkit import (
    KEYS,
    SingerOutput,
    every_stream,
    expected_keys,
    full_config,
    key_of,
    run_cli,
    run_tap,
    select_only,
    tap_config,
)

if TYPE_CHECKING:
    from collections.abc import Iterator


CHILD_STREAMS = ("inbound_shipment_items", "outbound_shipments", "outbound_package_tracking")
# The tests that read the one full sync of the module run on one worker under
# `--dist loadgroup`: each worker would otherwise sync every stream again for its share.
FULL_RUN = pytest.mark.xdist_group("test_streams-full-run")


def emitted_keys(output: SingerOutput, stream: str) -> list[Any]:
    return [key_of(stream, record) for record in output.records(stream)]


@pytest.fixture(scope="module")
def paged_standin() -> Iterator[StandIn]:
    """Small pages so every list operation needs several of them, over the tiny data set
    of a seed with records in every stream (711 in all: 24 inbound shipments in four
    pages, 15 MCF orders in two)."""
    config = every_stream(inbound_page_size=7, outbound_page_size=9)
    with StandIn(config) as server:
        yield server


@pytest.fixture(scope="module")
def full_run(paged_standin: StandIn) -> SingerOutput:
    """Every stream, once for the module: its tests only read it and the stand-in's
    counts (none touches, injects or syncs again on `paged_standin`)."""
    return run_tap(full_config(paged_standin))


@FULL_RUN
def test_every_stream_emits_the_whole_data_set_once(paged_standin, full_run):
    expected = expected_keys(paged_standin.dataset)
    for stream, keys in expected.items():
        got = emitted_keys(full_run, stream)
        assert keys, f"the stand-in has no {stream} data"
        assert set(got) == keys, stream
        assert len(got) == len(set(got)), f"{stream} emitted a key twice"


@FULL_RUN
def test_list_operations_follow_their_page_tokens(paged_standin, full_run):
    stats = paged_standin.stats
    inbound = len(paged_standin.dataset.all_inbound_shipments())
    orders = len(paged_standin.dataset.outbound_orders)
    # At least one request per page: ceil(records / page size), and more than one page.
    assert stats.count("getShipments") >= -(-inbound // 7) > 1
    assert stats.count("listAllFulfillmentOrders") >= -(-orders // 9) > 1


@FULL_RUN
def test_children_are_fetched_once_per_parent_and_never_refetch_parent_pages(
    paged_standin, full_run
):
    stats = paged_standin.stats
    data = paged_standin.dataset
    # Answered requests: a 429 on a loaded machine, retried, is not a second fetch.
    assert stats.count("getShipmentItemsByShipmentId", "200") == len(data.all_inbound_shipments())
    assert stats.count("getFulfillmentOrder", "200") == len(data.outbound_orders)
    expected = expected_keys(data)
    tracked = len(expected["outbound_package_tracking"])
    assert stats.count("getPackageTrackingDetails", "200") == tracked


@FULL_RUN
def test_child_records_name_their_parent(paged_standin, full_run):
    data = paged_standin.dataset
    for record in full_run.records("inbound_shipment_items"):
        shipment = data.inbound_record(record["ShipmentId"])
        assert shipment is not None
        assert record["marketplace_id"] == data.inbound_marketplace[record["ShipmentId"]]
    order_of_shipment = {
        shipment["amazonShipmentId"]: order_id
        for order_id, detail in data.outbound_details.items()
        for shipment in detail.get("fulfillmentShipments") or []
    }
    for record in full_run.records("outbound_shipments"):
        assert record["sellerFulfillmentOrderId"] == order_of_shipment[record["amazonShipmentId"]]
    for record in full_run.records("outbound_package_tracking"):
        assert order_of_shipment[record["amazonShipmentId"]] == record["sellerFulfillmentOrderId"]


@FULL_RUN
def test_every_record_validates_against_its_schema(full_run):
    checked = 0
    for stream in KEYS:
        validator = jsonschema.Draft7Validator(
            full_run.schema(stream), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
        )
        for record in full_run.records(stream):
            errors = sorted(validator.iter_errors(record), key=str)
            assert not errors, f"{stream}: {errors[0].message} at {list(errors[0].path)}"
            checked += 1
    assert checked > 100


@FULL_RUN
def test_state_is_partitioned_per_marketplace_and_labels_kept_per_account(paged_standin, full_run):
    state = full_run.states[-1]["bookmarks"]
    inbound = state["inbound_shipments"]["partitions"]
    # One partition per marketplace of the account in the configured region (na).
    assert {p["context"]["marketplace_id"] for p in inbound} == set(NA_MARKETPLACES)
    assert [p for p in inbound if "window_end" not in p] == []
    # Labels: one partition for the account, each label under its carrier, open or final.
    (labels,) = state["shipping_tracking"]["partitions"]
    assert labels["context"] == {"account": "default"}
    kept = {
        (carrier, label): second
        for book in (labels["open"], labels["final"])
        for carrier, seconds in book.items()
        for label, second in seconds.items()
    }
    assert set(kept) == {
        (t["carrier_id"], t["tracking_id"]) for t in paged_standin.dataset.tracking_labels()
    }
    assert all(second > 0 for second in kept.values())  # each one's newest event
    # Children keep no per-id partitions (their bookmarks live with the parent).
    for child in CHILD_STREAMS:
        assert not state.get(child, {}).get("partitions")


@FULL_RUN
def test_the_marketplaces_of_another_region_are_not_queried(paged_standin, full_run):
    inbound = full_run.records("inbound_shipments")
    assert {r["marketplace_id"] for r in inbound} <= set(NA_MARKETPLACES)
    assert EU_MARKETPLACE in paged_standin.dataset.participating_marketplace_ids


SECOND_RUN_STREAMS = {
    "inbound_shipments",
    "inbound_shipment_items",
    "outbound_orders",
    "shipping_tracking",
}


def test_a_second_run_emits_only_what_changed(standin):
    config = full_config(standin, lookback_window=0)
    first = run_tap(config, streams=SECOND_RUN_STREAMS)
    touched_at = datetime.now(UTC).replace(microsecond=0)
    inbound = set(standin.touch("inbound_shipments", 4, at=touched_at))
    orders = set(standin.touch("outbound_orders", 3, at=touched_at))
    labels = set(standin.touch("shipping_trackings", 3, at=touched_at))
    assert inbound and orders and labels

    second = run_tap(config, state=first.states[-1], streams=SECOND_RUN_STREAMS)

    assert set(emitted_keys(second, "inbound_shipments")) == inbound
    assert {k[0] for k in emitted_keys(second, "inbound_shipment_items")} <= inbound
    # queryStartDate is inclusive: the orders at the old bookmark come back once more.
    (orders_state,) = first.states[-1]["bookmarks"]["outbound_orders"]["partitions"]
    old_bookmark = orders_state["replication_key_value"]
    at_bookmark = {
        o["sellerFulfillmentOrderId"]
        for o in first.records("outbound_orders")
        if datetime.fromisoformat(o["statusUpdatedDate"]) == datetime.fromisoformat(old_bookmark)
    }
    assert orders <= set(emitted_keys(second, "outbound_orders")) <= orders | at_bookmark
    assert set(emitted_keys(second, "shipping_tracking")) == labels


def test_final_trackings_are_not_requested_again(standin):
    config = full_config(standin)
    catalog = select_only(config, {"shipping_tracking"})
    first = run_tap(config, catalog=catalog)
    final = {
        r["trackingId"]
        for r in first.records("shipping_tracking")
        if r["summary"]["status"] in {"Delivered", "Lost", "Rejected", "PickupCancelled"}
    }
    assert final, "the data set should hold delivered labels"
    requests_before = standin.stats.count("getTracking")
    run_tap(config, catalog=catalog, state=first.states[-1])
    requested = standin.stats.count("getTracking") - requests_before
    assert requested == len(standin.dataset.shipping_trackings) - len(final)


@FULL_RUN
def test_pii_is_dropped_from_every_stream_by_default(paged_standin, full_run):
    sentinels = paged_standin.dataset.pii_sentinels | paged_standin.reports.pii_sentinels
    assert paged_standin.dataset.pii_sentinels and paged_standin.reports.pii_sentinels
    without = json.dumps(full_run.messages)
    assert not leaked(without, sentinels)


def test_pii_is_kept_when_asked_for(standin):
    config = full_config(standin, include_pii=True)
    streams = {"outbound_orders", "outbound_shipments", "outbound_package_tracking"}
    sentinels = standin.dataset.pii_sentinels
    with_pii = json.dumps(run_tap(config, streams=streams).messages)
    assert leaked(with_pii, sentinels)


def test_a_tracking_file_with_a_bad_row_names_the_line(standin, tmp_path):
    labels = standin.dataset.tracking_labels()
    lines = ["tracking_id,carrier_id", *(f"{x['tracking_id']},{x['carrier_id']}" for x in labels)]
    lines.insert(3, f"{labels[0]['tracking_id']},")  # line 4 lacks its carrier
    path = tmp_path / "labels.csv"
    path.write_text("\n".join(lines) + "\n")
    config = tmp_path / "config.json"
    config.write_text(json.dumps(tap_config(standin, tracking_ids_file=str(path))))
    result = run_cli(["--config", str(config)])
    assert result.returncode != 0
    assert "tracking_ids_file" in result.stderr
    assert "line 4" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_tracking_file_in_json_lines_is_read(standin, tmp_path):
    labels = standin.dataset.tracking_labels()[:5]
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(label) + "\n" for label in labels))
    config = tap_config(standin, tracking_ids_file=str(path))
    output = run_tap(config, catalog=select_only(config, {"shipping_tracking"}))
    assert set(emitted_keys(output, "shipping_tracking")) == {x["tracking_id"] for x in labels}
