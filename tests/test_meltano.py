"""`meltano run tap-spapi <loader>` end to end against the stand-in.

Slow (Meltano installs the tap and the loaders into their own virtualenvs once, in
.meltano/), so it needs a meltano executable: `make test` passes MELTANO_BIN; CI sets
TAP_SPAPI_REQUIRE_E2E so that a missing Meltano fails the run instead of skipping.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import psycopg
import pytest
from conftest import KEYS, REPO, expected_keys, history_start
from postgres import Postgres, binaries, running_postgres

from spapi_standin import StandIn, StandInConfig
from spapi_standin.__main__ import write_tracking_ids

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.e2e


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


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    bin_dir = binaries()
    if bin_dir is None:
        if os.environ.get("TAP_SPAPI_REQUIRE_E2E"):
            pytest.fail("TAP_SPAPI_REQUIRE_E2E is set but PostgreSQL's initdb was not found")
        pytest.skip("no PostgreSQL server binaries (Debian package postgresql)")
    yield from running_postgres(bin_dir)


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
        "TAP_SPAPI_START_DATE": history_start(server),
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


ACCOUNTS = ("acme", "globex", "initech")


def postgres_settings(server: Postgres) -> dict[str, str]:
    """target-postgres settings (as Meltano environment variables) for `server`."""
    return {
        "TARGET_POSTGRES_HOST": server.host,
        "TARGET_POSTGRES_PORT": str(server.port),
        "TARGET_POSTGRES_USER": server.user,
        "TARGET_POSTGRES_PASSWORD": server.password,
        "TARGET_POSTGRES_DATABASE": server.database,
        "TAP_SPAPI_LOOKBACK_WINDOW": "0",  # the second run re-reads nothing unchanged
    }


def three_accounts(server: StandIn, tmp_path: Path) -> dict[str, str]:
    """Tap settings for three sellers of `server`, each with its own labels file rows."""
    accounts = [
        {"name": name, "refresh_token": f"Atzr|{name}-token", "selling_partner_id": name.upper()}
        for name in ACCOUNTS
    ]
    labels = tmp_path / "labels.csv"
    with labels.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["tracking_id", "carrier_id", "account"])
        writer.writeheader()
        for name in ACCOUNTS:
            writer.writerows(
                {**label, "account": name} for label in server.dataset.tracking_labels()
            )
    return {"TAP_SPAPI_ACCOUNTS": json.dumps(accounts), "TAP_SPAPI_TRACKING_IDS_FILE": str(labels)}


def table_facts(server: Postgres, streams: list[str]) -> dict[str, tuple[int, int]]:
    """Per stream table: (rows, distinct primary keys, the account included)."""
    facts = {}
    with psycopg.connect(server.url) as connection:
        for name in streams:
            key = ", ".join(f'"{column}"' for column in ("account", *KEYS[name]))
            row = connection.execute(
                f"select count(*), count(distinct ({key})) from spapi.{name}"
            ).fetchone()
            facts[name] = (row[0], row[1]) if row else (0, 0)
    return facts


def loaded_since(server: Postgres, name: str, moment: datetime) -> set[tuple[str, str]]:
    """(account, first key column) of the rows of `name` a load since `moment` wrote."""
    column = KEYS[name][0]
    with psycopg.connect(server.url) as connection:
        rows = connection.execute(
            f'select account, "{column}" from spapi.{name} where _sdc_batched_at >= %s',
            (moment,),
        ).fetchall()
    return {(row[0], row[1]) for row in rows}


def test_meltano_run_of_three_accounts_into_postgres_then_only_changes(meltano, postgres, tmp_path):
    config = StandInConfig(
        seed=33, rate_scale=50.0, refresh_tokens={f"Atzr|{name}-token" for name in ACCOUNTS}
    )
    with StandIn(config) as server:
        settings = {**postgres_settings(postgres), **three_accounts(server, tmp_path)}
        run_meltano(
            meltano, server, tmp_path, "run", "--full-refresh", "tap-spapi", "target-postgres",
            **settings,
        )  # fmt: skip
        per_account = {name: len(keys) for name, keys in expected_keys(server.dataset).items()}
        # Every table holds each account's data set, one row per (account, key).
        expected = {name: (3 * count, 3 * count) for name, count in per_account.items()}
        assert table_facts(postgres, list(expected)) == expected
        changed_at = datetime.now(UTC)
        inbound = set(server.touch("inbound_shipments", 4, at=changed_at.replace(microsecond=0)))
        labels = set(server.touch("shipping_trackings", 3, at=changed_at.replace(microsecond=0)))
        run_meltano(meltano, server, tmp_path, "run", "tap-spapi", "target-postgres", **settings)

    # The incremental run wrote exactly the changed rows of each account, merged on keys.
    assert loaded_since(postgres, "inbound_shipments", changed_at) == {
        (name, key) for name in ACCOUNTS for key in inbound
    }
    assert loaded_since(postgres, "shipping_tracking", changed_at) == {
        (name, key) for name in ACCOUNTS for key in labels
    }
    assert table_facts(postgres, list(expected)) == expected
