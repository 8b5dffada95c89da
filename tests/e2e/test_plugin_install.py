"""hub/tap-spapi.yml, the Meltano Hub-style definition, added to a fresh Meltano project."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from testkit import REPO

sys.path.insert(0, str(REPO / "scripts"))
import plugin_definition  # scripts/ is not a package


def test_meltano_add_from_the_definition(meltano_bin, tmp_path):
    meltano = meltano_bin
    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}

    def run(*args: str, cwd=tmp_path / "project") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [meltano, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
        )

    created = run("init", "project", "--no_usage_stats", cwd=tmp_path)
    assert created.returncode == 0, created.stderr[-2000:]
    ref = str(plugin_definition.DEFINITION)
    added = run("add", "--no-install", "--from-ref", ref, "extractor", "tap-spapi")
    if "no such option" in added.stderr.lower():
        pytest.fail(f"meltano add has no --no-install: {added.stderr[-500:]}")
    assert added.returncode == 0, added.stderr[-2000:]
    listed = run("config", "list", "--all", "tap-spapi")
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "shard_count" in listed.stdout
    assert "client_secret" in listed.stdout
