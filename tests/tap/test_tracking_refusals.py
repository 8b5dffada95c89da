"""Identifiers Amazon cannot track: a 404 names the identifier, and one Amazon refuses
`REFUSAL_LIMIT` runs in a row is given up with one warning, unless listed (docs/state.md)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest

from spapi_standin import StandIn, StandInConfig
from tap_spapi.runtime.state import REFUSAL_LIMIT
from testkit import expected_keys, listed_identifiers, run_tap, tap_config

if TYPE_CHECKING:
    from collections.abc import Iterator

OPERATION = "getShipmentTracking"
STREAM = "shipment_tracking"


@pytest.fixture
def server() -> Iterator[StandIn]:
    # Few shipments: the runs are about the identifiers, not the parents that carry them.
    config = StandInConfig(seed=11, rate_scale=50.0, outbound_orders=3, inbound_plans=1)
    with StandIn(config) as standin:
        yield standin


def asked(server: StandIn, value: str) -> int:
    """How many getShipmentTracking requests named `value` so far."""
    return sum(
        value in (v for values in parse_qs(urlsplit(target).query).values() for v in values)
        for target in server.stats.targets(OPERATION)
    )


def lines_about(caplog: pytest.LogCaptureFixture, value: str, level: int) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == level and value in record.getMessage()
    ]


def sync(
    config: dict[str, Any], state: dict[str, Any] | None, caplog: pytest.LogCaptureFixture
) -> dict[str, Any]:
    """One run of shipment_tracking from `state`; its final state (the log: this run's)."""
    caplog.clear()
    with caplog.at_level(logging.INFO):
        output = run_tap(config, state=state, streams={STREAM})
    assert output.failures is not None and not output.failures.failed_contexts
    return output.states[-1]


def book_of(state: dict[str, Any]) -> dict[str, Any]:
    (partition,) = state["bookmarks"][STREAM]["partitions"]
    return dict(partition)


def test_a_404_for_a_listed_identifier_warns_naming_it(server: StandIn, caplog):
    listed = listed_identifiers(server.dataset)
    refused = listed[0]
    # Amazon's 404 body ("Resource not found") names nothing: the warning must.
    server.inject(OPERATION, status=404, matching=refused["value"])
    config = tap_config(server, shipment_tracking_ids=listed)
    with caplog.at_level(logging.WARNING):
        output = run_tap(config, streams={STREAM})
    (line,) = lines_about(caplog, refused["value"], logging.WARNING)
    assert (
        f"stream '{STREAM}': no tracking for {refused['type']} {refused['value']} of account "
        "'default' (HTTP 404 NotFound: Resource not found"
    ) in line
    assert line.endswith(
        "; nothing loaded for it, asked again next run (refused 1 run in a row; given up "
        f"after {REFUSAL_LIMIT})."
    )
    emitted = {record["identifierValue"] for record in output.records(STREAM)}
    assert refused["value"] not in emitted
    assert {entry["value"] for entry in listed[1:]} <= emitted


def test_an_identifier_refused_three_runs_in_a_row_is_given_up_with_one_warning(
    server: StandIn, caplog
):
    # One identifier the tap notes itself (an MCF package's), one the settings list;
    # Amazon answers 404 for both, run after run.
    noted_kind, noted = min(
        key for key in expected_keys(server.dataset)[STREAM] if key[0] == "aftn"
    )
    listed = listed_identifiers(server.dataset)[0]
    server.inject(OPERATION, status=404, times=REFUSAL_LIMIT, matching=noted)
    server.inject(OPERATION, status=404, times=REFUSAL_LIMIT + 1, matching=listed["value"])
    config = tap_config(server, shipment_tracking_ids=[listed])
    state: dict[str, Any] | None = None
    for run in range(1, REFUSAL_LIMIT + 1):
        state = sync(config, state, caplog)
        (noted_line,) = lines_about(caplog, noted, logging.WARNING)
        (listed_line,) = lines_about(caplog, listed["value"], logging.WARNING)
        if run < REFUSAL_LIMIT:
            runs = "1 run" if run == 1 else f"{run} runs"
            assert f"asked again next run (refused {runs} in a row;" in noted_line
            assert f"asked again next run (refused {runs} in a row;" in listed_line
    assert noted_line.endswith(
        f"refused {REFUSAL_LIMIT} runs in a row: given up, not asked again. List it in "
        "shipment_tracking_ids to ask it again."
    )
    assert listed_line.endswith(
        f"refused {REFUSAL_LIMIT} runs in a row, still asked every run because it is listed: "
        "remove it from shipment_tracking_ids (or its file) to stop asking."
    )
    assert state is not None
    assert book_of(state)["refused"] == {
        noted_kind: {noted: REFUSAL_LIMIT},
        listed["type"]: {listed["value"]: REFUSAL_LIMIT},
    }

    # The next run: the given-up one is not asked, the listed one is, and neither warns.
    state = sync(config, state, caplog)
    assert asked(server, noted) == REFUSAL_LIMIT
    assert asked(server, listed["value"]) == REFUSAL_LIMIT + 1
    assert not lines_about(caplog, noted, logging.WARNING)
    assert not lines_about(caplog, listed["value"], logging.WARNING)
    assert lines_about(caplog, listed["value"], logging.INFO)
    assert noted in book_of(state)["open"][noted_kind]  # not noted as new by a re-read parent

    # Listed, the given-up one is asked again; both answer now, and their refusals leave.
    relisted = tap_config(
        server, shipment_tracking_ids=[listed, {"type": noted_kind, "value": noted}]
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        output = run_tap(relisted, state=state, streams={STREAM})
    emitted = {record["identifierValue"] for record in output.records(STREAM)}
    assert {noted, listed["value"]} <= emitted
    assert "refused" not in book_of(output.states[-1])
