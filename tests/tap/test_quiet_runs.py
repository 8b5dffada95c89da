"""A successful run is quiet: no METRIC lines unless `log_metrics`, no note on unsorted
streams, and singer-sdk's lines at each stream's start (per context) at DEBUG only."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from spapi_standin import StandIn
from testkit import SingerOutput, catalog_selecting, every_stream, full_config, run_cli

if TYPE_CHECKING:
    from pathlib import Path

# A chain with a context per order and per shipment, and an unsorted parent.
CHAIN = ("outbound_orders", "outbound_shipments", "outbound_package_tracking", "orders")


@pytest.mark.parametrize("log_metrics", [False, True])
def test_a_successful_run_logs_no_metrics_and_no_line_per_context(tmp_path: Path, log_metrics):
    with StandIn(every_stream()) as server:
        config = full_config(server, log_metrics=log_metrics)
        (tmp_path / "config.json").write_text(json.dumps(config))
        (tmp_path / "catalog.json").write_text(json.dumps(catalog_selecting(config, CHAIN)))
        result = run_cli(
            ["--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")]
        )
        shipments = len(server.dataset.outbound_details)
    assert result.returncode == 0
    lines = result.stderr.splitlines()
    assert shipments > 1, "the data set has several orders: several contexts per child"
    assert ("METRIC: " in result.stderr) is log_metrics
    assert "assumed to be unsorted" not in result.stderr
    assert not [line for line in lines if "Beginning sync of '" in line]  # DEBUG only
    if not log_metrics:  # its version, a line per stream, the run's: little else
        assert len(lines) <= len(CHAIN) + 5, "\n".join(lines)
    # It closes with a line per stream (records, time) and one for the run (requests, 429s).
    output = SingerOutput.parse(result.stdout)
    for stream in CHAIN:
        count = len(output.records(stream))
        assert any(f"| {stream}: {count:,} records in " in line for line in lines), stream
    (run_line,) = [line for line in lines if "| run: " in line]
    total = sum(len(output.records(stream)) for stream in CHAIN)
    assert f"run: {total:,} records in {len(CHAIN)} streams, " in run_line
    assert "listAllFulfillmentOrders" in run_line and "no 429s" in run_line


def test_a_connection_test_that_passes_prints_no_error(tmp_path: Path):
    # singer-sdk's `--test` stops every stream after its first record by raising a signal,
    # which it logged as "An unhandled error occurred while syncing" for each stream.
    with StandIn(every_stream()) as server:
        config = full_config(server)
        (tmp_path / "config.json").write_text(json.dumps(config))
        result = run_cli(["--config", str(tmp_path / "config.json"), "--test"])
    assert result.returncode == 0, result.stderr
    assert "ERROR" not in result.stderr and "unhandled error" not in result.stderr
    assert '"type":"RECORD"' in result.stdout.replace(" ", "")
