"""`meltano run tap-spapi <loader>` end to end against the stand-in.

Meltano and its project come from the fixtures of conftest.py (installed once a session).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import duckdb
import psycopg
from postgres import postgres_settings, table_facts

from spapi_standin import StandIn
from spapi_standin.__main__ import write_tracking_ids
from testkit import KEYS, every_stream, expected_keys, history_start

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Meltano
    from postgres import Postgres


# Over the tiny data set with records in every stream (testkit.every_stream), so every
# table is created, loaded and checked; the small one has ten times as many, which
# cost these loads minutes without checking anything more.


def run_meltano(meltano: Meltano, server: StandIn, tmp_path: Path, *args: str, **env: str) -> None:
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
        [meltano.binary, *args],
        cwd=meltano.project,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]


def test_meltano_run_into_jsonl(meltano, tmp_path):
    # The stream it checks, selected through Meltano's `select` (a run of every stream
    # through Meltano is the DuckDB and PostgreSQL tests' own).
    with StandIn(every_stream()) as server:
        run_meltano(
            meltano,
            server,
            tmp_path,
            "run",
            "--full-refresh",
            "tap-spapi",
            "target-jsonl",
            TARGET_JSONL_DESTINATION_PATH=str(tmp_path),
            TAP_SPAPI__SELECT=json.dumps(["marketplace_participations.*"]),
        )
        expected = {p["marketplace"]["id"] for p in server.dataset.marketplace_participations}
    lines = (tmp_path / "marketplace_participations.jsonl").read_text().splitlines()
    assert {json.loads(line)["marketplace_id"] for line in lines} == expected
    assert [path.name for path in tmp_path.glob("*.jsonl")] == ["marketplace_participations.jsonl"]


def test_meltano_run_into_duckdb(meltano, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    with StandIn(every_stream()) as server:
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


ACCOUNTS = ("acme", "globex")


def two_accounts(server: StandIn, tmp_path: Path) -> dict[str, str]:
    """Tap settings for two sellers of `server`, each with its own labels file rows."""
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


def loaded_since(server: Postgres, name: str, moment: datetime) -> set[tuple[str, str]]:
    """(account, first key column) of the rows of `name` a load since `moment` wrote."""
    column = KEYS[name][0]
    with psycopg.connect(server.url) as connection:
        rows = connection.execute(
            f'select account, "{column}" from spapi.{name} where _sdc_batched_at >= %s',
            (moment,),
        ).fetchall()
    return {(row[0], row[1]) for row in rows}


def test_meltano_run_of_two_accounts_into_postgres_then_only_changes(meltano, postgres, tmp_path):
    config = every_stream(refresh_tokens={f"Atzr|{name}-token" for name in ACCOUNTS})
    with StandIn(config) as server:
        settings = {**postgres_settings(postgres), **two_accounts(server, tmp_path)}
        run_meltano(
            meltano, server, tmp_path, "run", "--full-refresh", "tap-spapi", "target-postgres",
            **settings,
        )  # fmt: skip
        per_account = {name: len(keys) for name, keys in expected_keys(server.dataset).items()}
        # Every table holds each account's data set, one row per (account, key).
        expected = {name: (len(ACCOUNTS) * count,) * 2 for name, count in per_account.items()}
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
