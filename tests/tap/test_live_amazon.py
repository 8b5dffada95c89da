"""Live Amazon, where it differs from its models: the tap copes with what users report.

Each test names the behaviour of `spapi_standin/live.py` it proves the tap copes with;
the stand-in enforces all of them by default.
"""

from __future__ import annotations

import datetime
import itertools
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest

from spapi_standin import StandIn, StandInConfig
from spapi_standin.live import BEHAVIOURS, DATE_RANGE_WITHOUT_LIST, LiveBehaviours
from tap_spapi.amazon.report_types import BY_TYPE
from testkit import (
    REPO,
    expected_keys,
    key_of,
    listed_identifiers,
    model_shipment_statuses,
    run_tap,
    select_only,
    seller_get,
    tap_config,
)

if TYPE_CHECKING:
    import requests


# The data set of the tap tier (the `standin` fixture's): built once a process, where each
# seed of its own would cost seconds.
SEED = 11


def _queries(server: Any, operation_id: str) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(t).query) for t in server.stats.targets(operation_id)]


def test_date_range_queries_name_every_model_status_in_one_request(standin):
    config = tap_config(standin)
    output = run_tap(config, catalog=select_only(config, {"inbound_shipments"}))
    emitted = {key_of("inbound_shipments", r) for r in output.records("inbound_shipments")}
    assert emitted == expected_keys(standin.dataset)["inbound_shipments"]
    queries = _queries(standin, "getShipments")
    first_pages = [q for q in queries if q["QueryType"] == ["DATE_RANGE"]]
    assert first_pages
    for query in first_pages:  # one parameter, comma-separated, every status of the model
        assert query["ShipmentStatusList"] == [",".join(model_shipment_statuses())]
    for query in queries:
        if query["QueryType"] == ["NEXT_TOKEN"]:  # the token alone (#822)
            assert set(query) == {"MarketplaceId", "QueryType", "NextToken"}


def _get(server: StandIn, path: str, **params: str) -> requests.Response:
    """A seller's GET to the stand-in, headers as every SP-API call carries them."""
    return seller_get(server, path, **params)


US = "ATVPDKIKX0DER"
SHIPMENTS = "/fba/inbound/v0/shipments"
WHOLE_RANGE = {
    "MarketplaceId": US,
    "QueryType": "DATE_RANGE",
    "LastUpdatedAfter": "2000-01-01T00:00:00Z",
    "LastUpdatedBefore": "2100-01-01T00:00:00Z",
}


def test_every_live_behaviour_is_switchable_and_in_the_docs():
    switches = set(vars(LiveBehaviours()))
    section = (REPO / "docs" / "live-amazon.md").read_text(encoding="utf-8")
    letter = LiveBehaviours.models_letter()  # the stand-in's --models-letter
    for behaviour in BEHAVIOURS:
        assert behaviour.switch in switches, behaviour.switch
        assert not getattr(letter, behaviour.switch), behaviour.switch
        assert f"`{behaviour.switch}`" in section, behaviour.switch
        for source in behaviour.source.split(";"):
            assert source.strip() in section, (behaviour.switch, source)


def test_a_date_range_without_a_status_or_id_list_is_refused_as_live_amazon_does():
    with StandIn(StandInConfig(seed=SEED, rate_limits=False)) as server:
        refused = _get(server, SHIPMENTS, **WHOLE_RANGE)
        assert refused.status_code == 400
        (error,) = refused.json()["errors"]
        assert (error["code"], error["message"]) == ("InvalidInput", DATE_RANGE_WITHOUT_LIST)
        statuses = ",".join(model_shipment_statuses())
        assert _get(server, SHIPMENTS, **WHOLE_RANGE, ShipmentStatusList=statuses).ok
        server.config.live.date_range_needs_a_list = False  # the model's letter
        assert _get(server, SHIPMENTS, **WHOLE_RANGE).ok


