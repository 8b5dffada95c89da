"""A throwaway PostgreSQL server for the warehouse end-to-end tests, and what they read of it.

Debian's `postgresql` package (installed by `.ci/run`) provides the binaries; the server
runs from a temporary data directory on 127.0.0.1 and a free port, with a password, and
is stopped afterwards. PostgreSQL refuses to run as root, so as root (CI) it runs as
the package's `postgres` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from testkit import KEYS

if TYPE_CHECKING:
    from collections.abc import Iterator

USER = "spapi"
PASSWORD = "local-test-password"  # a throwaway server on 127.0.0.1, not a secret
DATABASE = "warehouse"


@dataclass(frozen=True)
class Postgres:
    """Where the running server listens and how to log in."""

    host: str
    port: int
    user: str
    password: str
    database: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"


def binaries() -> Path | None:
    """The directory of initdb/pg_ctl: Debian's versioned one, else the PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def running_postgres(bin_dir: Path) -> Iterator[Postgres]:
    """Initialise, start, yield, stop and delete a server.

    Its directory is made straight under the system's temporary directory: the
    `postgres` user cannot enter pytest's private (0700) temporary directories.
    """
    workdir = Path(tempfile.mkdtemp(prefix="tap-spapi-postgres-"))
    try:
        yield from _serve(bin_dir, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _serve(bin_dir: Path, workdir: Path) -> Iterator[Postgres]:
    data, password_file = workdir / "data", workdir / "password"
    password_file.write_text(PASSWORD)
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
        shutil.chown(password_file, "postgres")
    port = free_port()
    run = _as_server_user
    subprocess.run(
        run(
            [
                str(bin_dir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                USER,
                "--pwfile",
                str(password_file),
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
            ]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {workdir}"
    start = [str(bin_dir / "pg_ctl"), "--pgdata", str(data), "--options", options, "--wait"]
    subprocess.run(
        run([*start, "--log", str(workdir / "server.log"), "start"]),
        check=True,
        capture_output=True,
    )
    try:
        server = Postgres("127.0.0.1", port, USER, PASSWORD, DATABASE)
        environment = {**os.environ, "PGPASSWORD": PASSWORD}
        subprocess.run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, DATABASE],
            check=True,
            capture_output=True,
            env=environment,
        )
        yield server
    finally:
        stop = [str(bin_dir / "pg_ctl"), "--pgdata", str(data), "--mode", "fast", "stop"]
        subprocess.run(run(stop), check=False, capture_output=True)


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
