"""What the end-to-end tests share: one Meltano project installed once a session,
outside the repository, and a PostgreSQL server per module.

Meltano installs the tap and the loaders into virtualenvs of its own (a minute or two).
The project is this repository's `meltano.yml` with the tap installed from the checkout,
in a folder under the user's cache named after the files it depends on, so a second
session on the same checkout installs nothing. CI sets TAP_SPAPI_REQUIRE_E2E so that a
missing Meltano or PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from postgres import Postgres, binaries, running_postgres

from testkit import REPO

if TYPE_CHECKING:
    from collections.abc import Iterator

# What decides what `meltano install` puts in the project's virtualenvs.
INSTALLED_FROM = ("meltano.yml", "pyproject.toml")
INSTALLED_MARK = ".installed"
# What a run leaves in the project: cleared at the start of a session.
RUN_LEFTOVERS = (".meltano/meltano.db", ".meltano/run", ".meltano/shards", "output")


def meltano_binary() -> str:
    """The meltano executable (`make test` passes MELTANO_BIN), or skip (fail under CI)."""
    binary = os.environ.get("MELTANO_BIN") or shutil.which("meltano")
    if binary and Path(binary).exists():
        return binary
    if os.environ.get("TAP_SPAPI_REQUIRE_E2E"):
        pytest.fail("TAP_SPAPI_REQUIRE_E2E is set but no meltano executable was found")
    pytest.skip("no meltano executable (run `make test`, which installs it)")


@pytest.fixture(scope="session")
def meltano_bin() -> str:
    """The meltano executable, nothing installed."""
    return meltano_binary()


def project_dir() -> Path:
    """`~/.cache/tap-spapi-tests/meltano-<hash>`: this checkout's project, by what it installs."""
    digest = hashlib.sha256(str(REPO).encode())
    for name in INSTALLED_FROM:
        digest.update((REPO / name).read_bytes())
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "tap-spapi-tests" / f"meltano-{digest.hexdigest()[:16]}"


@pytest.fixture(scope="session")
def meltano_project(meltano_bin: str, testrun_uid: str) -> Path:
    """The repository's Meltano project, installed once, outside the repository; the
    tap comes from this checkout (editable), so it runs the code under test."""
    project = project_dir()
    project.parent.mkdir(parents=True, exist_ok=True)
    # Two sessions on one checkout (a second terminal, the time-shifted re-run) install
    # in turn: the second finds the first's mark instead of deleting its half-done work.
    # Under xdist every worker comes here: the first of a run (`testrun_uid` is the
    # run's) clears what earlier runs left, the others find it cleared, so no worker
    # deletes what another's test is using.
    with (project.parent / f"{project.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (project / INSTALLED_MARK).exists():
            install_project(meltano_bin, project)
        # The demo environment's loader logging (meltano.yml's LOGGING_CONF_FILE). Another
        # worker's target may be reading it right now: replaced whole, and only if it
        # changed (a copy over it once let a target read an empty file).
        (project / "scripts").mkdir(exist_ok=True)
        conf = project / "scripts" / "loader_logging.conf"
        text = (REPO / "scripts" / "loader_logging.conf").read_bytes()
        if not conf.exists() or conf.read_bytes() != text:
            staged = conf.with_name(f".{conf.name}.{testrun_uid}")
            staged.write_bytes(text)
            staged.replace(conf)
        cleared = project / f".cleared-{testrun_uid}"
        if not cleared.exists():
            for stale in project.glob(".cleared-*"):
                stale.unlink()
            for leftover in RUN_LEFTOVERS:
                path = project / leftover
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
            cleared.touch()
    return project


def install_project(meltano_bin: str, project: Path) -> None:
    """A fresh project: the repository's meltano.yml with the tap from this checkout,
    `meltano install`ed, then marked as complete (an interrupted install is redone)."""
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    definition = (REPO / "meltano.yml").read_text(encoding="utf-8")
    if "pip_url: -e .\n" not in definition:
        pytest.fail("meltano.yml no longer installs the tap with `pip_url: -e .`")
    definition = definition.replace("pip_url: -e .\n", f"pip_url: -e {REPO}\n")
    (project / "meltano.yml").write_text(definition, encoding="utf-8")
    installed = subprocess.run(
        [meltano_bin, "install"], cwd=project, capture_output=True, text=True, check=False
    )
    assert installed.returncode == 0, installed.stderr[-4000:]
    (project / INSTALLED_MARK).touch()


@dataclass(frozen=True)
class Meltano:
    """The meltano executable and the installed project to run it in."""

    binary: str
    project: Path


@pytest.fixture(scope="session")
def meltano(meltano_bin: str, meltano_project: Path) -> Meltano:
    """Meltano with the repository's project installed."""
    return Meltano(meltano_bin, meltano_project)


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server for one module (its tables are that module's alone)."""
    bin_dir = binaries()
    if bin_dir is None:
        if os.environ.get("TAP_SPAPI_REQUIRE_E2E"):
            pytest.fail("TAP_SPAPI_REQUIRE_E2E is set but PostgreSQL's initdb was not found")
        pytest.skip("no PostgreSQL server binaries (Debian package postgresql)")
    yield from running_postgres(bin_dir)
