"""The README's first command: stand-in up, `meltano run tap-spapi target-duckdb`, row counts.

Runs from the repository root with the tap's virtualenv; Meltano lives in its own.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
WAREHOUSE = REPO / "output" / "warehouse.duckdb"
SCHEMA = "spapi"


def start_standin(port: int) -> subprocess.Popen[str]:
    """Start the stand-in and wait for its 'listening' line."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "spapi_standin", "--port", str(port), "--seed", "1"),
            # Amazon's usage plans x10, announced in x-amzn-RateLimit-Limit, which the tap
            # adopts: the demo shows the pacing at work in under a minute instead of several.
            *("--rate-scale", "10"),
            *("--tracking-ids-file", str(REPO / "output" / "standin_tracking_ids.csv")),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,  # the stand-in is not installed with the tap: run it from the checkout
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening" not in line:
        process.kill()
        hint = f"; another port: make demo DEMO_PORT={port + 34}" if "listen" in line else ""
        raise SystemExit(f"demo: {line.strip() or 'the stand-in did not start'}{hint}")
    print(line.strip())
    return process


def meltano(binary: str, port: int, *args: str) -> None:
    """Run a Meltano command in the repo against the stand-in on `port` (the environment
    overrides meltano.yml's demo URLs), failing the demo if it fails."""
    # The stand-in's data spans the 90 days before now: start just before it, so every
    # record is read and the report streams need few reports (one a minute after 15).
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=95)
    env = {
        **os.environ,
        "MELTANO_ENVIRONMENT": "demo",
        "TAP_SPAPI_START_DATE": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "TAP_SPAPI_API_URL": f"http://127.0.0.1:{port}",
        "TAP_SPAPI_LWA_TOKEN_URL": f"http://127.0.0.1:{port}/auth/o2/token",
    }
    print("$ meltano " + " ".join(args), flush=True)
    subprocess.run([binary, *args], cwd=REPO, env=env, check=True)


def row_counts() -> list[tuple[str, int]]:
    """(table, rows) for every table the loader wrote."""
    with duckdb.connect(str(WAREHOUSE), read_only=True) as connection:
        tables = connection.execute(
            "select table_name from information_schema.tables where table_schema = ? "
            "order by table_name",
            [SCHEMA],
        ).fetchall()
        counts = []
        for (name,) in tables:
            row = connection.execute(f'select count(*) from {SCHEMA}."{name}"').fetchone()
            counts.append((name, int(row[0]) if row else 0))
        return counts


def main() -> None:
    """Parse arguments, run the pipeline, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--meltano", default="meltano", help="path of the meltano executable")
    parser.add_argument("--port", type=int, default=8765)
    options = parser.parse_args()
    WAREHOUSE.unlink(missing_ok=True)
    standin = start_standin(options.port)
    try:
        # What the demo runs, not the project's other loaders; a line per plugin is noise.
        meltano(
            options.meltano,
            options.port,
            *("--log-level=warning", "install", "tap-spapi", "target-duckdb"),
        )
        meltano(
            options.meltano, options.port, "run", "--full-refresh", "tap-spapi", "target-duckdb"
        )
    finally:
        standin.terminate()
        standin.wait(timeout=10)
    counts = row_counts()
    width = max(len(name) for name, _ in counts)
    print(f"\n{'table'.ljust(width)}  rows")
    for name, rows in counts:
        print(f"{name.ljust(width)}  {rows:>4}")


if __name__ == "__main__":
    main()
