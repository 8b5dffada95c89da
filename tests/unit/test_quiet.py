"""What a successful run leaves out of its log: singer-sdk's METRIC lines (unless
`log_metrics`), and its note on unsorted streams, which every unsorted stream of the tap
answers in `after_a_kill`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest

from tap_spapi.progress import SDK_UNSORTED_NOTE, sdk_lines_once
from tap_spapi.tap import MCF_2026_TYPES, STREAM_TYPES, TapSpapi
from testkit import VALID

if TYPE_CHECKING:
    from singer_sdk import Stream


@pytest.mark.parametrize(
    "stream_type",
    [*STREAM_TYPES, *MCF_2026_TYPES.values()],
    ids=lambda t: t.__name__,
)
def test_every_unsorted_stream_says_what_a_kill_means_for_it(stream_type: type[Stream]):
    stream = stream_type(tap=TapSpapi(config=VALID))
    if stream.replication_key and not stream.is_sorted:
        assert getattr(stream, "after_a_kill", ""), stream.name


def test_the_sdk_note_on_unsorted_streams_is_dropped_and_other_warnings_are_kept(caplog):
    logger = logging.getLogger("singer_sdk")
    sdk_lines_once(logger)
    with caplog.at_level(logging.WARNING, logger="singer_sdk"):
        logger.warning("%s, progress is not resumable if interrupted", SDK_UNSORTED_NOTE)
        logger.warning("Something else")
    assert [r.getMessage() for r in caplog.records] == ["Something else"]


@pytest.mark.parametrize("log_metrics", [False, True])
def test_metric_lines_only_with_log_metrics(log_metrics):
    tap = TapSpapi(config={**VALID, "log_metrics": log_metrics})
    assert tap.metrics_logger.isEnabledFor(logging.INFO) is log_metrics
