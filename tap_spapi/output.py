"""How Singer messages leave the tap: msgspec-encoded, written in batches, not per record."""

from __future__ import annotations

import sys
import time
import weakref
from typing import TYPE_CHECKING

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib.encoding.base import SingerMessageType

if TYPE_CHECKING:
    from singer_sdk.singerlib.encoding.simple import Message

# A record waits at most this long while the tap is otherwise idle (e.g. waiting for a
# usage-plan token), so targets still see a steady flow.
MAX_RECORD_DELAY = 0.5
# Records are written out in chunks of about this many bytes.
CHUNK_BYTES = 256 * 1024


class BatchFlushingWriter(MsgSpecWriter):
    """singer-sdk's msgspec writer, writing records in chunks instead of one by one.

    singer-sdk writes and flushes every message: a system call per record, and each
    one lets the reader threads take the GIL, so the main thread queued for it again
    (a third of its time in the throughput benchmark). Records wait here until the next
    non-record message (SCHEMA, STATE, ...), `CHUNK_BYTES`, or `MAX_RECORD_DELAY`, so
    every STATE still reaches the target after all the records it covers, and a killed
    run loses only records its last STATE does not cover (a resumed run fetches them).
    A successful sync ends with a STATE; after a failure the entry point writes out
    what is left with `flush_all_writers`.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._pending = bytearray()
        self._last_state = b""
        self._last_flush = time.monotonic()
        _WRITERS.add(self)

    def write_message(self, message: Message) -> None:
        """Queue `message`; write the queue out unless it is a record that can wait.

        A STATE equal to the last one written is dropped: singer-sdk writes the whole
        state after every child context (one per order, shipment, package) even when no
        bookmark moved, and targets commit a batch on every STATE (target-duckdb loaded
        one row at a time). The records stay covered by the next STATE that says more.
        """
        line = self.format_message(message)
        if message.type == SingerMessageType.STATE:
            if line == self._last_state:
                return
            self._last_state = bytes(line)
        self._pending += line
        if (
            message.type != SingerMessageType.RECORD
            or len(self._pending) >= CHUNK_BYTES
            or time.monotonic() - self._last_flush > MAX_RECORD_DELAY
        ):
            self.flush()

    def flush(self) -> None:
        """Write out and flush every queued message."""
        if self._pending:
            sys.stdout.buffer.write(self._pending)
            self._pending.clear()
        sys.stdout.flush()
        self._last_flush = time.monotonic()


_WRITERS: weakref.WeakSet[BatchFlushingWriter] = weakref.WeakSet()


def flush_all_writers() -> None:
    """Write out what every live writer still holds (the end of a failed run)."""
    for writer in list(_WRITERS):
        writer.flush()
