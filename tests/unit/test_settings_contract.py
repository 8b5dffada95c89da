"""One source per setting: meltano.yml, `--about`, docs/settings.md, `Settings` and the checks
all agree with CONFIG_SCHEMA, and the schema's constraints are enforced naming the setting."""

from __future__ import annotations

import dataclasses
import json
import re
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tap_spapi.config.settings import CONFIG_SCHEMA, DEFAULTS, PROPERTIES, SECRET_SETTINGS, Settings
from tap_spapi.errors import SettingError
from tap_spapi.tap import TapSpapi
from testkit import VALID, run_cli

if TYPE_CHECKING:
    from collections.abc import Mapping

REPO = Path(__file__).resolve().parents[2]
# Meltano's `kind` for each JSON type of the schema (a string setting has no kind).
MELTANO_KINDS = {"integer": "integer", "boolean": "boolean", "array": "array", "object": "object"}


def meltano_settings() -> list[dict[str, Any]]:
    project = yaml.safe_load((REPO / "meltano.yml").read_text(encoding="utf-8"))
    (tap,) = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-spapi"]
    return list(tap["settings"])


def json_type(spec: Mapping[str, Any]) -> str:
    kinds = [spec["type"]] if isinstance(spec["type"], str) else spec["type"]
    return next(kind for kind in kinds if kind != "null")


def holds_a_secret(spec: Mapping[str, Any]) -> bool:
    """The setting is secret, or (like `accounts`) holds secrets inside it."""
    if spec.get("secret"):
        return True
    inner = [
        *(spec.get("properties") or {}).values(),
        *([spec["items"]] if "items" in spec else []),
    ]
    return any(holds_a_secret(child) for child in inner)


def test_meltano_yml_declares_exactly_the_schemas_settings_in_its_order():
    assert [setting["name"] for setting in meltano_settings()] == list(PROPERTIES)


@pytest.mark.parametrize("setting", meltano_settings(), ids=lambda s: s["name"])
def test_meltano_yml_kind_sensitivity_and_value_follow_the_schema(setting):
    spec = PROPERTIES[setting["name"]]
    expected_kind = MELTANO_KINDS.get(json_type(spec))
    if spec.get("format") == "date-time":
        expected_kind = "date_iso8601"
    assert setting.get("kind") == expected_kind
    assert bool(setting.get("sensitive")) == holds_a_secret(spec)
    if "value" in setting:
        assert setting["value"] == spec.get("default")


def test_about_json_lists_every_setting_with_its_secret_flag_and_the_packages_version():
    result = run_cli(["--about", "--format", "json"])
    assert result.returncode == 0, result.stderr
    about = json.loads(result.stdout)
    listed = about["settings"]["properties"]
    assert set(PROPERTIES) <= set(listed)
    for name, spec in PROPERTIES.items():
        assert bool(listed[name].get("secret")) == bool(spec.get("secret")), name
        assert listed[name].get("default") == spec.get("default"), name
    assert about["version"] == version("tap-spapi")


def test_version_and_default_user_agent_come_from_the_package_metadata():
    result = run_cli(["--version"])
    assert result.returncode == 0, result.stderr
    assert f"tap-spapi v{version('tap-spapi')}," in result.stdout
    assert DEFAULTS["user_agent"] == f"tap-spapi/{version('tap-spapi')}"


def test_settings_doc_table_lists_the_schemas_settings_and_defaults():
    settings_doc = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    table = settings_doc.split("<!-- settings:start -->")[1].split("<!-- settings:end -->")[0]
    rows = re.findall(r"^\| (\w+) \| (True|False) \| ([^|]*) \|", table, flags=re.MULTILINE)
    assert [name for name, _, _ in rows] == list(PROPERTIES)
    required = set(CONFIG_SCHEMA.get("required") or ())
    for name, is_required, default in rows:
        assert (is_required == "True") == (name in required), name
        assert default.strip() == str(DEFAULTS.get(name)), name


def test_settings_fields_are_the_schemas_properties_and_take_its_defaults():
    assert [field.name for field in dataclasses.fields(Settings)] == list(PROPERTIES)
    settings = Settings.from_config({**VALID, "request_timeout": None})
    for name, default in DEFAULTS.items():
        assert getattr(settings, name) == default, name


def test_a_setting_given_overrides_its_default():
    settings = Settings.from_config({**VALID, "lookback_window": 0, "marketplace_ids": ["A"]})
    assert settings.lookback_window == 0  # zero is a value, not "unset"
    assert settings.marketplace_ids == ("A",)


MINIMA = [(name, spec["minimum"]) for name, spec in PROPERTIES.items() if "minimum" in spec]


def test_the_schema_bounds_every_count_of_seconds_retries_and_workers():
    assert {name for name, _ in MINIMA} >= {
        "request_timeout",
        "max_retries",
        "max_retry_seconds",
        "max_concurrency",
        "max_parallel_accounts",
        "lookback_window",
        "report_wait_minutes",
        "shard_index",
        "shard_count",
    }


@pytest.mark.parametrize(("name", "minimum"), MINIMA)
def test_a_number_below_the_schemas_minimum_is_refused_naming_the_setting(name, minimum):
    with pytest.raises(SettingError) as raised:
        TapSpapi(config={**VALID, name: minimum - 1})
    assert str(raised.value) == f"setting '{name}': must be at least {minimum}, got {minimum - 1}"


@pytest.mark.parametrize(
    "name", [n for n, spec in PROPERTIES.items() if json_type(spec) == "integer"]
)
def test_a_number_of_the_wrong_type_names_the_setting_and_what_it_must_be(name):
    with pytest.raises(SettingError, match=rf"^setting '{name}': must be a whole number, got str"):
        TapSpapi(config={**VALID, name: "ten"})


@pytest.mark.parametrize("name", SECRET_SETTINGS)
def test_a_secret_of_the_wrong_type_is_named_but_never_echoed(name):
    with pytest.raises(SettingError) as raised:
        TapSpapi(config={**VALID, name: ["s3cr3t-value-0451"]})
    assert f"setting '{name}': must be a string, got list" in str(raised.value)
    assert "s3cr3t" not in str(raised.value)


def test_an_account_name_breaking_the_schemas_pattern_says_what_names_may_hold():
    accounts = [{"name": "acme us", "refresh_token": "Atzr|x"}]
    with pytest.raises(SettingError) as raised:
        TapSpapi(config={**VALID, "accounts": accounts})
    assert "setting 'accounts[0].name': must be letters, digits" in str(raised.value)


def test_an_empty_client_secret_is_required_not_echoed():
    with pytest.raises(SettingError, match=r"^setting 'client_secret': is required$"):
        TapSpapi(config={**VALID, "client_secret": ""})


def test_a_user_agent_too_long_for_amazon_is_refused():
    limit = PROPERTIES["user_agent"]["maxLength"]
    with pytest.raises(SettingError, match=rf"setting 'user_agent': too long: .*{limit} at most"):
        TapSpapi(config={**VALID, "user_agent": "x" * (limit + 1)})
