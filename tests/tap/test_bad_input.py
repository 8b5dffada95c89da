"""Bad input ends with one line naming the setting or file, never a traceback."""

from __future__ import annotations

import datetime
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest
from typing_extensions import override

from tap_spapi.tap import TapSpapi
from testkit import (
    VALID,
    SingerOutput,
    listed_identifiers,
    run_cli,
    run_tap,
    select_only,
    tap_config,
    write_config,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from spapi_standin import StandIn

ORDERS = "outbound_orders"


def last_line(result: Any) -> str:
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return str(result.stderr.strip().splitlines()[-1])


def orders_state(**partition: Any) -> dict[str, Any]:
    entry = {"context": {"account": "default"}, **partition}
    return {"bookmarks": {ORDERS: {"partitions": [entry]}}}


def run_with_state(tmp_path: Path, state: Any) -> Any:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state))
    return run_cli(["--config", write_config(tmp_path), "--state", str(path)])


def test_a_tracking_ids_file_that_is_not_utf8_is_named(tmp_path: Path):
    labels = tmp_path / "labels.csv"
    labels.write_bytes("tracking_id,carrier_id\nTRK-1,CARRIER\n".encode("utf-16"))
    line = last_line(run_cli(["--config", write_config(tmp_path, tracking_ids_file=str(labels))]))
    assert line.startswith("tap-spapi: error: setting 'tracking_ids_file'")
    assert "not UTF-8" in line


def test_a_catalog_whose_streams_are_not_a_list_is_named(tmp_path: Path):
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"streams": "all"}))
    line = last_line(run_cli(["--config", write_config(tmp_path), "--catalog", str(catalog)]))
    assert f"--catalog {catalog}: 'streams' must be a list" in line


@pytest.mark.parametrize(("content", "words"), [(None, "no such file"), ("{oops", "not JSON")])
def test_a_config_file_missing_or_not_json_is_named(tmp_path: Path, content: Any, words: str):
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    line = last_line(run_cli(["--config", str(path)]))
    assert line.startswith(f"tap-spapi: error: --config {path}: {words}")


def final_shipments_state(final: Any) -> dict[str, Any]:
    partition = {"context": {"account": "default"}, "final_shipments": final}
    return {"bookmarks": {"inbound_plan_shipments": {"partitions": [partition]}}}


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ({"bookmarks": {ORDERS: {"partitions": "all"}}}, "'partitions' must be a list"),
        ({"bookmarks": {ORDERS: {"partitions": [1, "x"]}}}, "'partitions' must be a list"),
        (
            {"bookmarks": {"inbound_shipments": {"partitions": [{"window_end": 1767225600}]}}},
            "window_end must be an ISO 8601 date-time string, got int",
        ),
        (orders_state(replication_key_value=1767225600), "replication_key_value must be"),
        (orders_state(replication_key_value={"at": "x"}), "got dict"),
        ({"stream": ORDERS}, 'expected {"bookmarks": {...}}, a Singer STATE message'),
        (
            {"bookmarks": {"shipment_tracking": {"partitions": [{"open": {"aftn": "x"}}]}}},
            "stream 'shipment_tracking' open must be an object of {identifier: integer}",
        ),
        (
            {"bookmarks": {"shipping_tracking": {"partitions": [{"final": ["TBA1"]}]}}},
            "stream 'shipping_tracking' final must be an object",
        ),
        (
            {"bookmarks": {"shipment_tracking": {"partitions": [{"refused": {"aftn": 3}}]}}},
            "stream 'shipment_tracking' refused must be an object of {identifier: integer}",
        ),
        (
            final_shipments_state("sh1"),
            "stream 'inbound_plan_shipments' final_shipments must be an object of shipment ids",
        ),
        (final_shipments_state({"sh1": [1]}), "final_shipments must be an object of shipment"),
        (final_shipments_state(["sh1"]), "final_shipments must be an object of shipment ids"),
        (
            {"bookmarks": {ORDERS: {"partitions": [{"context": "default"}]}}},
            f"stream '{ORDERS}' partition context must be an object, got str",
        ),
    ],
)
def test_a_state_the_tap_cannot_use_is_refused_in_one_line(tmp_path: Path, state, words):
    line = last_line(run_with_state(tmp_path, state))
    assert line.startswith("tap-spapi: error: --state") and words in line, line


