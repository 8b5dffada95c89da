"""Shards as parallel Dagster runs of `meltano run`, Meltano's state in PostgreSQL.

End to end: two shards of two accounts against the stand-in, each a partition of
orchestrate/definitions.py materialised by Dagster in-process, side by side, into
target-postgres, with Meltano's system database (its state backend) in the same
PostgreSQL server. Each `meltano run` costs seconds of Meltano's own start-up, so the
test makes few: two shards side by side, the failed one's retry, and the good shard's
incremental run. Amazon's plans (scaled up) do not bind: each account's four reports
fit its createReport burst. How the shard planner's estimate compares with the shards'
wall when the plan binds is a measurement, not a test: `benchmarks/run.py shards`.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast

import dagster as dg
import psycopg
from postgres import postgres_settings, table_facts

import testkit
from orchestrate.definitions import ASSET, JOB, SCHEDULE, Orchestration, build_definitions
from orchestrate.shards import ShardSettings, summarize
from spapi_standin import StandIn, StandInConfig
from spapi_standin.__main__ import write_tracking_ids
from tap_spapi.config.accounts_setting import shard_key
from tap_spapi.runtime.state import WINDOW_BOOKMARK
from testkit import expected_keys, history_start

if TYPE_CHECKING:
    from postgres import Postgres

# Several accounts a shard (the revoked shard keeps a good one), few enough that a
# shard's reports are asked and polled in seconds.
SHARDS, PER_SHARD = 2, 2
STREAM = "amazon_fulfilled_shipments_data_general"  # one report window a month: 4 per account
TARGET = "target-postgres"
RATE_SCALE = 50.0
REVOKED_SHARD = 1


def sharded_accounts() -> dict[int, list[str]]:
    """The first `PER_SHARD` names of each shard, by the tap's own hash."""
    return testkit.sharded_accounts(SHARDS, PER_SHARD)


def token(name: str) -> str:
    return f"Atzr|{name}-token"


def meltano_database(server: Postgres) -> str:
    """A `meltano` database on the server: Meltano's system database, its state backend."""
    with psycopg.connect(server.url, autocommit=True) as connection:
        connection.execute("create database meltano")
    return (
        f"postgresql+psycopg://{server.user}:{server.password}@{server.host}:{server.port}/meltano"
    )


def shard_states(database_uri: str) -> dict[str, dict[str, Any]]:
    """Meltano's completed state per state id, read from its system database."""
    url = database_uri.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as connection:
        rows = connection.execute("select state_id, completed_state from state").fetchall()
    return {row[0]: json.loads(row[1]) if isinstance(row[1], str) else row[1] for row in rows}


def accounts_in(state: dict[str, Any], stream: str) -> set[str]:
    """The accounts with a window bookmark of `stream` in a Meltano state (a failed
    account keeps a partition without one)."""
    partitions = state["singer_state"]["bookmarks"][stream].get("partitions", [])
    return {p["context"]["account"] for p in partitions if p.get(WINDOW_BOOKMARK)}


def materialize_shards(job: Any, instance: Any, shards: range = range(SHARDS)) -> dict[int, Any]:
    """The shards' runs at once, as the schedule asks for them."""
    with ThreadPoolExecutor(len(shards)) as pool:
        futures = {
            index: pool.submit(
                job.execute_in_process,
                partition_key=str(index),
                instance=instance,
                raise_on_error=False,
            )
            for index in shards
        }
        return {index: future.result() for index, future in futures.items()}


def materialized(result: Any) -> dict[str, Any]:
    """The metadata of a shard's materialisation (its run summary)."""
    (event,) = result.asset_materializations_for_node(ASSET)
    return {key: value.value for key, value in event.metadata.items()}


def test_schedule_asks_for_one_run_per_shard(tmp_path):
    definitions = build_definitions(
        Orchestration(ShardSettings(project_dir=tmp_path, target=TARGET, shard_count=SHARDS))
    )
    schedule = definitions.resolve_schedule_def(SCHEDULE)
    tick = datetime.datetime(2026, 1, 1, 3, tzinfo=datetime.UTC)  # not compared with the clock
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        requests = cast("list[dg.RunRequest]", schedule(context))
    assert all(isinstance(request, dg.RunRequest) for request in requests)
    assert [request.partition_key for request in requests] == ["0", "1"]
    assert len({request.run_key for request in requests}) == SHARDS


def test_summary_counts_records_per_stream_and_names_failures():
    def tap_line(event: str) -> str:
        return json.dumps({"string_id": "tap-spapi", "event": event})

    metric = {"type": "counter", "metric": "record_count", "tags": {"stream": "orders"}}
    lines = [
        tap_line("METRIC: " + json.dumps({**metric, "value": 3})),
        tap_line("METRIC: " + json.dumps({**metric, "value": 4})),
        tap_line("tap-spapi: error: account 'acme': LWA refused the refresh token"),
        json.dumps({"event": "tap-spapi: error: from Meltano itself, not the tap"}),
        "not JSON",
    ]
    summary = summarize(1, 2.0, lines)
    assert summary.records == {"orders": 7}
    assert summary.failures == ["account 'acme': LWA refused the refresh token"]
    assert summary.metadata()["records"] == 7
    assert not summary.succeeded


