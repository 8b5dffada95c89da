"""Every console command of the README and docs/ is run by a test, or listed here with the
reason it is not, so a command cannot go stale unnoticed.

A command is a `$ ` line of a ```console block (with its `\\` continuation lines, without
a trailing `  # comment`). This module runs the ones that need only the tap and the
stand-in; the Meltano ones run in tests/e2e/test_doc_meltano_commands.py (Meltano is the
end-to-end tier's); the rest are listed with the test that covers them, if one does. A new
command that is none of these fails `test_every_console_command_is_run_or_listed`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from spapi_standin import StandIn, StandInConfig
from testkit import REPO, run_cli, tap_config

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CONSOLE_BLOCK = re.compile(r"^( *)```console\n(.*?)^\1```", flags=re.DOTALL | re.MULTILINE)
TRAILING_COMMENT = re.compile(r"\s{2,}#.*$")

#: Run by this module, in a temporary directory, against a stand-in.
RUN_HERE = {
    "tap-spapi --config config.json --test",
}

#: Run by this module as written, in order, by a shell in a temporary directory with the
#: tap's console scripts on PATH; each must exit 0.
RUN_IN_SHELL = [
    'echo "{\\"start_date\\": \\"$(date -u -d \'1 year ago\' +%Y-%m-%dT00:00:00Z)\\"}" > plan.json',
    "tap-spapi-plan --config plan.json --accounts 1000 --shard-count 16 --target-minutes 60",
]

MELTANO_COMMANDS = "tests/e2e/test_doc_meltano_commands.py"
NOTIFICATIONS_SETUP = "tests/tap/test_notifications_setup.py"
NOTIFICATIONS_QUEUE = "arn:aws:sqs:us-east-1:123456789012:tap-spapi-notifications"
#: Run as written by another test (its source holds the command).
RUN_ELSEWHERE = {
    "tap-spapi-notifications setup --print-policy-only --queue-arn "
    + NOTIFICATIONS_QUEUE: NOTIFICATIONS_SETUP,
    "tap-spapi-notifications setup --config config.json --queue-arn "
    + NOTIFICATIONS_QUEUE: NOTIFICATIONS_SETUP,
    "meltano --environment=prod config set tap-spapi region eu": MELTANO_COMMANDS,
    ".venv-meltano/bin/meltano config set target-postgres host db.example.com": MELTANO_COMMANDS,
    ".venv-meltano/bin/meltano config set target-postgres user loader": MELTANO_COMMANDS,
    "meltano state list": MELTANO_COMMANDS,
    "meltano state clear demo:tap-spapi-to-target-duckdb": MELTANO_COMMANDS,
}

PLACEHOLDER = "sets a placeholder in the shell: nothing to run"
BENCHMARK = "a benchmark: minutes at Amazon's rates, prints a table (never run by the suite)"
SUITE = "runs the test suite itself"
#: Not run by any test, and why (naming the test that covers what it does, where one does).
NOT_RUN = {
    "make demo": (
        "installs the tap, Meltano and the loaders, then a minute of `meltano run`; "
        "tests/e2e/test_meltano.py::test_meltano_run_into_duckdb runs the same into DuckDB "
        "and tests/standin/test_cli_port.py::test_the_demo_points_meltano_at_its_port the "
        "demo's wiring"
    ),
    "make demo DEMO_PORT=8799": (
        "as `make demo`; "
        "tests/standin/test_cli_port.py::test_the_demo_on_a_taken_port_names_another"
    ),
    "make test": SUITE,
    "make unit": SUITE,
    "export TAP_SPAPI_CLIENT_ID=amzn1.application-oa2-client.…": PLACEHOLDER,
    "export TAP_SPAPI_CLIENT_SECRET=…": PLACEHOLDER,
    "export TAP_SPAPI_REFRESH_TOKEN='Atzr|…'": PLACEHOLDER,
    "export TARGET_POSTGRES_PASSWORD='…'": PLACEHOLDER,
    "export MELTANO_DATABASE_URI=postgresql+psycopg://meltano:${MELTANO_DB_PASSWORD}"
    "@state-db.internal:5432/meltano": PLACEHOLDER,
    "export MELTANO_PROJECT_ROOT=$PWD MELTANO_BIN=$PWD/.venv-meltano/bin/meltano "
    "TAP_SPAPI_SHARD_COUNT=4 TAP_SPAPI_TARGET=target-postgres MELTANO_DATABASE_URI=…": PLACEHOLDER,
    "meltano --environment=prod run tap-spapi target-duckdb": (
        "needs a real account (the prod environment); "
        "tests/e2e/test_meltano.py::test_meltano_run_into_duckdb runs it in the demo environment"
    ),
    ".venv-meltano/bin/meltano run tap-spapi target-postgres": (
        "needs the PostgreSQL server configured above; tests/e2e/test_meltano.py::"
        "test_meltano_run_of_two_accounts_into_postgres_then_only_changes runs it against one "
        "it starts"
    ),
    "python scripts/plugin_definition.py --pip-url /path/to/tap_spapi-0.1.0-py3-none-any.whl "
    "--output tap-spapi.yml": (
        "needs a wheel built first and minutes of installing; "
        "tests/e2e/test_plugin_install.py builds one and runs both commands"
    ),
    "meltano add --from-ref tap-spapi.yml extractor tap-spapi": (
        "installs the tap into a Meltano project (minutes); tests/e2e/test_plugin_install.py"
    ),
    "TAP_SPAPI_SHARD_COUNT=4 TAP_SPAPI_SHARD_INDEX=$JOB_COMPLETION_INDEX meltano "
    '--environment=prod run --state-id-suffix "shard-$JOB_COMPLETION_INDEX" tap-spapi '
    "target-postgres": (
        "needs real accounts and a shared PostgreSQL; tests/e2e/test_orchestrate.py::"
        "test_shards_run_in_parallel_share_postgres_state_and_resume_incrementally runs "
        "the recipe against the stand-in"
    ),
    'python3.11 -m venv .venv-dagster && .venv-dagster/bin/pip install "dagster-webserver'
    '>=1.13,<1.14"': "installs Dagster's web UI into a virtualenv of its own (minutes)",
    ".venv-dagster/bin/dagster dev -w orchestrate/workspace.yaml": (
        "serves Dagster's UI until stopped; checked by hand on 2026-12-07 (the code location "
        "loads with the jobs spapi_shards); tests/e2e/test_orchestrate.py loads the same "
        "definitions"
    ),
    ".venv/bin/dagster asset materialize -m orchestrate.definitions --select spapi_shard "
    "--partition 2": (
        "needs the PostgreSQL of MELTANO_DATABASE_URI; tests/e2e/test_orchestrate.py::"
        "test_shards_run_in_parallel_share_postgres_state_and_resume_incrementally "
        "materializes the asset"
    ),
    ".venv/bin/python benchmarks/run.py pacing --latency-ms 50 200 --rate-scale 1": BENCHMARK,
    ".venv/bin/python benchmarks/run.py pacing --latency-ms 0 50 200 --rate-scale 10": BENCHMARK,
    ".venv/bin/python benchmarks/run.py pacing --scenario first-run --rate-scale 1 4 "
    "--latency-ms 0": BENCHMARK,
    ".venv/bin/python benchmarks/run.py pacing --scenario report-backfill --rate-scale 20 "
    "--latency-ms 0": BENCHMARK,
    ".venv/bin/python benchmarks/run.py pacing --scenario orders-backfill --rate-scale 100 "
    "--latency-ms 0": BENCHMARK,
    ".venv/bin/python benchmarks/run.py pacing --scenario mcf --rate-scale 1 --latency-ms 50": (
        BENCHMARK
    ),
    ".venv/bin/python benchmarks/run.py pacing --scenario awd --rate-scale 1 --latency-ms 0": (
        BENCHMARK
    ),
    ".venv/bin/python benchmarks/run.py throughput --records 100000": BENCHMARK,
    "aws sqs create-queue --queue-name tap-spapi-notifications "
    "--attributes MessageRetentionPeriod=1209600": (
        "creates a queue in a real AWS account (and needs the AWS CLI); "
        "tests/tap/test_notifications_setup.py runs the setup for that queue's ARN"
    ),
    ".venv/bin/python benchmarks/run.py accounts --accounts 4": BENCHMARK,
    ".venv/bin/python benchmarks/run.py notifications --identifiers 5000 --changed 50 "
    "--rate-scale 100": BENCHMARK,
}


def console_commands() -> dict[str, set[str]]:
    """Each command of the docs' console blocks, and the documents it appears in."""
    commands: dict[str, set[str]] = {}
    for document in DOCUMENTS:
        for block in CONSOLE_BLOCK.finditer(document.read_text(encoding="utf-8")):
            indent = len(block.group(1))
            lines: list[str] = []  # the command being read, with its continuations
            for line in (raw[indent:] for raw in block.group(2).splitlines()):
                if lines and lines[-1].endswith("\\"):
                    lines[-1] = lines[-1][:-1].rstrip()
                    lines.append(line.strip())
                    continue
                if lines:
                    commands.setdefault(_command(lines), set()).add(document.name)
                lines = [line[2:]] if line.startswith("$ ") else []
            if lines:
                commands.setdefault(_command(lines), set()).add(document.name)
    return commands


