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
from conftest import REPO

from spapi_standin import StandIn, StandInConfig


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


def run_meltano(binary: str, server: StandIn, *args: str, **env: str) -> None:
    environment = {
        **os.environ,
        "MELTANO_ENVIRONMENT": "demo",
        "TAP_SPAPI_API_URL": server.base_url,
        "TAP_SPAPI_LWA_TOKEN_URL": server.lwa_token_url,
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
            "run",
            "--full-refresh",
            "tap-spapi",
            "target-duckdb",
            TARGET_DUCKDB_FILEPATH=str(warehouse),
        )
        expected = len(server.dataset.marketplace_participations)
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        rows = connection.execute(
            "select count(*), count(distinct marketplace_id) from spapi.marketplace_participations"
        ).fetchone()
    assert rows == (expected, expected)
