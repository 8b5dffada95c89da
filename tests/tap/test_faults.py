"""Faults the tap survives with complete output, and faults it reports and stops on."""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING

import pytest

from spapi_standin import StandIn, StandInConfig
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
    tap_config,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path
    from typing import Any

# Each test syncs the streams whose operations it injects faults into (and what shows the
# others are untouched), not every stream: a full sync is a thousand requests.

# The data set of the tap tier (the `standin` fixture's): built once a process, where each
# seed of its own would cost seconds. What differs between tests is how it is served.
SEED = 11
# Where the data's volume does not matter (the faults fall on the first request of each
# operation), the tiny data set with records in every stream (testkit.every_stream).
PAGED = "outbound_orders"
# The per-id chain of outbound orders: a paged list, a per-order child, a per-package one.
OUTBOUND_CHAIN = ("outbound_orders", "outbound_shipments", "outbound_package_tracking")


def cli_args(tmp_path: Path, config: dict[str, Any], streams: Iterable[str]) -> list[str]:
    """`--config` and a `--catalog` selecting only `streams`, written under `tmp_path`."""
    config_path, catalog_path = tmp_path / "config.json", tmp_path / "catalog.json"
    config_path.write_text(json.dumps(config))
    catalog_path.write_text(json.dumps(catalog_selecting(config, streams)))
    return ["--config", str(config_path), "--catalog", str(catalog_path)]


def test_a_record_amazon_repeats_across_pages_is_emitted_once():
    config = StandInConfig(
        seed=SEED, rate_scale=50.0, overlapping_pages=True, outbound_page_size=20
    )
    with StandIn(config) as server:
        output = run_tap(all_streams_config(server), streams={PAGED})
        assert_complete(output, server, streams={PAGED})
        assert server.stats.count("listAllFulfillmentOrders") >= 3


def test_a_page_token_that_comes_back_stops_the_stream_with_a_clear_error(tmp_path: Path):
    config = StandInConfig(
        seed=SEED, rate_scale=50.0, looping_page_tokens=True, outbound_page_size=20
    )
    with StandIn(config) as server:
        # A stream synced before the one that fails, to show its output stays intact.
        streams = {"marketplace_participations", PAGED}
        result = run_cli(cli_args(tmp_path, all_streams_config(server), streams))
        pages = server.stats.count("listAllFulfillmentOrders")
    assert result.returncode == 1
    last_line = error_line(result.stderr)
    assert "stream 'outbound_orders' (listAllFulfillmentOrders): page 3:" in last_line
    assert "page token already followed" in last_line
    assert "x-amzn-RequestId" in last_line
    # A, B, then back to B's predecessor: page 3 asked twice more, then stopped.
    assert pages == 3 + 2
    # What came before the failure is intact and resumable.
    output = SingerOutput.parse(result.stdout)
    assert output.records("marketplace_participations")
    assert output.states


def test_a_stream_without_its_role_is_skipped_and_the_others_finish(tmp_path: Path):
    with StandIn(every_stream()) as server:
        server.inject(
            "getShipments",
            status=403,
            times=1000,
            body={"errors": [{"code": "Unauthorized", "message": "Access to requested "
                              "resource is denied.", "details": ""}]},
        )  # fmt: skip
        # The refused stream and others of the same role, which must still finish.
        others = ("outbound_orders", "outbound_package_tracking", "shipping_tracking")
        lenient = run_cli(
            cli_args(tmp_path, all_streams_config(server), {"inbound_shipments", *others})
        )
        strict = run_cli(
            cli_args(tmp_path, all_streams_config(server, strict=True), {"inbound_shipments"})
        )
        data = expected_keys(server.dataset)

    assert lenient.returncode == 0, lenient.stderr[-2000:]
    assert "Stream 'inbound_shipments' skipped for account 'default'" in lenient.stderr
    assert "'Amazon Fulfillment' role" in lenient.stderr
    output = SingerOutput.parse(lenient.stdout)
    assert not output.records("inbound_shipments")
    for stream in others:
        assert {key_of(stream, r) for r in output.records(stream)} == data[stream]
    assert strict.returncode == 1
    assert "stream 'inbound_shipments' of account 'default'" in error_line(strict.stderr)


