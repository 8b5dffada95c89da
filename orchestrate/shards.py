"""One shard's `meltano run`: its command, environment, own run directory and summary.

Each shard is `meltano run --state-id-suffix shard-N tap-spapi <target>` with
`TAP_SPAPI_SHARD_INDEX=N`: Meltano keeps each shard's state under its own state id in
the shared state backend (its system database, e.g. PostgreSQL), so shards on
different machines, or several on one, share one state store.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from pathlib import Path

# What several shards on one machine must not share: Meltano writes each run's state
# file (`state.json`) and catalog into `.meltano/run/<plugin>/`, so two shards of one
# project would read each other's state. Each shard gets its own system directory
# whose plugin installations are links to the project's (installed once).
SHARED_SYS_DIRS = ("extractors", "loaders", "utilities", "mappers", "transformers")
ERROR_PREFIX = "tap-spapi: error: "
# The tap's warning for a shard without accounts (tap_spapi/runtime/run.py).
EMPTY_SHARD = "holds none of the configured accounts"


@dataclass(frozen=True)
class ShardSettings:
    """Where the Meltano project is and what each shard runs."""

    project_dir: Path
    target: str
    shard_count: int
    meltano: str = "meltano"
    extractor: str = "tap-spapi"
    #: Extra environment for every shard (the process environment comes first).
    env: Mapping[str, str] = field(default_factory=dict)

    def state_id_suffix(self, index: int) -> str:
        """`shard-2`: the state id is `<env>:tap-spapi-to-<target>:shard-2`."""
        return f"shard-{index}"

    def command(self, index: int) -> list[str]:
        """The shard's `meltano run` (JSON logs, for the summary)."""
        suffix = self.state_id_suffix(index)
        return [self.meltano, "--log-format=json", "run", "--state-id-suffix", suffix,
                self.extractor, self.target]  # fmt: skip

    def environment(self, index: int) -> dict[str, str]:
        """The process environment, `env`, this shard's index and its system dir."""
        return {
            **os.environ,
            **self.env,
            # The summary counts records from singer-sdk's record_count metrics.
            "TAP_SPAPI_LOG_METRICS": "true",
            "TAP_SPAPI_SHARD_INDEX": str(index),
            "TAP_SPAPI_SHARD_COUNT": str(self.shard_count),
            "MELTANO_SYS_DIR_ROOT": str(shard_sys_dir(self.project_dir, index)),
        }


@dataclass
class ShardSummary:
    """What one shard's run did: records per stream, what failed, its exit and wall."""

    exit_code: int
    seconds: float
    records: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    #: The tap's line when the shard holds none of the configured accounts (a run that
    #: succeeds and extracts nothing: more shards than accounts, or a renamed account).
    empty: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0

    def metadata(self) -> dict[str, Any]:
        """Plain values for Dagster's metadata (it renders dicts as JSON)."""
        return {
            "exit_code": self.exit_code,
            "wall_seconds": round(self.seconds, 1),
            "records": sum(self.records.values()),
            "records_per_stream": dict(sorted(self.records.items())),
            "failures": list(self.failures),
            "empty_shard": self.empty or "",
        }


def shard_sys_dir(project_dir: Path, index: int) -> Path:
    """`.meltano/shards/shard-N`, with links to the project's installed plugins."""
    shared = project_dir / ".meltano"
    own = shared / "shards" / f"shard-{index}"
    own.mkdir(parents=True, exist_ok=True)
    for name in SHARED_SYS_DIRS:
        (shared / name).mkdir(exist_ok=True)
        link = own / name
        if not link.is_symlink():
            link.symlink_to(shared / name, target_is_directory=True)
    return own


def tap_lines(log_lines: Iterable[str], extractor: str = "tap-spapi") -> Iterable[str]:
    """The extractor's own stderr lines out of Meltano's JSON log."""
    for line in log_lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("string_id") == extractor:
            yield str(entry.get("event", ""))


def summarize(exit_code: int, seconds: float, log_lines: Iterable[str]) -> ShardSummary:
    """Records per stream (singer-sdk's `record_count` metrics) and the tap's failure
    lines (`tap-spapi: error: ...`, one per failed account or stream, see failures.py)."""
    summary = ShardSummary(exit_code, seconds)
    for text in tap_lines(log_lines):
        if text.startswith("METRIC: "):
            metric = json.loads(text.removeprefix("METRIC: "))
            if metric.get("metric") == "record_count":
                summary.records[metric["tags"]["stream"]] += int(metric["value"])
        elif text.startswith(ERROR_PREFIX):
            summary.failures.append(text.removeprefix(ERROR_PREFIX))
        elif EMPTY_SHARD in text:
            summary.empty = text
    return summary


def run_shard(
    settings: ShardSettings, index: int, log: Callable[[str], Any] | None = None
) -> ShardSummary:
    """Run shard `index` to its end and summarize it (a failed run is a summary too)."""
    started = time.monotonic()
    result = subprocess.run(
        settings.command(index),
        cwd=settings.project_dir,
        env=settings.environment(index),
        capture_output=True,
        text=True,
        check=False,
    )
    lines = result.stderr.splitlines()
    summary = summarize(result.returncode, time.monotonic() - started, lines)
    if log is not None and not summary.succeeded:
        log("\n".join(lines[-40:]))
    return summary