def test_a_shard_without_accounts_says_so_in_its_summary(tmp_path):
    # Two accounts in three shards: one shard holds none. Its run succeeds and extracts
    # nothing; the summary (Dagster's metadata, and a warning in the run's log) says why.
    with StandIn(StandInConfig(seed=12, size="tiny", rate_scale=50.0)) as server:
        base = testkit.tap_config(server)
        accounts = [
            {"name": name, "refresh_token": base["refresh_token"]} for name in ("acme", "zeta")
        ]
        keys = {shard_key(account["name"]) % 3 for account in accounts}
        empty = min(set(range(3)) - keys)
        config = {
            **{k: v for k, v in base.items() if k != "refresh_token"},
            "accounts": accounts,
            "shard_count": 3,
            "shard_index": empty,
        }
        (tmp_path / "config.json").write_text(json.dumps(config))
        result = testkit.run_cli(["--config", str(tmp_path / "config.json")])
    assert result.returncode == 0, result.stderr
    lines = [
        json.dumps({"string_id": "tap-spapi", "event": line}) for line in result.stderr.splitlines()
    ]
    summary = summarize(result.returncode, 1.0, lines)
    assert summary.succeeded and not summary.records
    assert "holds none of the configured accounts" in summary.metadata()["empty_shard"]


def test_shards_run_in_parallel_share_postgres_state_and_resume_incrementally(
    meltano, postgres, tmp_path
):
    shards = sharded_accounts()
    names = [name for index in range(SHARDS) for name in shards[index]]
    revoked = shards[REVOKED_SHARD][0]
    config = StandInConfig(
        seed=41,
        rate_scale=RATE_SCALE,
        refresh_tokens={token(name) for name in names if name != revoked},
        report_rows=20,
    )
    database_uri = meltano_database(postgres)
    with StandIn(config) as server:
        labels = tmp_path / "tracking_ids.csv"
        write_tracking_ids(server, labels)
        accounts = [{"name": name, "refresh_token": token(name)} for name in names]
        env: dict[str, str] = {
            **postgres_settings(postgres),
            "MELTANO_ENVIRONMENT": "demo",
            "MELTANO_DATABASE_URI": database_uri,
            "TAP_SPAPI_API_URL": server.base_url,
            "TAP_SPAPI_LWA_TOKEN_URL": server.lwa_token_url,
            "TAP_SPAPI_TRACKING_IDS_FILE": str(labels),
            "TAP_SPAPI_START_DATE": history_start(server),
            "TAP_SPAPI_ACCOUNTS": json.dumps(accounts),
            "TAP_SPAPI_MAX_PARALLEL_ACCOUNTS": str(PER_SHARD),
            "TAP_SPAPI__SELECT": json.dumps([f"{STREAM}.*"]),
        }
        # Meltano migrates its system database on each command: once, before the shards
        # start side by side.
        subprocess.run(
            [meltano.binary, "state", "list"], cwd=meltano.project, env={**os.environ, **env},
            check=True,
            capture_output=True,
        )  # fmt: skip
        settings = ShardSettings(meltano.project, TARGET, SHARDS, meltano=meltano.binary, env=env)
        definitions = build_definitions(Orchestration(settings, retries=1, retry_delay_seconds=0))
        job = definitions.resolve_job_def(JOB)
        (tmp_path / "dagster").mkdir()
        instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster"))
        per_account = len(expected_keys(server.dataset)[STREAM])

        first = materialize_shards(job, instance)

        # The revoked account's shard is reported failed (after its retry); the others
        # succeed, with their summaries as metadata.
        assert [index for index, result in first.items() if not result.success] == [REVOKED_SHARD]
        assert any(event.is_step_up_for_retry for event in first[REVOKED_SHARD].all_events)
        failure = first[REVOKED_SHARD].failure_data_for_node(ASSET).user_failure_data
        assert any(revoked in line for line in failure.metadata["failures"].value)
        summaries = {i: materialized(r) for i, r in first.items() if i != REVOKED_SHARD}
        for index, summary in summaries.items():
            assert summary["records_per_stream"] == {STREAM: PER_SHARD * per_account}, index
            assert summary["failures"] == []

        # Every account's data landed once; the revoked one's did not.
        landed = len(names) - 1
        assert table_facts(postgres, [STREAM]) == {STREAM: (landed * per_account,) * 2}

        # Each shard's state is its own, under its own state id, and holds its accounts.
        states = shard_states(database_uri)
        for index in range(SHARDS):
            state = states[f"demo:tap-spapi-to-{TARGET}:shard-{index}"]
            expected = set(shards[index]) - {revoked}
            assert accounts_in(state, STREAM) == expected, index

        # The next run of the good shards (the failed one's was seen failing and retried).
        second = materialize_shards(job, instance, range(REVOKED_SHARD))

    # The second run is incremental: each shard reads only the last window again.
    assert all(result.success for result in second.values())
    for index in summaries:
        again = materialized(second[index])["records_per_stream"].get(STREAM, 0)
        assert again < PER_SHARD * per_account, index
    assert table_facts(postgres, [STREAM]) == {STREAM: (landed * per_account,) * 2}
