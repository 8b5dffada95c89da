"""Dagster definitions: one partition per shard, a schedule for all of them, retries.

`dagster dev -m orchestrate.definitions` (or a code location of a deployment) loads
`defs`, configured from the environment:

- `TAP_SPAPI_SHARD_COUNT` (default 4): the partitions `0..N-1`, one shard each;
- `MELTANO_PROJECT_ROOT` (default: this checkout) and `MELTANO_BIN` (default `meltano`);
- `TAP_SPAPI_TARGET` (default `target-postgres`): the loader of `meltano run`;
- `TAP_SPAPI_SCHEDULE` (default `0 3 * * *`), `TAP_SPAPI_SHARD_RETRIES` (default 2).

Meltano's state lives in its system database: set `MELTANO_DATABASE_URI` to
`postgresql+psycopg://user:password@host:5432/meltano` so that shards on different
machines share one state store.
"""

# No `from __future__ import annotations`: Dagster reads the `context` annotation at
# definition time and refuses a string.
import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from orchestrate.shards import ShardSettings, run_shard

ASSET = "spapi_shard"
JOB = "spapi_shards"
SCHEDULE = "spapi_shards_schedule"


@dataclass(frozen=True)
class Orchestration:
    """The shards and how Dagster runs them."""

    shards: ShardSettings
    cron: str = "0 3 * * *"
    retries: int = 2
    retry_delay_seconds: float = 60.0

    @classmethod
    def from_env(cls) -> "Orchestration":
        shards = ShardSettings(
            project_dir=Path(
                os.environ.get("MELTANO_PROJECT_ROOT") or Path(__file__).resolve().parents[1]
            ),
            target=os.environ.get("TAP_SPAPI_TARGET", "target-postgres"),
            shard_count=int(os.environ.get("TAP_SPAPI_SHARD_COUNT", "4")),
            meltano=os.environ.get("MELTANO_BIN", "meltano"),
        )
        return cls(
            shards,
            cron=os.environ.get("TAP_SPAPI_SCHEDULE", "0 3 * * *"),
            retries=int(os.environ.get("TAP_SPAPI_SHARD_RETRIES", "2")),
        )


def build_definitions(orchestration: Orchestration) -> dg.Definitions:
    """The shard asset, a job over it and a schedule that launches every shard."""
    shards = orchestration.shards
    partitions = dg.StaticPartitionsDefinition([str(i) for i in range(shards.shard_count)])

    @dg.asset(
        name=ASSET,
        partitions_def=partitions,
        # A shard that failed (an exhausted storm, a revoked token) runs again; its
        # bookmarks stayed where the failure was, so the retry reads what was missed.
        retry_policy=dg.RetryPolicy(
            max_retries=orchestration.retries, delay=orchestration.retry_delay_seconds
        ),
        description="One shard of the seller accounts, extracted by `meltano run`.",
    )
    def spapi_shard(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        index = int(context.partition_key)
        summary = run_shard(shards, index, context.log.error)
        metadata = summary.metadata()
        if summary.empty:
            context.log.warning(f"shard {index}: {summary.empty}")
        if not summary.succeeded:
            raise dg.Failure(
                description=f"shard {index} failed: " + "; ".join(summary.failures or ["exit"]),
                metadata=metadata,
            )
        return dg.MaterializeResult(metadata=metadata)

    job = dg.define_asset_job(JOB, selection=[spapi_shard])

    @dg.schedule(name=SCHEDULE, job=job, cron_schedule=orchestration.cron)
    def every_shard(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        """One run per shard: Dagster's run queue runs them side by side."""
        tick = context.scheduled_execution_time.isoformat()
        return [
            dg.RunRequest(run_key=f"{tick}:shard-{key}", partition_key=key)
            for key in partitions.get_partition_keys()
        ]

    return dg.Definitions(assets=[spapi_shard], jobs=[job], schedules=[every_shard])


defs = build_definitions(Orchestration.from_env())
