"""`meltano run tap-spapi <loader>` end to end against the stand-in.

Slow (Meltano installs the tap and the loaders into their own virtualenvs once, in
.meltano/), so it needs a meltano executable: `make test` passes MELTANO_BIN; CI sets
TAP_SPAPI_REQUIRE_E2E so that a missing Meltano fails the run instead of skipping.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from conftest import REPO, expected_keys

from spapi_standin import StandIn, StandInConfig
from spapi_standin.__main__ import write_tracking_ids


def meltano_binary() -> str:
    binary = os.environ.get("MELTANO_BIN") or shutil.which("meltano")
    if binary and Path(binary).exists():
        return binary
    if os.environ.get("TAP_SPAPI_REQUIRE_E2E"):
        pytest.fail("TAP_SPAPI_REQUIRE_E2E is set but no meltano executable was found")
    pytest.skip("no meltano executable (run `make test`, which installs it)")


@pytest.fixture(scope="module")
def meltano() -> str:
    binary = meltano_binary()
    subprocess.run([binary, "install"], cwd=REPO, check=True, capture_output=True, env=os.environ)
    return binary


def run_meltano(binary: str, server: StandIn, tmp_path: Path, *args: str, **env: str) -> None:
    """`meltano ARGS` in the demo environment, pointed at `server` and its labels."""
    labels = tmp_path / "tracking_ids.csv"
    write_tracking_ids(server, labels)
    environment = {
        **os.environ,
        "MELTANO_ENVIRONMENT": "demo",
        "TAP_SPAPI_API_URL": server.base_url,
        "TAP_SPAPI_LWA_TOKEN_URL": server.lwa_token_url,
        "TAP_SPAPI_TRACKING_IDS_FILE": str(labels),
        **env,
    }
    result = subprocess.run(
        [binary, *args], cwd=REPO, env=environment, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-4000:]


def test_meltano_run_into_jsonl(meltano, tmp_path):
    with StandIn(StandInConfig(seed=31, rate_scale=50.0)) as server:
        run_meltano(
            meltano,
            server,
            tmp_path,
            "run",
            "--full-refresh",
            "tap-spapi",
            "target-jsonl",
            TARGET_JSONL_DESTINATION_PATH=str(tmp_path),
        )
        expected = {p["marketplace"]["id"] for p in server.dataset.marketplace_participations}
    lines = (tmp_path / "marketplace_participations.jsonl").read_text().splitlines()
    assert {json.loads(line)["marketplace_id"] for line in lines} == expected


def test_meltano_run_into_duckdb(meltano, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    with StandIn(StandInConfig(seed=32, rate_scale=50.0)) as server:
        run_meltano(
            meltano,
            server,
            tmp_path,
            "run",
            "--full-refresh",
            "tap-spapi",
            "target-duckdb",
            TARGET_DUCKDB_FILEPATH=str(warehouse),
        )
        expected = {name: len(keys) for name, keys in expected_keys(server.dataset).items()}
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        loaded = {
            name: connection.execute(f"select count(*) from spapi.{name}").fetchone()
            for name in expected
        }
    # Every stream's table holds exactly the stand-in's data set (one row per key).
    assert {name: row[0] if row else 0 for name, row in loaded.items()} == expected
