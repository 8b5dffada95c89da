"""What a successful run leaves out of its log: singer-sdk's METRIC lines (unless
`log_metrics`), and its note on unsorted streams, which every unsorted stream of the tap
answers in `after_a_kill`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest

from tap_spapi.runtime import progress
from tap_spapi.runtime.progress import SDK_UNSORTED_NOTE, sdk_lines_once
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


@pytest.mark.parametrize("level", [logging.INFO, logging.DEBUG])
def test_the_sdk_lines_at_each_stream_start_go_out_at_debug_only(caplog, level):
    logger = logging.getLogger("tap-spapi.quiet-test")
    sdk_lines_once(logger)
    with caplog.at_level(level, logger="tap-spapi.quiet-test"):
        logger.info("Beginning sync of 'orders' in incremental mode")
        logger.info("Starting incremental sync of 'orders' with bookmark value: 2026-01-01")
        logger.info("Pagination stopped after 0 pages because no records were found")
        logger.info("orders: 3 records in about 1 s")
    said = [r.getMessage() for r in caplog.records]
    assert said[-1] == "orders: 3 records in about 1 s"
    assert len(said) == (4 if level == logging.DEBUG else 1)


def test_an_estimate_is_news_at_info_only_when_it_means_a_wait_worth_watching():
    assert progress.estimate_level(progress.PROGRESS_INTERVAL) == logging.INFO
    assert progress.estimate_level(progress.PROGRESS_INTERVAL - 1) == logging.DEBUG


def test_a_warning_about_many_items_is_one_line_with_a_count_and_a_few_of_them():
    run = TapSpapi(config=VALID).run
    warning = "{} labels gave nothing"
    for n in range(1_000):
        run.gather(warning, f"label-{n}")
    run.gather("{} plans were refused", "plan-1")
    assert run.gathered() == [
        "1,000 labels gave nothing: label-0, label-1, label-2, ...",
        "1 plans were refused: plan-1",
    ]


def test_the_notifications_stream_exists_only_with_a_queue_to_read():
    # Without one it could only be an empty table in every warehouse, and a closing line.
    assert "notifications" not in TapSpapi(config=VALID).streams
    queue = {"notifications_queue_url": "https://sqs.us-east-1.amazonaws.com/1/q"}
    assert "notifications" in TapSpapi(config={**VALID, **queue}).streams
