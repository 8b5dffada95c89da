"""Faults the tap survives with complete output, and faults it reports and stops on."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from spapi_standin import StandIn, StandInConfig
from testkit import (
    SingerOutput,
    all_streams_config,
    assert_complete,
    error_line,
    expected_keys,
    key_of,
    run_cli,
    run_tap,
    tap_config,
)

if TYPE_CHECKING:
    from pathlib import Path

# Whole runs through injected faults and their retries: 8-20 s each on a loaded machine.

PAGED = "outbound_orders"


def test_a_record_amazon_repeats_across_pages_is_emitted_once():
    config = StandInConfig(seed=51, rate_scale=50.0, overlapping_pages=True, outbound_page_size=20)
    with StandIn(config) as server:
        output = run_tap(all_streams_config(server))
        assert_complete(output, server)
        assert server.stats.count("listAllFulfillmentOrders") >= 3


def test_a_page_token_that_comes_back_stops_the_stream_with_a_clear_error(tmp_path: Path):
    config = StandInConfig(
        seed=52, rate_scale=50.0, looping_page_tokens=True, outbound_page_size=20
    )
    with StandIn(config) as server:
        path = tmp_path / "config.json"
        path.write_text(json.dumps(all_streams_config(server)))
        result = run_cli(["--config", str(path)])
        pages = server.stats.count("listAllFulfillmentOrders")
    assert result.returncode == 1
    last_line = error_line(result.stderr)
    assert "stream 'outbound_orders' (listAllFulfillmentOrders)" in last_line
    assert "page token already followed" in last_line
    assert "x-amzn-RequestId" in last_line
    assert pages == 3  # A, B, then back to B's predecessor: stopped, not looping
    # What came before the failure is intact and resumable.
    output = SingerOutput.parse(result.stdout)
    assert output.records("marketplace_participations")
    assert output.states


def test_a_stream_without_its_role_is_skipped_and_the_others_finish(tmp_path: Path):
    with StandIn(StandInConfig(seed=53, rate_scale=50.0)) as server:
        server.inject(
            "getShipments",
            status=403,
            times=1000,
            body={"errors": [{"code": "Unauthorized", "message": "Access to requested "
                              "resource is denied.", "details": ""}]},
        )  # fmt: skip
        path = tmp_path / "config.json"
        path.write_text(json.dumps(all_streams_config(server)))
        lenient = run_cli(["--config", str(path)])
        path.write_text(json.dumps(all_streams_config(server, strict=True)))
        strict = run_cli(["--config", str(path)])
        data = expected_keys(server.dataset)

    assert lenient.returncode == 0, lenient.stderr[-2000:]
    assert "Stream 'inbound_shipments' skipped for account 'default'" in lenient.stderr
    assert "'Amazon Fulfillment' role" in lenient.stderr
    output = SingerOutput.parse(lenient.stdout)
    assert not output.records("inbound_shipments")
    for stream in ("outbound_orders", "outbound_package_tracking", "shipping_tracking"):
        assert {key_of(stream, r) for r in output.records(stream)} == data[stream]
    assert strict.returncode == 1
    assert "stream 'inbound_shipments' of account 'default'" in error_line(strict.stderr)


@pytest.mark.parametrize("fault", ["drop", "truncate", "html", "empty", 500, 503])
def test_a_fault_on_every_operation_is_retried_to_a_complete_output(fault):
    with StandIn(StandInConfig(seed=54, rate_scale=50.0)) as server:
        # A paged list, a per-id child and a per-label stream: each path of the client.
        for operation in ("listAllFulfillmentOrders", "getPackageTrackingDetails", "getTracking"):
            server.inject(operation, status=fault, times=1)
        output = run_tap(all_streams_config(server))
        assert_complete(output, server)


def test_a_storm_of_429s_on_every_operation_clears_and_the_run_completes():
    with StandIn(StandInConfig(seed=55, rate_scale=50.0)) as server:
        for operation in KEYS_OPERATIONS:
            server.inject(operation, status=429, times=5)
        output = run_tap(all_streams_config(server))
        assert_complete(output, server)
        assert sum(c.get("429", 0) for c in server.stats.snapshot().values()) >= 5 * 3


KEYS_OPERATIONS = ("getShipments", "listAllFulfillmentOrders", "getFulfillmentOrder",
                   "getPackageTrackingDetails", "getTracking")  # fmt: skip


def test_random_server_faults_at_five_percent_still_give_complete_output():
    config = StandInConfig(seed=56, rate_scale=50.0, error_rate=0.04, drop_rate=0.01)
    with StandIn(config) as server:
        output = run_tap(all_streams_config(server))
        assert_complete(output, server)
        faults = sum(c.get("500", 0) + c.get("503", 0) + c.get("drop", 0)
                     for c in server.stats.snapshot().values())  # fmt: skip
        assert faults > 0


def test_access_tokens_expiring_mid_run_and_an_lwa_fault_are_recovered():
    config = StandInConfig(seed=57, rate_scale=20.0, token_lifetime=2)
    with StandIn(config) as server:
        server.inject("lwa", status=500, times=1)
        output = run_tap(all_streams_config(server))
        assert_complete(output, server)
        assert server.stats.count("lwa", "refresh_token") >= 2


def test_a_fault_that_never_clears_ends_with_a_clear_error_and_valid_state(tmp_path: Path):
    with StandIn(StandInConfig(seed=58, rate_scale=50.0)) as server:
        server.inject("getFulfillmentOrder", status=503, times=10_000)
        config = all_streams_config(server, max_retries=2)
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        result = run_cli(["--config", str(path)])
        server.clear_faults()
        output = SingerOutput.parse(result.stdout)
        assert result.returncode == 1
        last_line = error_line(result.stderr)
        assert "getFulfillmentOrder" in last_line and "gave up retrying" in last_line
        assert "x-amzn-RequestId" in last_line
        # The last STATE resumes: a second run from it completes the data set.
        resumed = run_tap(tap_config(server, tracking_ids=server.dataset.tracking_labels()),
                          state=output.states[-1])  # fmt: skip
    for stream in ("outbound_orders", "outbound_shipments"):
        before = {key_of(stream, r) for r in output.records(stream)}
        after = {key_of(stream, r) for r in resumed.records(stream)}
        assert before | after == expected_keys(server.dataset)[stream]


def test_an_answer_slower_than_request_timeout_is_abandoned_and_retried():
    with StandIn(StandInConfig(seed=59, rate_scale=50.0)) as server:
        server.inject("listAllFulfillmentOrders", status="slow", times=1)
        server.inject("getTracking", status="slow", times=1)
        output = run_tap(all_streams_config(server, request_timeout=1))
        assert_complete(output, server)
        assert server.stats.count("listAllFulfillmentOrders", "slow") == 1


def test_a_marketplace_the_account_does_not_sell_in_is_refused_clearly(tmp_path: Path):
    with StandIn(StandInConfig(seed=60, rate_scale=50.0)) as server:
        path = tmp_path / "config.json"
        brazil = "A2Q3Y263D00KWC"  # North America region, not among the account's
        path.write_text(json.dumps(all_streams_config(server, marketplace_ids=[brazil])))
        result = run_cli(["--config", str(path)])
    assert result.returncode == 1
    line = error_line(result.stderr)
    assert "stream 'inbound_shipments' (getShipments): HTTP 400 InvalidInput" in line
    assert "x-amzn-RequestId" in line
