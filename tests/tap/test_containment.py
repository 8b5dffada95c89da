"""Failures stay contained: transient 403s are retried, a refused id fails alone, a stream
that fails for good stops for its account only, and nothing missed loses its bookmark."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from spapi_standin import StandIn
from tap_spapi.amazon.report_types import REPORT_TYPES
from testkit import (
    SingerOutput,
    all_streams_config,
    assert_complete,
    catalog_selecting,
    error_line,
    every_stream,
    expected_keys,
    key_of,
    run_cli,
    run_tap,
)

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

# A tiny data set with records in every stream (built once a process). Each test syncs
# the streams its faults fall on, and a few others to show they are untouched, not every
# stream; what it checks is which records and bookmarks survive, not how many there are.

UNAUTHORIZED = {
    "errors": [
        {
            "code": "Unauthorized",
            "message": "Access to requested resource is denied.",
            "details": "",
        }
    ]
}
# Each per-id operation and the streams that read it (with their parents).
OUTBOUND_DETAILS = (
    "outbound_orders",
    "outbound_shipments",
    "outbound_order_items",
    "outbound_returns",
    "outbound_return_authorizations",
)
PER_ID_OPERATIONS = {
    "getPackageTrackingDetails": (
        "outbound_orders",
        "outbound_shipments",
        "outbound_package_tracking",
    ),
    "getFulfillmentOrder": OUTBOUND_DETAILS,
    "getShipmentItemsByShipmentId": ("inbound_shipments", "inbound_shipment_items"),
}


def run_cli_with(
    server: StandIn,
    tmp_path: Path,
    streams: Iterable[str],
    state: dict[str, Any] | None = None,
    **overrides: Any,
) -> Any:
    """The command line on `streams` only (a catalog selecting them), from `state`, with
    settings `overrides`."""
    settings = all_streams_config(server, **overrides)
    config, catalog = tmp_path / "config.json", tmp_path / "catalog.json"
    config.write_text(json.dumps(settings))
    catalog.write_text(json.dumps(catalog_selecting(settings, streams)))
    args = ["--config", str(config), "--catalog", str(catalog)]
    if state is not None:
        state_file = tmp_path / "state.json"
        state_file.write_text(json.dumps(state))
        args += ["--state", str(state_file)]
    return run_cli(args)


def order_bookmarks(state: dict[str, Any]) -> list[Any]:
    """The outbound_orders bookmark of every partition in `state`."""
    partitions = state.get("bookmarks", {}).get("outbound_orders", {}).get("partitions", [])
    return [p.get("replication_key_value") for p in partitions]


def package_numbers(server: StandIn) -> list[int]:
    return sorted(expected_keys(server.dataset)["outbound_package_tracking"])


@pytest.mark.parametrize("operation", PER_ID_OPERATIONS)
def test_one_403_on_the_first_call_of_a_per_id_operation_loses_nothing(operation: str):
    streams = PER_ID_OPERATIONS[operation]
    with StandIn(every_stream()) as server:
        server.inject(operation, status=403, times=1, body=UNAUTHORIZED)
        output = run_tap(all_streams_config(server), streams=streams)
        assert server.stats.count(operation, "403") == 1
        assert_complete(output, server, streams=streams)
    assert output.failures is not None
    assert not output.failures.skipped and not output.failures.failed_contexts


def test_a_403_on_one_id_after_others_succeeded_fails_that_id_and_keeps_the_bookmark(
    tmp_path: Path,
):
    with StandIn(every_stream()) as server:
        last = max(package_numbers(server))  # the largest: no other number starts with it
        server.inject(
            "getPackageTrackingDetails",
            status=403,
            times=1000,
            body=UNAUTHORIZED,
            matching=f"packageNumber={last}",
        )
        # The chain with the refused id, and inbound streams that have nothing to do with it.
        streams = (
            "outbound_orders",
            "outbound_shipments",
            "outbound_package_tracking",
            "inbound_shipments",
            "inbound_shipment_items",
        )
        first = run_cli_with(server, tmp_path, streams)
        server.clear_faults()
        output = SingerOutput.parse(first.stdout)
        resumed = run_cli_with(server, tmp_path, streams, state=output.states[-1])
        expected = expected_keys(server.dataset)

    assert first.returncode == 1, first.stderr[-2000:]
    line = error_line(first.stderr)
    assert "stream 'outbound_package_tracking' of account 'default'" in line
    assert f"packageNumber={last}" in line and "HTTP 403 Unauthorized" in line
    assert "x-amzn-RequestId" in line
    assert "skipped" not in first.stderr  # not taken for a missing role
    packages = {key_of("outbound_package_tracking", r) for r in output.records(
        "outbound_package_tracking")}  # fmt: skip
    assert packages == expected["outbound_package_tracking"] - {last}
    for stream in ("outbound_orders", "outbound_shipments", "inbound_shipment_items"):
        assert {key_of(stream, r) for r in output.records(stream)} == expected[stream]
    # The orders' bookmark did not move past the package that was missed ...
    assert order_bookmarks(output.states[-1]) == [None]
    # ... so the next run fetches it.
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    again = SingerOutput.parse(resumed.stdout).records("outbound_package_tracking")
    assert last in {key_of("outbound_package_tracking", r) for r in again}


def test_a_child_stream_refused_every_time_is_skipped_with_its_role_and_fetched_later(
    tmp_path: Path,
):
    with StandIn(every_stream()) as server:
        server.inject("getPackageTrackingDetails", status=403, times=100_000, body=UNAUTHORIZED)
        streams = (
            "outbound_orders",
            "outbound_shipments",
            "outbound_package_tracking",
            "shipping_tracking",
        )
        first = run_cli_with(server, tmp_path, streams)
        refused = server.stats.count("getPackageTrackingDetails", "403")
        server.clear_faults()
        output = SingerOutput.parse(first.stdout)
        resumed = run_cli_with(server, tmp_path, streams, state=output.states[-1])
        expected = expected_keys(server.dataset)

    assert first.returncode == 0, first.stderr[-2000:]  # not strict: a warning
    assert "Stream 'outbound_package_tracking' skipped for account 'default'" in first.stderr
    assert "'Amazon Fulfillment' role" in first.stderr
    assert not output.records("outbound_package_tracking")
    assert refused <= 4 * 8  # retried, then skipped: not retried for every package
    for stream in ("outbound_orders", "outbound_shipments", "shipping_tracking"):
        assert {key_of(stream, r) for r in output.records(stream)} == expected[stream]
    assert order_bookmarks(output.states[-1]) == [None]
    again = SingerOutput.parse(resumed.stdout).records("outbound_package_tracking")
    assert {key_of("outbound_package_tracking", r) for r in again} == expected[
        "outbound_package_tracking"
    ]


# The failing inbound streams, and one stream of each other kind, synced before and after
# them: a plain list, a paged chain with per-id children, orders with embedded children, a
# per-label stream and a report.
LOOP_STREAMS = (
    "marketplace_participations",
    "orders",
    "order_items",
    "outbound_orders",
    "outbound_shipments",
    "outbound_package_tracking",
    "inbound_shipments",
    "inbound_shipment_items",
    "shipping_tracking",
    "ledger_detail_view_data",
)


def test_a_page_token_repeated_in_inbound_shipments_leaves_the_other_streams_complete(
    tmp_path: Path,
):
    with StandIn(every_stream()) as server:
        shipment = server.dataset.all_inbound_shipments()[0]
        page = {"payload": {"ShipmentData": [shipment], "NextToken": "LOOP-TOKEN"}}
        # The first page of some window hands out a token; following it hands it out again.
        server.inject("getShipments", status=200, times=1, body=page)
        # ... every time it is asked (twice more after the first: PAGE_RETRIES).
        server.inject("getShipments", status=200, times=3, body=page, matching="LOOP-TOKEN")
        first = run_cli_with(server, tmp_path, LOOP_STREAMS)
        output = SingerOutput.parse(first.stdout)
        again = run_cli_with(server, tmp_path, LOOP_STREAMS, output.states[-1])
        resumed = SingerOutput.parse(again.stdout)
        expected = expected_keys(server.dataset)

    assert first.returncode == 1
    line = error_line(first.stderr)
    assert "stream 'inbound_shipments' of account 'default'" in line
    assert "(getShipments)" in line and "page token already followed" in line
    assert "x-amzn-RequestId" in line
    # The only failure: it is the last line too (several end with a summary line).
    assert first.stderr.strip().splitlines()[-1] == line
    for stream in LOOP_STREAMS:
        if not stream.startswith("inbound_"):
            keys = {key_of(stream, r) for r in output.records(stream)}
            assert keys == expected[stream], stream
    # The failed window kept its bookmark: the next run reads what this one missed.
    for stream in ("inbound_shipments", "inbound_shipment_items"):
        both = [*output.records(stream), *resumed.records(stream)]
        assert {key_of(stream, r) for r in both} == expected[stream], stream


# Every report stream (any could read the dropped column) and a stream of another kind.
REPORT_STREAMS = ("marketplace_participations", *(r.stream_name for r in REPORT_TYPES))


def test_a_report_document_without_its_key_column_stops_that_report_stream_only():
    with StandIn(every_stream()) as server:
        server.reports.dropped_columns.add("shipment-id")  # a key of the first report type
        output = run_tap(all_streams_config(server), streams=REPORT_STREAMS)
        expected = expected_keys(server.dataset)
    assert output.failures is not None
    stopped = output.failures.stopped
    assert list(stopped) == [("amazon_fulfilled_shipments_data_general", "default")]
    assert "without 'shipment_id'" in stopped[("amazon_fulfilled_shipments_data_general",
                                               "default")]  # fmt: skip
    for stream in REPORT_STREAMS:
        if stream != "amazon_fulfilled_shipments_data_general":
            keys = {key_of(stream, r) for r in output.records(stream)}
            assert keys == expected[stream], stream
    state = output.states[-1]["bookmarks"]["amazon_fulfilled_shipments_data_general"]
    assert all("window_end" not in p for p in state.get("partitions", [])), state


# A stream refused with 403 for a whole run, by what its history says: one with bookmarks
# of its own (incremental), a per-id child that keeps none (the `succeeded_for` marker),
# and a per-id stream keeping a partition per account; the streams selected for it.
REFUSED_AFTER_SUCCESS = {
    "searchOrders": ("orders",),
    "listShipmentBoxes": ("inbound_plan_shipment_boxes",),
    "getShipmentTracking": ("shipment_tracking",),
    "listInboundShipments": ("awd_inbound_shipments",),
}


def bookmarks_of(state: dict[str, Any]) -> dict[tuple[str, str], Any]:
    """Each partition's bookmark values, and each stream's `succeeded_for`, in `state`
    (identifiers a parent notes for shipment_tracking are no bookmark of it)."""
    found: dict[tuple[str, str], Any] = {}
    for stream, stream_state in state["bookmarks"].items():
        found[(stream, "succeeded_for")] = stream_state.get("succeeded_for")
        for partition in stream_state.get("partitions", []):
            context = json.dumps(partition.get("context"), sort_keys=True)
            found[(stream, context)] = [
                partition.get(key) for key in ("replication_key_value", "window_end")
            ]
    return found


@pytest.mark.parametrize("operation", REFUSED_AFTER_SUCCESS)
def test_a_stream_that_succeeded_before_and_is_refused_all_run_fails_and_keeps_its_bookmarks(
    tmp_path: Path, operation: str
):
    streams = REFUSED_AFTER_SUCCESS[operation]
    with StandIn(every_stream()) as server:
        first = run_cli_with(server, tmp_path, streams)
        server.inject(operation, status=403, times=100_000, body=UNAUTHORIZED)
        before = SingerOutput.parse(first.stdout).states[-1]
        refused = run_cli_with(server, tmp_path, streams, state=before)
        server.clear_faults()
        after = SingerOutput.parse(refused.stdout).states[-1]
        resumed = run_cli_with(server, tmp_path, streams, state=after)

    assert first.returncode == 0, first.stderr[-2000:]
    (stream,) = streams
    assert refused.returncode == 1, refused.stderr[-2000:]
    line = error_line(refused.stderr)
    assert f"stream '{stream}' of account 'default': {operation} refused with 403" in line
    assert "succeeded for the account in an earlier run" in line
    assert "an outage, a proxy refusing it, or a role revoked since" in line
    assert "HTTP 403 Unauthorized" in line and "x-amzn-RequestId" in line
    assert refused.stderr.strip().splitlines()[-1] == line  # the only failure
    assert "skipped for account" not in refused.stderr  # not taken for a missing role
    assert not SingerOutput.parse(refused.stdout).records(stream)
    # Its bookmarks, and those of the streams read for it, stay where the first run left
    # them (the orders' window end would have moved to this run's echo), so the run after
    # the outage reads what this one missed, and succeeds.
    assert bookmarks_of(after) == bookmarks_of(before)
    assert resumed.returncode == 0, resumed.stderr[-2000:]


@pytest.mark.parametrize("operation", REFUSED_AFTER_SUCCESS)
@pytest.mark.parametrize("strict", [False, True])
def test_a_stream_refused_all_run_that_never_succeeded_for_the_account_is_skipped_for_its_role(
    tmp_path: Path, operation: str, strict: bool
):
    streams = REFUSED_AFTER_SUCCESS[operation]
    (stream,) = streams
    with StandIn(every_stream()) as server:
        first = run_cli_with(server, tmp_path, streams)
        # The history of another account (renamed, or the stream's success in another
        # shard) says nothing of this one's roles.
        state = SingerOutput.parse(first.stdout).states[-1]
        stream_state = state["bookmarks"][stream]
        for partition in stream_state.get("partitions", []):
            partition["context"]["account"] = "another"
        if "succeeded_for" in stream_state:
            stream_state["succeeded_for"] = ["another"]
        server.inject(operation, status=403, times=100_000, body=UNAUTHORIZED)
        refused = run_cli_with(server, tmp_path, streams, state=state, strict=strict)

    warnings = [
        line
        for line in refused.stderr.splitlines()
        if f"Stream '{stream}' skipped for account 'default'" in line
    ]
    assert len(warnings) == 1, refused.stderr[-2000:]
    assert "the application needs" in warnings[0] and "role" in warnings[0]
    assert "HTTP 403 Unauthorized" in warnings[0]
    assert "earlier run" not in refused.stderr
    if strict:
        assert refused.returncode == 1
        line = error_line(refused.stderr)
        assert f"stream '{stream}' of account 'default'" in line and "role" in line
    else:
        assert refused.returncode == 0, refused.stderr[-2000:]
        assert "tap-spapi: error" not in refused.stderr
