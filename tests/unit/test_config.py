"""Settings: the public contract, start-up checks and their one-line errors."""

from __future__ import annotations

import datetime
import json
import logging

import pytest

from tap_spapi.amazon.operations import load_catalog
from tap_spapi.config import shipment_identifiers, tracking_ids
from tap_spapi.config.shipment_identifiers import ShipmentIdentifier
from tap_spapi.config.tracking_ids import TrackedLabel
from tap_spapi.errors import MissingExtraError, SettingError
from tap_spapi.streams.shipping import SHIPPING_BUSINESS_HEADER, ShippingStream
from tap_spapi.tap import TapSpapi
from tap_spapi.wire.pacing import UsagePlan
from testkit import VALID, run_cli, write_config

CONTRACT = [
    "client_id",
    "client_secret",
    "refresh_token",
    "selling_partner_id",
    "accounts",
    "max_parallel_accounts",
    "shard_index",
    "shard_count",
    "strict",
    "region",
    "marketplace_ids",
    "start_date",
    "sandbox",
    "api_url",
    "lwa_token_url",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "role_arn",
    "user_agent",
    "request_timeout",
]


def test_about_markdown_lists_every_setting_of_the_contract():
    result = run_cli(["--about", "--format=markdown"])
    assert result.returncode == 0, result.stderr
    for setting in CONTRACT:
        assert f"| {setting}" in result.stdout, setting


@pytest.mark.parametrize(
    ("overrides", "setting", "words"),
    [
        ({"region": "us"}, "region", "unknown region 'us'"),
        ({"marketplace_ids": ["A1PA6795UKMFR9"]}, "marketplace_ids", "belongs to region 'eu'"),
        ({"aws_access_key_id": "AKIDEXAMPLE"}, "aws_secret_access_key", "is required"),
        ({"aws_secret_access_key": "s3cr3t-aws-key"}, "aws_access_key_id", "is required"),
        ({"start_date": "last tuesday"}, "start_date", "not an ISO 8601"),
        ({"api_url": "ftp://example"}, "api_url", "http(s) URL"),
        ({"request_timeout": 0}, "request_timeout", "must be at least 1"),
        ({"rate_limit_overrides": {"getShipments": {"rate": -1}}}, "rate_limit_overrides", ""),
        ({"accounts": [{"name": "acme"}]}, "accounts[0].refresh_token", "is required"),
        ({"accounts": [{"name": "a b", "refresh_token": "Atzr|x"}]}, "accounts[0].name", ""),
        (
            {
                "accounts": [
                    {"name": "a", "refresh_token": "x"},
                    {"name": "a", "refresh_token": "y"},
                ]
            },
            "accounts[1].name",
            "used twice",
        ),
        (
            {
                "accounts": [
                    {
                        "name": "a",
                        "refresh_token": "x",
                        "region": "eu",
                        "marketplace_ids": ["ATVPDKIKX0DER"],
                    }
                ]
            },
            "accounts[0].marketplace_ids",
            "belongs to region 'na'",
        ),
        ({"accounts": []}, "accounts", "non-empty list"),
        ({"shard_index": 2, "shard_count": 2}, "shard_index", "below shard_count"),
        ({"max_parallel_accounts": 0}, "max_parallel_accounts", "at least 1"),
        ({"user_agent": "MyApp/1.0\r\nX-Injected: 1"}, "user_agent", "one line"),
        ({"user_agent": "MyApp/1.0\x00"}, "user_agent", "control characters"),
        (
            {"rate_limit_overrides": {"getShipmentTrackng": {"rate": 5, "burst": 10}}},
            "rate_limit_overrides",
            "'getShipmentTrackng' is not an SP-API operation id the tap knows; "
            "did you mean 'getShipmentTracking'?",
        ),
        (
            {"rate_limit_overrides": {"zzz": {"rate": 5}}},
            "rate_limit_overrides",
            "'zzz' is not an SP-API operation id the tap knows; use an operationId",
        ),
        ({"shard_count": 2}, "shard_count", "single top-level account cannot be sharded"),
        (
            {"shipment_tracking_ids": [{"type": "aftn", "value": "AFTN1", "account": "acme"}]},
            "shipment_tracking_ids",
            "item 1: account 'acme' is not configured; without `accounts` the one account "
            "is 'default'",
        ),
        (
            {
                "accounts": [
                    {"name": "acme-us", "refresh_token": "x"},
                    {"name": "acme-de", "refresh_token": "y"},
                ],
                "tracking_ids": [
                    {"tracking_id": "T1", "carrier_id": "C"},
                    {"tracking_id": "T2", "carrier_id": "C", "account": "acme-uk"},
                ],
            },
            "tracking_ids",
            "item 2: account 'acme-uk' is not configured; did you mean 'acme-us'?",
        ),
    ],
)
def test_bad_setting_gives_one_line_error_naming_it(tmp_path, overrides, setting, words):
    result = run_cli(["--config", write_config(tmp_path, **overrides)])
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("tap-spapi: error: setting ")
    assert f"'{setting}'" in last_line and words in last_line
    assert "Traceback" not in result.stderr


