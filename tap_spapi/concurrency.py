"""The one place that owns threads: a bounded pool that fetches per-id requests ahead.

singer-sdk syncs child streams and partitions one at a time, so one slow request
blocks the whole run and a usage plan of 2 requests/s with 200 ms latency would reach
only ~1.7 requests/s. Streams instead *announce* the per-id requests they will need
next (the children of the records they are about to emit, the partitions after the
current one); workers run those requests (paced by the account's shared limiter) while
the main thread keeps emitting; and when the SDK later asks a stream for a context's
records, the stream takes the prefetched result. Records are still emitted by the main
thread, in the same order as a sequential run, so Singer output and state are the same.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

Fetch = Callable[[], list[dict[str, Any]]]


def context_key(stream_name: str, context: Mapping[str, Any] | None) -> Hashable:
    """A hashable key for one stream context."""
    return stream_name, json.dumps(context or {}, sort_keys=True, default=str)


class Prefetcher:
    """Runs announced fetches on at most `workers` threads; results are taken once."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="spapi")
        self._lock = threading.Lock()
        self._pending: dict[Hashable, Future[list[dict[str, Any]]]] = {}

    def submit(self, key: Hashable, fetch: Fetch) -> None:
        """Start `fetch` in the pool unless `key` is already pending."""
        with self._lock:
            if key not in self._pending:
                self._pending[key] = self._pool.submit(fetch)

    def is_pending(self, key: Hashable) -> bool:
        """Whether a fetch for `key` was announced and not taken yet."""
        with self._lock:
            return key in self._pending

    def take(self, key: Hashable, fetch: Fetch) -> list[dict[str, Any]]:
        """The prefetched result for `key` (waiting for it), or `fetch()` run here."""
        with self._lock:
            future = self._pending.pop(key, None)
        if future is None:
            return fetch()
        return future.result()

    def close(self) -> None:
        """Drop what was not taken (a failed run) and stop the workers."""
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        for future in pending:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
