"""The tiers of the suite, and the fixtures every tier shares.

A test's tier is its folder, and its marker is set from the folder (as singer-sdk's own
suite does), so `-m unit` and `tests/unit` name the same tests:

- `unit/`: the tap's parts on their own, no server (seconds in all);
- `standin/`: the stand-in against Amazon's models, no tap run;
- `tap/`: the tap in-process against the stand-in, each test syncing only the streams it
  is about;
- `e2e/`: real processes: the command line killed and resumed, Meltano and its loaders,
  PostgreSQL, Dagster.

The helpers the tests and the benchmarks share live in `testkit` (the repository root).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from spapi_standin import StandIn, StandInConfig

if TYPE_CHECKING:
    from collections.abc import Iterator

TIERS = ("unit", "standin", "tap", "e2e")
# Fixtures (tests/e2e/conftest.py) whose tests must not run side by side.
SHARED_SERVICES = frozenset({"meltano", "meltano_project", "postgres"})
HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before xdist's hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its folder's tier."""
    for item in items:
        tier = item.path.resolve().relative_to(HERE).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: a test lives in one of {TIERS}")
        item.add_marker(getattr(pytest.mark, tier))
        shares = SHARED_SERVICES & set(getattr(item, "fixturenames", ()))
        if shares and not any(item.iter_markers("xdist_group")):
            # One worker runs the tests of a module that uses Meltano or PostgreSQL, in
            # turn: they share its PostgreSQL server and, in Meltano's project, its run
            # directory. Other tests (each with its own stand-in) spread over the workers.
            item.add_marker(pytest.mark.xdist_group(f"{tier}-{item.path.stem}"))


@pytest.fixture
def standin() -> Iterator[StandIn]:
    """A fresh stand-in with small data, no latency and Amazon's usage plans scaled up."""
    with StandIn(StandInConfig(seed=11, rate_scale=50.0)) as server:
        yield server


@pytest.fixture(scope="session")
def sqs_endpoint() -> Iterator[str]:
    """moto's SQS server (testkit.sqs_server), one for the session: each test makes queues
    of its own names, so tests never read each other's messages."""
    from testkit import sqs_server  # imports the tap: only for the tests that need SQS

    with sqs_server() as endpoint:
        yield endpoint