@pytest.mark.parametrize("fault", ["drop", "truncate", "html", "empty", 500, 503])
def test_a_fault_on_every_operation_is_retried_to_a_complete_output(fault):
    with StandIn(every_stream()) as server:
        # A paged list, a per-id child and a per-label stream: each path of the client.
        for operation in ("listAllFulfillmentOrders", "getPackageTrackingDetails", "getTracking"):
            server.inject(operation, status=fault, times=1)
        streams = {*OUTBOUND_CHAIN, "shipping_tracking"}
        output = run_tap(all_streams_config(server), streams=streams)
        assert_complete(output, server, streams=streams)
        for operation in ("listAllFulfillmentOrders", "getPackageTrackingDetails", "getTracking"):
            assert server.stats.count(operation) > 1, operation  # the fault was met


def test_a_storm_of_429s_on_every_operation_clears_and_the_run_completes():
    with StandIn(every_stream()) as server:
        for operation in KEYS_OPERATIONS:
            server.inject(operation, status=429, times=5)
        output = run_tap(all_streams_config(server), streams=KEYS_STREAMS)
        assert_complete(output, server, streams=KEYS_STREAMS)
        assert sum(c.get("429", 0) for c in server.stats.snapshot().values()) >= 5 * 3


KEYS_OPERATIONS = ("getShipments", "listAllFulfillmentOrders", "getFulfillmentOrder",
                   "getPackageTrackingDetails", "getTracking")  # fmt: skip
# The streams that call them.
KEYS_STREAMS = {"inbound_shipments", *OUTBOUND_CHAIN, "shipping_tracking"}


def test_random_server_faults_at_five_percent_still_give_complete_output():
    # Every stream: random faults fall on every operation. Bounded by attempts
    # (max_retries); a request failing more often than that has odds of 1 in 10^8.
    # Over the tiny data set with records in every stream (180 requests a run).
    config = every_stream(error_rate=0.04, drop_rate=0.01)
    with StandIn(config) as server:
        output = run_tap(all_streams_config(server))
        assert_complete(output, server)
        faults = sum(c.get("500", 0) + c.get("503", 0) + c.get("drop", 0)
                     for c in server.stats.snapshot().values())  # fmt: skip
        assert faults > 0


def test_access_tokens_expiring_mid_run_and_an_lwa_fault_are_recovered(
    monkeypatch: pytest.MonkeyPatch,
):
    # Amazon expires every token when the 5th order detail is asked for: a point in the
    # run, not a lifetime in seconds a busy machine may or may not outlast. (The tap's
    # own refresh ahead of `expires_in` runs on a clock of its own: test_auth.py.)
    with StandIn(StandInConfig(seed=SEED, rate_scale=20.0)) as server:
        counted, details = server.app.stats.request, itertools.count(1)

        def request(key: str, headers: Any, target: str = "") -> None:
            counted(key, headers, target)
            if key == "getFulfillmentOrder" and next(details) == 5:  # one thread sees 5
                server.expire_tokens()

        monkeypatch.setattr(server.app.stats, "request", request)
        server.inject("lwa", status=500, times=1)
        output = run_tap(all_streams_config(server), streams=OUTBOUND_CHAIN)
        assert_complete(output, server, streams=OUTBOUND_CHAIN)
        assert server.stats.count("lwa", "refresh_token") >= 2
        assert server.stats.count("lwa") >= 3  # the 500, the first token, a fresh one


def test_a_fault_that_never_clears_ends_with_a_clear_error_and_valid_state(tmp_path: Path):
    with StandIn(every_stream()) as server:
        server.inject("getFulfillmentOrder", status=503, times=10_000)
        streams = ("outbound_orders", "outbound_shipments")
        result = run_cli(cli_args(tmp_path, all_streams_config(server, max_retries=2), streams))
        server.clear_faults()
        output = SingerOutput.parse(result.stdout)
        assert result.returncode == 1
        last_line = error_line(result.stderr)
        assert "getFulfillmentOrder" in last_line and "gave up retrying" in last_line
        assert "x-amzn-RequestId" in last_line
        # The last STATE resumes: a second run from it completes the data set.
        resumed = run_tap(tap_config(server), state=output.states[-1], streams=streams)
    for stream in streams:
        before = {key_of(stream, r) for r in output.records(stream)}
        after = {key_of(stream, r) for r in resumed.records(stream)}
        assert before | after == expected_keys(server.dataset)[stream]