def test_a_start_date_in_the_future_is_refused(tmp_path: Path):
    tomorrow = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    start = tomorrow.strftime("%Y-%m-%dT%H:%M:%SZ")
    line = last_line(run_cli(["--config", write_config(tmp_path, start_date=start)]))
    assert line.startswith("tap-spapi: error: setting 'start_date'") and "future" in line


@pytest.mark.parametrize("form", ["message", "meltano"])
def test_a_state_in_singer_message_or_meltano_form_is_understood(form: str):
    yesterday = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    state = orders_state(replication_key_value=yesterday.isoformat())
    wrapped = {"type": "STATE", "value": state} if form == "message" else {"singer_state": state}
    tap = TapSpapi(config=VALID, state=wrapped)
    bookmark = tap.streams[ORDERS].get_context_state({"account": "default"})
    assert bookmark["replication_key_value"] == yesterday.isoformat()


def test_state_of_an_account_that_is_not_configured_is_warned_of(caplog):
    yesterday = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    state = orders_state(replication_key_value=yesterday.isoformat())
    state["bookmarks"][ORDERS]["partitions"][0]["context"]["account"] = "renamed-shop"
    with caplog.at_level(logging.WARNING):
        TapSpapi(config=VALID, state=state)
    assert "belongs to account 'renamed-shop', which is not configured" in caplog.text


def test_a_final_status_that_is_not_one_is_warned_of_and_the_label_tracked(
    caplog, standin: StandIn
):
    labels = standin.dataset.tracking_labels()
    config = tap_config(standin, tracking_ids=labels)
    label = labels[0]
    context = {"account": "default", "trackingId": label["tracking_id"],
               "carrierId": label["carrier_id"]}  # fmt: skip
    state = {"bookmarks": {"shipping_tracking": {"partitions": [
        {"context": context, "final_status": "Deliverd"}]}}}  # fmt: skip
    with caplog.at_level(logging.WARNING):
        output = run_tap(config, state=state, streams={"shipping_tracking"})
    assert "'Deliverd', which is not a final status" in caplog.text
    tracked = {record["trackingId"] for record in output.records("shipping_tracking")}
    assert label["tracking_id"] in tracked


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _HtmlPage(BaseHTTPRequestHandler):
    """A proxy's error page, whatever is asked."""

    def _page(self) -> None:
        body = b"<html><body><h1>Welcome to nginx!</h1></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _page  # noqa: N815 - http.server's names

    @override
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def html_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HtmlPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def run_against(tmp_path: Path, server: StandIn, **overrides: Any) -> Any:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(tap_config(server, **overrides)))
    return run_cli(["--config", str(path)])


def test_an_api_url_that_refuses_connections_fails_at_once_naming_host_and_setting(
    tmp_path: Path, standin: StandIn
):
    port = free_port()
    result = run_against(tmp_path, standin, api_url=f"http://127.0.0.1:{port}")
    last_line(result)
    line = next(x for x in result.stderr.splitlines() if x.startswith("tap-spapi: error: account"))
    assert f"http://127.0.0.1:{port} does not answer" in line and "setting api_url" in line
    assert "after 3 attempts" in line  # not minutes of backoff


def test_an_api_url_that_answers_html_fails_at_once_saying_so(
    tmp_path: Path, standin: StandIn, html_url: str
):
    result = run_against(tmp_path, standin, api_url=html_url)
    last_line(result)
    line = next(x for x in result.stderr.splitlines() if x.startswith("tap-spapi: error: account"))
    assert f"{html_url} answers, but not with JSON" in line and "setting api_url" in line