def _command(lines: list[str]) -> str:
    """One command of its lines, each without its trailing comment."""
    return " ".join(TRAILING_COMMENT.sub("", line) for line in lines)


def test_every_console_command_is_run_or_listed():
    documented = console_commands()
    assert "make demo" in documented  # the extraction finds the README's commands
    listed = [*RUN_HERE, *RUN_IN_SHELL, *RUN_ELSEWHERE, *NOT_RUN]
    assert len(listed) == len(set(listed)), "a command is in two of the lists"
    unchecked = {command: sorted(where) for command, where in documented.items()}
    for command in listed:
        unchecked.pop(command, None)
    assert not unchecked, (
        f"console commands neither run nor listed in {__name__}.NOT_RUN: {unchecked}"
    )
    stale = sorted(set(listed) - set(documented))
    assert not stale, f"listed but in no console block of the docs any more: {stale}"


def test_the_tests_that_run_or_cover_a_command_exist():
    for command, test_file in RUN_ELSEWHERE.items():
        assert command in (REPO / test_file).read_text(encoding="utf-8"), (command, test_file)
    for command, reason in NOT_RUN.items():
        for path, name in re.findall(r"(tests/[\w/]+\.py)(?:::(\w+))?", reason):
            source = (REPO / path).read_text(encoding="utf-8")
            assert not name or f"def {name}(" in source, (command, path, name)


def run_here(command: str, directory: Path) -> tuple[int, str]:
    """`command` as a user would type it in `directory`; its exit status and stderr."""
    program, *args = shlex.split(command)
    assert program == "tap-spapi", f"no way to run {program} here: list it instead"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(directory)
        result = run_cli(args)
    return result.returncode, result.stderr


@pytest.mark.parametrize("command", sorted(RUN_HERE))
def test_the_docs_command_runs_against_the_standin(command, tmp_path):
    with StandIn(StandInConfig(seed=1, size="tiny")) as server:
        (tmp_path / "config.json").write_text(json.dumps(tap_config(server)))
        return_code, stderr = run_here(command, tmp_path)
    assert return_code == 0, stderr


def test_the_docs_shell_commands_run_in_order(tmp_path):
    scripts = Path(sys.executable).parent  # tap-spapi-plan of this environment
    env = {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"}
    for command in RUN_IN_SHELL:
        result = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, (command, result.stderr[-2000:])
    assert "shard_count" in result.stdout and "| 15 |" in result.stdout
