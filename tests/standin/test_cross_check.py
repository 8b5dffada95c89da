"""The tap's tables and the stand-in's own reading of Amazon agree, or a test says where.

The stand-in takes its truth from Amazon's models and pages, never from the tap
(`spapi_standin` imports nothing of `tap_spapi`). These tests compare the two sides'
tables, so a disagreement (a wrong column, flag, limit or usage plan on either side)
fails here to be decided, instead of being shared and passing every other test.
"""

from __future__ import annotations

import ast
import re

import pytest

from spapi_standin import StandIn, StandInConfig
from spapi_standin.ratelimit import model_table
from spapi_standin.report_fixtures import ALTERNATIVE_NAMES, FIXTURES
from spapi_standin.report_fixtures import BY_TYPE as FIXTURE_BY_TYPE
from tap_spapi.amazon.operations import load_catalog
from tap_spapi.amazon.report_types import REPORT_TYPES, ReportType
from testkit import REPO


def test_the_stand_in_imports_nothing_of_the_tap():
    for path in sorted((REPO / "spapi_standin").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not [n for n in names if n.split(".")[0] == "tap_spapi"], path.name


def test_both_sides_know_the_same_report_types():
    assert {r.report_type for r in REPORT_TYPES} == {f.report_type for f in FIXTURES}


def _resolved(report: ReportType, column: str) -> str:
    """A stand-in header cell as the tap's record field."""
    return report.column_of(column)


@pytest.mark.parametrize("report", REPORT_TYPES, ids=lambda r: r.stream_name)
def test_report_columns_agree_except_for_the_declared_aliases(report):
    fixture = FIXTURE_BY_TYPE[report.report_type]
    assert report.aliases == ALTERNATIVE_NAMES.get(report.report_type, {})
    tap_columns = list(report.columns)
    standin_columns = list(fixture.columns)
    assert len(tap_columns) == len(standin_columns), (tap_columns, standin_columns)
    differing = {
        standin: tap
        for tap, standin in zip(tap_columns, standin_columns, strict=True)
        if tap != standin
    }
    # Exactly the declared aliases differ, each resolving to the tap's column.
    assert differing == {
        name: other for name, other in report.aliases.items() if name in standin_columns
    }
    for tap, standin in zip(tap_columns, standin_columns, strict=True):
        assert report.columns[tap] == fixture.columns[standin], (tap, standin)


@pytest.mark.parametrize("report", REPORT_TYPES, ids=lambda r: r.stream_name)
def test_report_keys_pii_flags_and_limits_agree(report):
    fixture = FIXTURE_BY_TYPE[report.report_type]
    assert report.keys == tuple(_resolved(report, c) for c in fixture.identity)
    known_pii = {name for name in report.pii if name in report.kinds}
    assert known_pii == {_resolved(report, c) for c in fixture.pii}
    assert (report.restricted, report.snapshot, report.max_window_days) == (
        fixture.restricted,
        fixture.snapshot,
        fixture.max_window_days,
    )


def test_every_tap_operation_has_the_stand_ins_usage_plan_and_enums():
    table = model_table()
    for operation in load_catalog():
        entry = table.get(f"{operation.method} {operation.path}")
        assert entry is not None, operation.operation_id
        if operation.fallback_plan:
            # The model prints no plan: the stand-in's table says so too.
            assert (entry["rate"], entry["burst"]) == (None, None), operation.operation_id
        else:
            assert (operation.rate, operation.burst) == (entry["rate"], entry["burst"])
        assert entry["operationId"] == operation.operation_id.rsplit(".", 1)[-1]
        assert operation.query_enums == {
            name: tuple(values) for name, values in entry.get("query_enums", {}).items()
        }, operation.operation_id


# Served for tests (cleaning up notifications), never called by the tap: its catalog holds
# the reads and the writes it makes.
NOT_CALLED_BY_THE_TAP = frozenset({"deleteDestination"})


def test_every_operation_the_stand_in_serves_is_in_the_tap_catalog():
    with StandIn(StandInConfig(size="tiny")) as server:  # the routes, not the data
        routes = server.app.operations.routes
        limiter = server.app.limiter
        for operation_id, route in routes.items():
            matched = load_catalog().match(route.method, _concrete(route.path))
            if operation_id in NOT_CALLED_BY_THE_TAP:
                assert matched is None, f"{operation_id}: the tap calls it now"
                entry = model_table()[f"{route.method} {route.path}"]
                assert limiter.plan(operation_id) == (entry["rate"], entry["burst"])
                continue
            assert matched is not None, operation_id
            if matched.fallback_plan:
                # The tap starts below the stand-in's assumed live plan and adopts its
                # rate from the header (tests/test_inbound_plans.py proves it).
                rate, burst = limiter.plan(operation_id)
                assert (matched.rate, matched.burst) <= (rate, burst), operation_id
                continue
            assert (matched.rate, matched.burst) == limiter.plan(operation_id), operation_id


def _concrete(template: str) -> str:
    """`/a/{b}` -> `/a/x`: a path the catalog matches like a request's."""
    return re.sub(r"\{[^}]+\}", "x", template)