def test_an_answer_slower_than_request_timeout_is_abandoned_and_retried():
    with StandIn(every_stream()) as server:
        server.inject("listAllFulfillmentOrders", status="slow", times=1)
        server.inject("getTracking", status="slow", times=1)
        streams = {PAGED, "shipping_tracking"}
        output = run_tap(all_streams_config(server, request_timeout=1), streams=streams)
        assert_complete(output, server, streams=streams)
        assert server.stats.count("listAllFulfillmentOrders", "slow") == 1


def test_a_marketplace_the_account_does_not_sell_in_is_refused_clearly(tmp_path: Path):
    with StandIn(every_stream()) as server:
        brazil = "A2Q3Y263D00KWC"  # North America region, not among the account's
        config = all_streams_config(server, marketplace_ids=[brazil])
        result = run_cli(cli_args(tmp_path, config, {"inbound_shipments"}))
    assert result.returncode == 1
    line = error_line(result.stderr)
    assert "stream 'inbound_shipments' (getShipments): HTTP 400 InvalidInput" in line
    assert "x-amzn-RequestId" in line


# Each paginated operation, in a data set that takes it several pages; the repeat falls on
# page 2 of a query that has a page 3 (for a shipment's lists: of the shipment with most).
def _any_second_page(server: StandIn) -> str:
    return "Token="


def _second_page_of_largest(kind: str) -> Callable[[StandIn], str]:
    def matching(server: StandIn) -> str:
        lists = getattr(server.dataset, f"plan_shipment_{kind}")
        largest = max(lists, key=lambda shipment: len(lists[shipment]))
        assert len(lists[largest]) >= 3, "a shipment with three pages"
        return f"{largest}/{kind}?pageSize=1000&paginationToken"

    return matching


REPEATED_TOKEN_CASES = [
    ("inbound_shipments", "getShipments", {"inbound_page_size": 2}, {}, _any_second_page),
    ("outbound_orders", "listAllFulfillmentOrders", {"outbound_page_size": 2}, {},
     _any_second_page),
    ("outbound_orders", "listOrders", {"outbound_page_size": 2},
     {"mcf_api_version": "2026-07-04"}, _any_second_page),
    ("orders", "searchOrders", {"orders_page_size": 2}, {}, _any_second_page),
    ("inbound_plan_shipment_items", "listShipmentItems", {"shipment_list_page_size": 1}, {},
     _second_page_of_largest("items")),
    ("inbound_plan_shipment_boxes", "listShipmentBoxes", {"shipment_list_page_size": 1}, {},
     _second_page_of_largest("boxes")),
    ("awd_inbound_shipments", "listInboundShipments", {"awd_page_size": 2}, {},
     _any_second_page),
    ("awd_outbound_orders", "listOutbounds", {"awd_page_size": 1}, {}, _any_second_page),
]  # fmt: skip


@pytest.mark.parametrize(
    ("stream", "operation", "serving", "settings", "matching"),
    REPEATED_TOKEN_CASES,
    ids=[case[1] for case in REPEATED_TOKEN_CASES],
)
def test_a_page_token_handed_out_again_once_is_asked_again_and_the_stream_completes(
    stream, operation, serving, settings, matching
):
    # Live Amazon now and then answers a page with a token already followed; asked
    # again, the page answers right (the stand-in's "repeat_token" does it once).
    with StandIn(every_stream(**serving)) as server:
        config = tap_config(server, **settings)
        baseline = run_tap(config, streams={stream})
        # Pages answered: a 429 is no page (burst 1 under the plans x50 may give one).
        pages = server.stats.count(operation, "200")
        server.inject(operation, "repeat_token", matching=matching(server))
        output = run_tap(config, streams={stream})
        again = server.stats.count(operation, "200") - pages
        expected = expected_keys(server.dataset)[stream]
    assert pages >= 3, "the data set takes the operation several pages"
    assert output.failures is not None and not output.failures.reported
    assert again == pages + 1  # the page with the repeated token, asked once more
    emitted = [key_of(stream, r) for r in output.records(stream)]
    assert len(emitted) == len(set(emitted)) and set(emitted) == expected
    assert {key_of(stream, r) for r in baseline.records(stream)} == expected