def test_secret_of_wrong_type_is_not_echoed(tmp_path):
    result = run_cli(["--config", write_config(tmp_path, client_secret=1234567890123)])
    assert result.returncode != 0
    assert "setting 'client_secret': must be a string, got int" in result.stderr
    assert "1234567890123" not in result.stderr + result.stdout


def test_settings_come_from_tap_spapi_environment_variables(monkeypatch):
    monkeypatch.setenv("TAP_SPAPI_CLIENT_ID", "id-from-env")
    monkeypatch.setenv("TAP_SPAPI_CLIENT_SECRET", "secret-from-env")
    monkeypatch.setenv("TAP_SPAPI_REFRESH_TOKEN", "Atzr|from-env")
    monkeypatch.setenv("TAP_SPAPI_REGION", "eu")
    monkeypatch.setenv("TAP_SPAPI_MARKETPLACE_IDS", '["A1PA6795UKMFR9","A1F83G8C2ARO7P"]')
    monkeypatch.setenv("TAP_SPAPI_REQUEST_TIMEOUT", "30")
    tap = TapSpapi(config={}, parse_env_config=True)
    assert tap.config["region"] == "eu"
    assert tap.config["marketplace_ids"] == ["A1PA6795UKMFR9", "A1F83G8C2ARO7P"]
    assert tap.config["request_timeout"] == 30
    assert tap.run.accounts["default"].base_url == "https://sellingpartnerapi-eu.amazon.com"


def test_sandbox_and_region_choose_the_endpoint():
    tap = TapSpapi(config={**VALID, "region": "fe", "sandbox": True})
    assert tap.run.accounts["default"].base_url == "https://sandbox.sellingpartnerapi-fe.amazon.com"


def test_unknown_setting_is_warned_not_fatal(caplog):
    TapSpapi(config={**VALID, "refresh_tokn": "typo"})
    assert "Ignoring unknown setting 'refresh_tokn'" in caplog.text


