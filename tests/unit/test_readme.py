"""The README's example config and its table of roles are the tap's own, not copies that
drift: the sample passes the tap's start-up checks, and the table is what the code names."""

from __future__ import annotations

import json
import sys

from tap_spapi.config.settings import CONFIG_SCHEMA, SECRET_SETTINGS
from tap_spapi.tap import TapSpapi
from testkit import REPO

sys.path.insert(0, str(REPO / "scripts"))
import roles_table  # scripts/ is not a package

SAMPLE = REPO / "config.sample.json"
README = REPO / "README.md"


def test_the_sample_config_passes_the_taps_start_up_checks():
    config = json.loads(SAMPLE.read_text(encoding="utf-8"))
    tap = TapSpapi(config=config, validate_config=True)
    assert set(CONFIG_SCHEMA["required"]) <= set(config)
    assert {"refresh_token", "region", "start_date"} <= set(config)
    assert tap.config["region"] == config["region"]


def test_the_sample_config_holds_placeholders_not_secrets():
    config = json.loads(SAMPLE.read_text(encoding="utf-8"))
    for name in {"client_id", *SECRET_SETTINGS} & set(config):
        assert "YOUR-" in config[name], name


def test_the_readme_shows_the_sample_config():
    block = README.read_text(encoding="utf-8").split("```json\n", 1)[1].split("```", 1)[0]
    assert json.loads(block) == json.loads(SAMPLE.read_text(encoding="utf-8"))


def test_the_readme_roles_table_is_the_roles_the_tap_names():
    readme = README.read_text(encoding="utf-8")
    assert roles_table.with_table(readme) == readme, (
        "README.md's roles table is stale: run `python scripts/roles_table.py`"
    )
    table = readme.split(roles_table.START)[1].split(roles_table.END)[0]
    assert "| `outbound_orders` | `listAllFulfillmentOrders` (" in table
    assert "Direct-to-Consumer Shipping (Restricted)" in table  # a report type's own role
