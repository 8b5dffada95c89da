"""The batch-flushing Singer writer: records wait, STATE and idle time write them out."""

from __future__ import annotations

import io
import json
from contextlib import contextmanager, redirect_stdout
from typing import TYPE_CHECKING

import pytest
from singer_sdk.singerlib import RecordMessage, StateMessage

from tap_spapi.runtime import entry_point, output
from tap_spapi.runtime.output import BatchFlushingWriter
from tap_spapi.tap import TapSpapi
from testkit import VALID

if TYPE_CHECKING:
    from collections.abc import Iterator


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(output.time, "monotonic", fake)
    return fake


@contextmanager
def captured_stdout() -> Iterator[io.BytesIO]:
    """sys.stdout as bytes (inside the test: pytest swaps sys.stdout between phases)."""
    raw = io.BytesIO()
    with redirect_stdout(io.TextIOWrapper(raw, encoding="utf-8")):
        yield raw


def lines(raw: io.BytesIO) -> list[dict]:
    return [json.loads(line) for line in raw.getvalue().splitlines()]


def record(number: int) -> RecordMessage:
    return RecordMessage(stream="s", record={"n": number})


def test_records_wait_for_the_state_that_covers_them(clock):
    with captured_stdout() as stdout:
        writer = BatchFlushingWriter()
        for number in range(3):
            writer.write_message(record(number))
        assert stdout.getvalue() == b""
        writer.write_message(StateMessage(value={"bookmarks": {"s": {"n": 2}}}))
        written = lines(stdout)
        assert [m["type"] for m in written] == ["RECORD", "RECORD", "RECORD", "STATE"]
        assert [m["record"]["n"] for m in written[:3]] == [0, 1, 2]


def test_an_idle_tap_still_writes_its_records_out(clock):
    with captured_stdout() as stdout:
        writer = BatchFlushingWriter()
        writer.write_message(record(1))
        assert stdout.getvalue() == b""
        clock.now += output.MAX_RECORD_DELAY + 0.1
        writer.write_message(record(2))
        assert [m["record"]["n"] for m in lines(stdout)] == [1, 2]


def test_a_full_chunk_is_written_without_waiting(clock, monkeypatch):
    with captured_stdout() as stdout:
        writer = BatchFlushingWriter()
        one_record = len(writer.format_message(record(0)))
        monkeypatch.setattr(output, "CHUNK_BYTES", 3 * one_record)
        for number in range(4):
            writer.write_message(record(number))
        assert [m["record"]["n"] for m in lines(stdout)] == [0, 1, 2]


def test_a_failed_run_writes_out_what_is_left_and_nothing_of_another_tap(clock):
    other = TapSpapi(config=VALID)  # a tap of the same process killed earlier (tests)
    other.message_writer.write_message(StateMessage(value={"bookmarks": {"s": {"n": 1}}}))
    other.message_writer.write_message(StateMessage(value={"bookmarks": {"s": {"n": 2}}}))
    with captured_stdout() as stdout, entry_point.made_while_running() as taps:
        tap = TapSpapi(config=VALID)
        tap.message_writer.write_message(record(7))
        assert taps == [tap]
        for made in taps:
            assert made.finish_entry_point() is None  # it started no run
        assert lines(stdout) == [{"type": "RECORD", "stream": "s", "record": {"n": 7}}]


def test_a_state_equal_to_the_last_one_is_not_written_again(clock):
    with captured_stdout() as stdout:
        writer = BatchFlushingWriter()
        same = {"bookmarks": {"s": {"n": 1}}}
        writer.write_message(StateMessage(value=same))
        writer.write_message(record(1))
        clock.now += output.STATE_INTERVAL
        writer.write_message(StateMessage(value=dict(same)))  # nothing moved
        writer.write_message(record(2))
        writer.finish()
        assert [m["type"] for m in lines(stdout)] == ["STATE", "RECORD", "RECORD"]


def test_states_go_out_at_most_once_per_interval_the_newest_last(clock):
    with captured_stdout() as stdout:
        writer = BatchFlushingWriter()
        for number in range(1, 6):  # five child contexts in quick succession
            writer.write_message(record(number))
            writer.write_message(StateMessage(value={"bookmarks": {"s": {"n": number}}}))
        kinds = [m["type"] for m in lines(stdout)]
        # The first STATE goes out; the next ones wait, the records do not.
        assert kinds == ["RECORD", "STATE", "RECORD", "RECORD", "RECORD", "RECORD"]
        clock.now += output.STATE_INTERVAL
        writer.write_message(record(6))
        written = lines(stdout)
        # Due again: the records so far, then the newest state (n=5), which covers them.
        assert [m["type"] for m in written][-2:] == ["RECORD", "STATE"]
        assert written[-1]["value"] == {"bookmarks": {"s": {"n": 5}}}
        assert [m["record"]["n"] for m in written if m["type"] == "RECORD"] == list(range(1, 7))


def test_a_large_state_goes_out_less_often(clock):
    big = {"bookmarks": {"s": {"ids": "x" * output.STATE_BYTES_PER_SECOND * 4}}}
    with captured_stdout() as stdout:
        writer = BatchFlushingWriter()
        writer.write_message(StateMessage(value=big))  # the first: written, about 1 MB
        writer.write_message(StateMessage(value={"bookmarks": {"s": {"n": 2}}}))
        clock.now += output.STATE_INTERVAL
        writer.write_message(record(1))
        assert [m["type"] for m in lines(stdout)] == ["STATE", "RECORD"]  # not due yet
        clock.now += 4 * output.STATE_INTERVAL  # past four seconds, for over four times the bytes
        writer.write_message(record(2))
        written = lines(stdout)
        assert [m["type"] for m in written] == ["STATE", "RECORD", "RECORD", "STATE"]
        assert written[-1]["value"] == {"bookmarks": {"s": {"n": 2}}}


def test_the_end_of_a_run_writes_the_newest_state(clock):
    with captured_stdout() as stdout:
        writer = BatchFlushingWriter()
        writer.write_message(StateMessage(value={"bookmarks": {"s": {"n": 1}}}))
        writer.write_message(record(2))
        writer.write_message(StateMessage(value={"bookmarks": {"s": {"n": 2}}}))
        writer.finish()
        written = lines(stdout)
        assert [m["type"] for m in written] == ["STATE", "RECORD", "STATE"]
        assert written[-1]["value"] == {"bookmarks": {"s": {"n": 2}}}


def test_a_schema_is_sent_once_per_stream_unless_it_changes(clock):
    from singer_sdk.singerlib import SchemaMessage

    def schema(kind: str) -> SchemaMessage:
        properties = {"n": {"type": kind}}
        return SchemaMessage(stream="s", schema={"properties": properties}, key_properties=["n"])

    with captured_stdout() as stdout:
        writer = BatchFlushingWriter()
        for number in range(3):  # a child stream's sync per parent record
            writer.write_message(schema("integer"))
            writer.write_message(record(number))
        writer.write_message(schema("string"))
        writer.finish()
        kinds = [m["type"] for m in lines(stdout)]
        assert kinds == ["SCHEMA", "RECORD", "RECORD", "RECORD", "SCHEMA"]