def test_aws_settings_without_botocore_name_the_extra(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def no_botocore(name, *args, **kwargs):
        return None if name == "botocore" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", no_botocore)
    with pytest.raises(MissingExtraError, match=r"tap-spapi\[aws\]"):
        TapSpapi(config={**VALID, "aws_access_key_id": "AKID", "aws_secret_access_key": "x" * 40})


def test_setting_error_is_raised_in_process_too():
    with pytest.raises(SettingError, match="setting 'region'"):
        TapSpapi(config={**VALID, "region": "moon"})


def test_an_accounts_refresh_token_of_the_wrong_type_is_not_echoed(tmp_path):
    accounts = [{"name": "acme", "refresh_token": 9876543210123}]
    result = run_cli(["--config", write_config(tmp_path, accounts=accounts)])
    assert result.returncode != 0
    assert "setting 'accounts[0].refresh_token'" in result.stderr
    assert "9876543210123" not in result.stderr + result.stdout


def test_a_state_file_that_is_not_json_is_named(tmp_path):
    state = tmp_path / "state.json"
    state.write_text('{"bookmarks": {"outbound_orders": ')
    result = run_cli(["--config", write_config(tmp_path), "--state", str(state)])
    assert result.returncode == 1
    assert f"tap-spapi: error: --state {state}: not JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bookmark_in_the_future_is_refused_before_anything_is_skipped(tmp_path):
    state = tmp_path / "state.json"
    tomorrow = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    moment = tomorrow.strftime("%Y-%m-%dT%H:%M:%SZ")
    future = {"context": {"account": "default"}, "replication_key_value": moment}
    state.write_text(json.dumps({"bookmarks": {"outbound_orders": {"partitions": [future]}}}))
    result = run_cli(["--config", write_config(tmp_path), "--state", str(state)])
    assert result.returncode == 1
    assert f"stream 'outbound_orders' replication_key_value {moment}" in result.stderr
    assert "in the future" in result.stderr
    assert "Traceback" not in result.stderr


def test_overrides_accept_every_operation_id_the_tap_paces_qualified_or_not():
    every = {operation.operation_id: {"rate": 1, "burst": 1} for operation in load_catalog()}
    assert "fulfillmentInbound_2024-03-20.getShipment" in every  # a qualified one
    tap = TapSpapi(config={**VALID, "rate_limit_overrides": every})
    assert tap.settings.rate_limit_overrides == every


def test_an_override_of_an_unqualified_name_suggests_the_qualified_id():
    overrides = {"fulfillmentInbound.getShipment": {"rate": 2, "burst": 2}}
    with pytest.raises(SettingError) as raised:
        TapSpapi(config={**VALID, "rate_limit_overrides": overrides})
    assert "did you mean 'fulfillmentInbound_2024-03-20.getShipment'?" in str(raised.value)


def test_shards_of_several_accounts_are_accepted():
    accounts = [
        {"name": "acme-us", "refresh_token": "x"},
        {"name": "acme-de", "refresh_token": "y"},
    ]
    tap = TapSpapi(config={**VALID, "accounts": accounts, "shard_index": 1, "shard_count": 2})
    assert tap.settings.shard_count == 2


@pytest.mark.parametrize(
    ("setting", "text"),
    [
        ("tracking_ids_file", "tracking_id,carrier_id,account\nT1,C,acme\n"),
        ("shipment_tracking_ids_file", "type,value,account\naftn,AFTN1,\naftn,AFTN2,acme\n"),
    ],
)
def test_an_id_file_naming_an_unknown_account_names_the_line(tmp_path, setting, text):
    path = tmp_path / "ids.csv"
    path.write_text(text)
    line = text.count("\n")
    with pytest.raises(SettingError) as raised:
        TapSpapi(config={**VALID, setting: str(path)})
    assert str(raised.value) == (
        f"setting '{setting}': line {line}: account 'acme' is not configured; "
        "without `accounts` the one account is 'default'"
    )


def test_the_checks_parse_files_and_overrides_once_and_the_run_uses_what_they_parsed(
    tmp_path, monkeypatch
):
    labels, identifiers = tmp_path / "labels.csv", tmp_path / "identifiers.jsonl"
    labels.write_text("tracking_id,carrier_id\nT1,C1\n")
    identifiers.write_text('{"type": "aftn", "value": "AFTN1"}\n')
    reads: list[str] = []
    real = tracking_ids.file_rows

    def counted(path: str, setting: str, columns: tuple[str, ...]) -> list:
        reads.append(setting)
        return real(path, setting, columns)

    # Both modules read files through the one function, by the name in tracking_ids.
    monkeypatch.setattr(tracking_ids, "file_rows", counted)
    assert shipment_identifiers.listed_in_file is tracking_ids.listed_in_file
    overrides = {"getTracking": {"rate": 5, "burst": 10}}
    tap = TapSpapi(
        config={
            **VALID,
            "tracking_ids_file": str(labels),
            "shipment_tracking_ids_file": str(identifiers),
            "rate_limit_overrides": overrides,
        }
    )
    try:
        assert tap.run.settings is tap.settings
        assert tap.settings.labels == [TrackedLabel("T1", "C1")]
        assert tap.run.settings.identifiers == [ShipmentIdentifier("aftn", "AFTN1")]
        account = tap.run.accounts["default"]
        assert account.settings.shared is tap.settings  # the run's settings, not a copy
        assert account.limiter.plan("getTracking") == UsagePlan(5.0, 10)
        assert tap.settings.rate_limits is account.settings.shared.rate_limits
    finally:
        tap.run.close()
    assert sorted(reads) == ["shipment_tracking_ids_file", "tracking_ids_file"]


@pytest.mark.parametrize("business", ["AmazonShipping_US", None])
def test_amazon_shipping_calls_carry_the_shipping_business_of_the_settings(business):
    tap = TapSpapi(config={**VALID, "shipping_business_id": business})
    shipping = [s for s in tap.streams.values() if isinstance(s, ShippingStream)]
    assert {s.name for s in shipping} == {"shipping_tracking", "shipping_carrier_accounts"}
    for stream in shipping:
        assert stream.http_headers.get(SHIPPING_BUSINESS_HEADER) == business


def test_ids_of_the_default_account_by_name_are_accepted():
    listed = [{"type": "aftn", "value": "AFTN1", "account": "default"}]
    TapSpapi(config={**VALID, "shipment_tracking_ids": listed})


@pytest.mark.parametrize("setting", ["tracking_ids_file", "shipment_tracking_ids_file"])
@pytest.mark.parametrize(
    ("name", "text"),
    [("ids.csv", ""), ("ids.csv", "\n"), ("ids.jsonl", ""), ("ids.jsonl", "\n\n")],
)
def test_an_empty_id_file_means_no_ids_with_one_warning_whichever_setting(
    tmp_path, caplog, setting, name, text
):
    path = tmp_path / name
    path.write_text(text)
    with caplog.at_level(logging.WARNING):
        TapSpapi(config={**VALID, setting: str(path)})
    warned = [r.getMessage() for r in caplog.records if "holds no ids" in r.getMessage()]
    assert warned == [f"Setting '{setting}': {path} holds no ids; nothing is tracked from it."]


@pytest.mark.parametrize(
    ("setting", "header"),
    [("tracking_ids_file", "tracking_id,carrier_id"), ("shipment_tracking_ids_file", "type,value")],
)
def test_an_id_file_with_only_its_header_is_empty_too(tmp_path, caplog, setting, header):
    path = tmp_path / "ids.csv"
    path.write_text(header + "\n")
    with caplog.at_level(logging.WARNING):
        TapSpapi(config={**VALID, setting: str(path)})
    assert f"Setting '{setting}': {path} holds no ids" in caplog.text


def test_an_id_file_with_ids_is_not_warned_of(tmp_path, caplog):
    path = tmp_path / "ids.jsonl"
    path.write_text('{"type": "aftn", "value": "AFTN1"}\n')
    with caplog.at_level(logging.WARNING):
        TapSpapi(config={**VALID, "shipment_tracking_ids_file": str(path)})
    assert "holds no ids" not in caplog.text
