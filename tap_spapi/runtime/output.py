"""How Singer messages leave the tap: msgspec-encoded, records in batches, STATE paced."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from singer_sdk.contrib.msgspec import MsgSpecWriter, serialize_jsonl
from singer_sdk.singerlib.encoding.base import SingerMessageType
from typing_extensions import override

from tap_spapi.runtime.progress import StreamTally

if TYPE_CHECKING:
    from collections.abc import Mapping

    from singer_sdk.singerlib.encoding.simple import Message

# A record waits at most this long while the tap is otherwise idle (e.g. waiting for a
# usage-plan token), so targets still see a steady flow.
MAX_RECORD_DELAY = 0.5
# Records are written out in chunks of about this many bytes.
CHUNK_BYTES = 256 * 1024
# At most one STATE message per this many seconds (the newest waits for its turn).
STATE_INTERVAL = 1.0
# ... and at most this many bytes of STATE a second: a large state (tens of thousands of
# identifiers noted and not yet tracked) goes out less often. Once a second, 2 MB of
# state made 212 MB of STATE in a run over 64,000 identifiers, which the target parses.
STATE_BYTES_PER_SECOND = 256 * 1024


class BatchFlushingWriter(MsgSpecWriter):
    """singer-sdk's msgspec writer, writing records in chunks and STATE at a steady pace.

    singer-sdk writes and flushes every message: a system call per record, and each
    one lets the reader threads take the GIL, so the main thread queued for it again
    (a third of its time in the throughput benchmark). Records wait here until the next
    non-record message (SCHEMA, STATE, ...), `CHUNK_BYTES`, or `MAX_RECORD_DELAY`.

    singer-sdk also writes the whole state, and the child stream's SCHEMA again, for
    every child context (one per order, shipment and package), and targets commit a
    batch on each: target-duckdb loaded child streams one row at a time. A SCHEMA is
    sent once per stream (again only if it changes). So at most one STATE goes out per
    `STATE_INTERVAL` (longer for a large state: `STATE_BYTES_PER_SECOND`); a newer one
    waits (the newest replaces the older) and goes out with the next write after the
    interval, or at the end of the run (`finish`). Every STATE
    still follows all the records it covers; a killed run resumes from an older STATE
    and emits again what came after it, never less.

    The state waits by reference (`hold_state`, from state.PacedStateWriter) and is
    encoded when its STATE is written: a bookmark costs the same whatever the state's
    size. That is safe because singer-sdk and the streams move a bookmark only after the
    records it covers were handed to this writer, and everything is on the main thread.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._pending = bytearray()
        self._last_state = b""
        self._held_state: Mapping[str, Any] | None = None
        self._schemas: dict[str, bytes] = {}
        self._last_flush = time.monotonic()
        #: Per stream written: its records and the times of its first and last message.
        self.streams: dict[str, StreamTally] = {}
        self._last_state_at = self._last_flush - STATE_INTERVAL  # the first STATE is due

    def hold_state(self, state: Mapping[str, Any]) -> None:
        """The newest state: written (encoded then) with the next write after the interval."""
        self._held_state = state
        self.flush()

    @override
    def write_message(self, message: Message) -> None:
        """Queue `message`; write the queue out unless it is a record or STATE that can wait."""
        if message.type == SingerMessageType.STATE:
            self.hold_state(getattr(message, "value", {}))
            return
        line = self.format_message(message)
        now = time.monotonic()
        stream = getattr(message, "stream", "")
        if message.type == SingerMessageType.RECORD:
            tally = self.streams.get(stream)
            if tally is None:
                tally = self.streams[stream] = StreamTally(0, now, now)
            tally.records += 1
            tally.last = now
        elif message.type == SingerMessageType.SCHEMA and stream not in self.streams:
            self.streams[stream] = StreamTally(0, now, now)
        if message.type == SingerMessageType.SCHEMA:
            # singer-sdk sends a child stream's SCHEMA again before every parent record's
            # children, and targets flush their batches on each: send each schema once.
            stream = getattr(message, "stream", "")
            if self._schemas.get(stream) == line:
                return
            self._schemas[stream] = bytes(line)
        self._pending += line
        # Any non-record message (and a held state, `hold_state`) writes the records out,
        # so a run's last records never wait for a STATE that is held back.
        if (
            message.type != SingerMessageType.RECORD
            or len(self._pending) >= CHUNK_BYTES
            or now - self._last_flush > MAX_RECORD_DELAY
            or self._state_due()
        ):
            self.flush()

    def _state_due(self) -> bool:
        interval = max(STATE_INTERVAL, len(self._last_state) / STATE_BYTES_PER_SECOND)
        return self._held_state is not None and time.monotonic() - self._last_state_at >= interval

    def flush(self, *, final: bool = False) -> None:
        """Write out the queued records, then the held STATE if it is due (or `final`)."""
        if self._held_state is not None and (final or self._state_due()):
            line = bytes(serialize_jsonl({"type": "STATE", "value": self._held_state}))
            if line != self._last_state:  # an unchanged state says nothing new
                self._pending += line
                self._last_state = line
            self._held_state = None
            self._last_state_at = time.monotonic()
        if self._pending:
            sys.stdout.buffer.write(self._pending)
            self._pending.clear()
        sys.stdout.flush()
        self._last_flush = time.monotonic()

    def finish(self) -> None:
        """Write out everything, the newest STATE last (the end of a run)."""
        self.flush(final=True)