def test_an_lwa_endpoint_that_answers_html_says_so(tmp_path: Path, standin: StandIn, html_url: str):
    result = run_against(tmp_path, standin, lwa_token_url=f"{html_url}/auth/o2/token")
    last_line(result)
    assert "with a body that is not JSON (text/html" in result.stderr
    assert "setting 'lwa_token_url'" in result.stderr
    assert "HTTP 200: OK" not in result.stderr


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        (
            {"rate_limit_overrides": {"getShipmentTrackng": {"rate": 5, "burst": 10}}},
            "setting 'rate_limit_overrides': 'getShipmentTrackng' is not an SP-API operation "
            "id the tap knows; did you mean 'getShipmentTracking'?",
        ),
        (
            {"shard_index": 1, "shard_count": 2},
            "setting 'shard_count': 2 shards split `accounts`, which is not set: the single "
            "top-level account cannot be sharded; list the accounts in `accounts`, or set "
            "shard_count to 1",
        ),
        (
            {"shipment_tracking_ids": [{"type": "aftn", "value": "AFTN1", "account": "acme"}]},
            "setting 'shipment_tracking_ids': item 1: account 'acme' is not configured; "
            "without `accounts` the one account is 'default'",
        ),
        (
            {"tracking_ids": [{"tracking_id": "T1", "carrier_id": "C", "account": "defualt"}]},
            "setting 'tracking_ids': item 1: account 'defualt' is not configured; did you "
            "mean 'default'?",
        ),
    ],
    ids=["override", "shards", "identifier", "label"],
)
def test_a_setting_that_would_do_nothing_stops_the_run_before_any_request(
    tmp_path: Path, standin: StandIn, settings: dict[str, Any], words: str
):
    line = last_line(run_against(tmp_path, standin, **settings))
    assert line == f"tap-spapi: error: {words}"
    assert standin.stats.snapshot() == {}  # not even a token


@pytest.mark.parametrize(
    ("setting", "entry"),
    [
        ("tracking_ids_file", {"tracking_id": "T1", "carrier_id": "C"}),
        ("shipment_tracking_ids_file", {"type": "aftn", "value": "AFTN1"}),
    ],
)
def test_an_id_file_line_of_an_unknown_account_stops_the_run_before_any_request(
    tmp_path: Path, standin: StandIn, setting: str, entry: dict[str, str]
):
    path = tmp_path / "ids.jsonl"
    path.write_text(f"{json.dumps(entry)}\n\n{json.dumps({**entry, 'account': 'acme'})}\n")
    line = last_line(run_against(tmp_path, standin, **{setting: str(path)}))
    assert line == (
        f"tap-spapi: error: setting '{setting}': line 3: account 'acme' is not configured; "
        "without `accounts` the one account is 'default'"
    )
    assert standin.stats.snapshot() == {}


@pytest.mark.parametrize(
    ("setting", "stream"),
    [
        ("tracking_ids_file", "shipping_tracking"),
        ("shipment_tracking_ids_file", "shipment_tracking"),
    ],
)
def test_an_empty_id_file_means_no_ids_and_one_warning_whichever_setting_names_it(
    tmp_path: Path, standin: StandIn, setting: str, stream: str
):
    # A CSV without even its header: once refused for identifiers, accepted for labels.
    empty = tmp_path / "ids.csv"
    empty.write_text("")
    if stream == "shipping_tracking":
        listed = {"tracking_ids": standin.dataset.tracking_labels()[:2]}
        wanted = {label["tracking_id"] for label in listed["tracking_ids"]}
        key = "trackingId"
    else:
        listed = {"shipment_tracking_ids": listed_identifiers(standin.dataset)[:2]}
        wanted = {entry["value"] for entry in listed["shipment_tracking_ids"]}
        key = "identifierValue"
    config = tap_config(standin, **listed, **{setting: str(empty)})
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(select_only(config, {stream})))
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    result = run_cli(["--config", str(path), "--catalog", str(catalog)])
    assert result.returncode == 0, result.stderr[-3000:]
    warned = [line for line in result.stderr.splitlines() if "holds no ids" in line]
    assert len(warned) == 1, warned
    assert f"Setting '{setting}': {empty} holds no ids; nothing is tracked from it." in warned[0]
    emitted = {record[key] for record in SingerOutput.parse(result.stdout).records(stream)}
    assert wanted <= emitted  # the setting's own ids are tracked all the same
