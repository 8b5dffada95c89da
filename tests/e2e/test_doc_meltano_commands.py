"""The README's and docs/' Meltano commands, run as written in a temporary copy of the
project: this repository's meltano.yml and a fresh system database, nothing installed
(`meltano config` and `meltano state` need no plugin). tests/unit/test_doc_commands.py
lists them as run here.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from typing import TYPE_CHECKING

import yaml

from testkit import REPO

if TYPE_CHECKING:
    from pathlib import Path

STATE_ID = "demo:tap-spapi-to-target-duckdb"


def project_copy(tmp_path: Path) -> Path:
    """A Meltano project of this repository's meltano.yml alone."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / "meltano.yml", project / "meltano.yml")
    return project


def meltano(
    binary: str, project: Path, command: str, *, answer: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`command` as the docs write it (`meltano ...` or `.venv-meltano/bin/meltano ...`),
    run with `binary` in `project`, away from any Meltano settings of the environment."""
    program, *args = shlex.split(command)
    assert program.endswith("meltano"), command
    env = {name: value for name, value in os.environ.items() if not name.startswith("MELTANO_")}
    result = subprocess.run(
        [binary, *args],
        cwd=project,
        env=env,
        input=answer,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (command, result.stderr[-2000:])
    return result


def test_the_docs_config_commands_write_the_settings_they_name(meltano_bin, tmp_path):
    project = project_copy(tmp_path)
    for command in (
        "meltano --environment=prod config set tap-spapi region eu",
        ".venv-meltano/bin/meltano config set target-postgres host db.example.com",
        ".venv-meltano/bin/meltano config set target-postgres user loader",
    ):
        meltano(meltano_bin, project, command)
    written = yaml.safe_load((project / "meltano.yml").read_text(encoding="utf-8"))
    (prod,) = (env for env in written["environments"] if env["name"] == "prod")
    (extractor,) = prod["config"]["plugins"]["extractors"]
    assert (extractor["name"], extractor["config"]["region"]) == ("tap-spapi", "eu")
    (loader,) = (p for p in written["plugins"]["loaders"] if p["name"] == "target-postgres")
    assert (loader["config"]["host"], loader["config"]["user"]) == ("db.example.com", "loader")


def test_the_docs_state_commands_list_and_clear_the_taps_state(meltano_bin, tmp_path):
    project = project_copy(tmp_path)
    state = json.dumps({"singer_state": {"bookmarks": {}}})
    meltano(meltano_bin, project, f"meltano state set --force {STATE_ID} '{state}'")
    assert STATE_ID in meltano(meltano_bin, project, "meltano state list").stdout
    # Without --force Meltano asks before clearing; the docs' reader answers yes.
    meltano(
        meltano_bin, project, "meltano state clear demo:tap-spapi-to-target-duckdb", answer="y\n"
    )
    assert STATE_ID not in meltano(meltano_bin, project, "meltano state list").stdout
