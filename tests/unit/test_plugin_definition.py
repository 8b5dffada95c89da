"""hub/tap-spapi.yml, the Meltano Hub-style definition, against the tap's `--about`."""

from __future__ import annotations

import json
import sys

import yaml

from testkit import REPO, run_cli

sys.path.insert(0, str(REPO / "scripts"))
import plugin_definition  # scripts/ is not a package


def about() -> dict:
    result = run_cli(["--about", "--format", "json"])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_committed_definition_matches_a_fresh_generation():
    # Regenerated, not compared field by field: the settings schema changes, and after
    # a change `python scripts/plugin_definition.py` brings the file up to date.
    committed = plugin_definition.DEFINITION.read_text(encoding="utf-8")
    assert committed == plugin_definition.render(about()), (
        "hub/tap-spapi.yml is stale: run `python scripts/plugin_definition.py`"
    )


def test_definition_names_every_setting_capability_and_secret_of_about():
    described = about()
    definition = yaml.safe_load(plugin_definition.DEFINITION.read_text(encoding="utf-8"))
    settings = {entry["name"]: entry for entry in definition["settings"]}
    properties = described["settings"]["properties"]
    assert list(settings) == list(properties)
    assert sorted(definition["capabilities"]) == sorted(described["capabilities"])
    sensitive = {name for name, entry in settings.items() if entry.get("sensitive")}
    secrets = {name for name, schema in properties.items() if schema.get("secret")}
    assert secrets <= sensitive
    assert "accounts" in sensitive  # each entry holds a refresh token
    assert settings["start_date"]["kind"] == "date_iso8601"
    assert settings["shard_count"]["kind"] == "integer"
    assert all(entry["kind"] != "password" for entry in settings.values())  # deprecated