def test_a_next_token_sent_with_the_first_querys_filters_returns_the_first_page_again():
    config = StandInConfig(seed=SEED, rate_limits=False, inbound_page_size=5)
    with StandIn(config) as server:
        first_query = {**WHOLE_RANGE, "ShipmentStatusList": ",".join(model_shipment_statuses())}
        first = _get(server, SHIPMENTS, **first_query).json()["payload"]
        token = first["NextToken"]
        alone = _get(server, SHIPMENTS, MarketplaceId=US, QueryType="NEXT_TOKEN", NextToken=token)
        again = _get(
            server, SHIPMENTS, **{**first_query, "QueryType": "NEXT_TOKEN"}, NextToken=token
        )
        assert again.json()["payload"]["ShipmentData"] == first["ShipmentData"]
        assert alone.json()["payload"]["ShipmentData"] != first["ShipmentData"]


def test_the_tap_follows_inbound_pages_with_the_token_alone_to_a_complete_stream():
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0, inbound_page_size=7)) as server:
        config = tap_config(server)
        output = run_tap(config, catalog=select_only(config, {"inbound_shipments"}))
        emitted = [key_of("inbound_shipments", r) for r in output.records("inbound_shipments")]
        assert len(emitted) == len(set(emitted))
        assert set(emitted) == expected_keys(server.dataset)["inbound_shipments"]
        next_pages = [
            q for q in _queries(server, "getShipments") if q["QueryType"] == ["NEXT_TOKEN"]
        ]
        assert len(next_pages) > 10


def test_429s_without_a_rate_limit_header_are_waited_out(standin):
    standin.inject("getTracking", 429, times=3)
    config = tap_config(standin, tracking_ids=standin.dataset.tracking_labels())
    output = run_tap(config, catalog=select_only(config, {"shipping_tracking"}))
    emitted = {key_of("shipping_tracking", r) for r in output.records("shipping_tracking")}
    assert emitted == expected_keys(standin.dataset)["shipping_tracking"]
    assert standin.stats.count("getTracking", "429") == 3
    throttled = _get(standin, "/sellers/v1/marketplaceParticipations")
    for _ in range(20):  # 15 tokens of burst, then Amazon's 429
        if throttled.status_code == 429:
            break
        throttled = _get(standin, "/sellers/v1/marketplaceParticipations")
    assert throttled.status_code == 429
    assert "x-amzn-RateLimit-Limit" not in throttled.headers


def test_a_tracking_payload_of_nulls_is_a_warning_not_a_record_or_a_null_bookmark(standin, caplog):
    nulls = standin.dataset.null_tracking_ids
    assert nulls, "the seed gives some labels an empty payload"
    config = tap_config(standin, tracking_ids=standin.dataset.tracking_labels())
    catalog = select_only(config, {"shipping_tracking"})
    with caplog.at_level(logging.DEBUG, logger="tap-spapi.shipping_tracking"):
        first = run_tap(config, catalog=catalog)
    records = first.records("shipping_tracking")
    assert records and not [r for r in records if r["trackingId"] in nulls]
    for tracking_id in nulls:  # each at DEBUG, all of them in one warning for the run
        assert f"getTracking returned an empty payload for {tracking_id}/" in caplog.text
    (warning,) = first.gathered
    assert warning.startswith(
        f"getTracking returned an empty payload (no status, events or dates) for {len(nulls)} "
    )
    assert sum(tracking_id in warning for tracking_id in nulls) == min(len(nulls), 3)
    (labels,) = first.states[-1]["bookmarks"]["shipping_tracking"]["partitions"]
    kept = {
        label for book in (labels["open"], labels["final"]) for v in book.values() for label in v
    }
    assert kept and not kept & set(nulls)  # no time, not final: nothing kept for them
    before = standin.stats.count("getTracking")
    run_tap(config, catalog=catalog, state=first.states[-1])
    asked = {
        parse_qs(urlsplit(t).query)["trackingId"][0] for t in standin.stats.targets("getTracking")
    }
    assert standin.stats.count("getTracking") > before
    assert nulls <= asked  # asked again: the next answer may carry data


