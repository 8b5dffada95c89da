"""hub/tap-spapi.yml, the Meltano Hub-style definition, added to a fresh Meltano project."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from spapi_standin import StandIn
from testkit import REPO, every_stream, tap_config

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


def test_the_wheel_installs_into_a_fresh_project_from_the_documented_commands(
    meltano_bin, tmp_path
):
    # README "Add it to an existing Meltano project": a wheel and an sdist from
    # `python -m build` (make dist), a definition pointing pip at the wheel, and
    # `meltano add`, which installs the tap into a fresh virtualenv of its own. From that
    # virtualenv: `--about`, and a sync against the stand-in.
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(REPO)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = dist.glob("tap_spapi-*.whl")
    assert list(dist.glob("tap_spapi-*.tar.gz")), "an sdist too"
    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}

    def run(*args: str, cwd=tmp_path / "project", extra=None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, cwd=cwd, env={**env, **(extra or {})}, capture_output=True, text=True, check=False
        )

    created = run(meltano_bin, "init", "project", "--no_usage_stats", cwd=tmp_path)
    assert created.returncode == 0, created.stderr[-2000:]
    ref = tmp_path / "project" / "tap-spapi.yml"
    script = REPO / "scripts" / "plugin_definition.py"
    written = run(sys.executable, str(script), "--pip-url", str(wheel), "--output", str(ref))
    assert written.returncode == 0, written.stderr[-2000:]
    added = run(meltano_bin, "add", "--from-ref", str(ref), "extractor", "tap-spapi")
    assert added.returncode == 0, added.stderr[-3000:]
    about = run(meltano_bin, "invoke", "tap-spapi", "--about", "--format=json")
    assert about.returncode == 0, about.stderr[-2000:]
    assert json.loads(about.stdout)["name"] == "tap-spapi"
    selected = run(meltano_bin, "select", "tap-spapi", "marketplace_participations", "*")
    assert selected.returncode == 0, selected.stderr[-2000:]
    with StandIn(every_stream()) as server:
        settings = {
            f"TAP_SPAPI_{name.upper()}": str(value)
            for name, value in tap_config(server).items()
            if isinstance(value, str | int)
        }
        synced = run(meltano_bin, "invoke", "tap-spapi", extra=settings)
    assert synced.returncode == 0, synced.stderr[-3000:]
    records = [json.loads(line) for line in synced.stdout.splitlines() if '"RECORD"' in line]
    assert records and {r["stream"] for r in records} == {"marketplace_participations"}