@pytest.mark.parametrize(
    "report_type",
    # The seller-fulfilled returns report ends CANCELLED whenever it has no data
    # (selling-partner-api-models #2292, #2668).
    ["GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA", "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE"],
)
def test_a_report_window_without_data_ends_cancelled_and_the_stream_moves_on(report_type: str):
    now = datetime.datetime.now(datetime.UTC)
    config = StandInConfig(seed=5, rate_scale=50.0, now=now, history_days=40)
    # A range limit, so the 100 days are asked in several reports, the first ones before
    # the data begins.
    config.report_longest_range_days[report_type] = 30.0
    with StandIn(config) as server:
        stream = BY_TYPE[report_type].stream_name
        start = now - datetime.timedelta(days=100)
        tap = tap_config(server, start_date=start.isoformat())
        output = run_tap(tap, catalog=select_only(tap, {stream}))
        outcomes = {
            (r.start, r.end): r.status()
            for r in server.reports.reports.values()
            if r.report_type == report_type and r.status() in {"DONE", "CANCELLED"}
        }
        for (window_start, window_end), status in outcomes.items():
            empty = not server.reports.keys_of(report_type, window_start, window_end)
            assert status == ("CANCELLED" if empty else "DONE"), (window_start, window_end)
        assert {"CANCELLED", "DONE"} <= set(outcomes.values())
        emitted = {key_of(stream, r) for r in output.records(stream)}
        assert emitted == server.reports.keys_of(report_type)
        bookmark = output.states[-1]["bookmarks"][stream]["partitions"][0]["window_end"]
        assert datetime.datetime.fromisoformat(bookmark) >= now.replace(microsecond=0)


def test_an_expired_document_link_is_replaced_by_a_fresh_one(monkeypatch: pytest.MonkeyPatch):
    # Amazon's links last 5 minutes. The first one expires when the tap reads it again
    # after three 500s: the stand-in's links last no time at all for that one download,
    # a point in the run rather than a lifetime in seconds that a busy machine may
    # stretch past (or not), and last 5 minutes again for the fresh link.
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        live, counted, downloads = server.config.live, server.app.stats.request, itertools.count(1)
        lifetime = live.document_link_seconds

        def request(key: str, headers: Any, target: str = "") -> None:
            counted(key, headers, target)
            if key == "reportDocumentDownload":
                live.document_link_seconds = 1e-9 if next(downloads) == 4 else lifetime

        monkeypatch.setattr(server.app.stats, "request", request)
        stream = "flat_file_actionable_order_data_shipping"
        for _ in range(3):
            server.inject("reportDocumentDownload", 500)
        tap = tap_config(server)
        output = run_tap(tap, catalog=select_only(tap, {stream}))
        emitted = {key_of(stream, r) for r in output.records(stream)}
        assert emitted == server.reports.keys_of("GET_FLAT_FILE_ACTIONABLE_ORDER_DATA_SHIPPING")
        assert server.stats.count("reportDocumentDownload", "500") == 3
        assert server.stats.count("reportDocumentDownload", "403") == 1  # S3's AccessDenied
        assert server.stats.count("reportDocumentDownload", "200") == 1
        assert server.stats.count("getReportDocument") == 2  # a fresh link after the 403


def test_an_empty_tracking_api_answer_echoing_its_identifier_is_a_warning_not_a_record(
    standin, caplog
):
    # The rule of getTracking's empty payloads (#4923) applied to getShipmentTracking: an
    # answer that names its identifier and nothing else is not loaded over a good row.
    listed = [e for e in listed_identifiers(standin.dataset) if e["type"] == "containerNumber"]
    emptied = listed[0]
    key = (emptied["type"], emptied["value"])
    with standin.dataset.lock:
        detail = standin.dataset.shipment_trackings[key]
        standin.dataset.shipment_trackings[key] = {
            name: detail[name] if name == "identifier" else None for name in detail
        }
    config = tap_config(standin, shipment_tracking_ids=listed)
    with caplog.at_level(logging.WARNING):
        output = run_tap(config, catalog=select_only(config, {"shipment_tracking"}))
    values = {r["identifierValue"] for r in output.records("shipment_tracking")}
    assert emptied["value"] not in values
    assert {e["value"] for e in listed[1:]} <= values
    assert (
        f"empty tracking (no status, milestones or estimates) for containerNumber "
        f"{emptied['value']}" in caplog.text
    )
