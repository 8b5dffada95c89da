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

import contextlib
import heapq
import itertools
import json
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

Fetch = Callable[[], list[dict[str, Any]]]


def context_key(stream_name: str, context: Mapping[str, Any] | None) -> Hashable:
    """A hashable key for one stream context."""
    return stream_name, json.dumps(context or {}, sort_keys=True, default=str)


class Lane(Protocol):
    """Where a fetch's first request will wait: its operation's usage plan at its
    account (pacing.OperationLane). Hashable: fetches of one lane queue together."""

    def ready_in(self) -> float:
        """Seconds until a request of this lane sent now would get its token."""
        ...


_Entry = tuple[int, int, "Future[list[dict[str, Any]]]", Fetch]


class Prefetcher:
    """Runs announced fetches on at most `workers` threads; results are taken once.

    Waiting workers are the norm here: a fetch holds its worker while it waits for a
    usage-plan token. A pool that hands out fetches in the order they came (or by
    depth) lets every worker fall asleep on the one operation with the longest queue
    while another operation's tokens go unspent: getInboundPlan was paced at
    getShipment's speed (1.80 of its minimum) because the workers all waited for
    getShipment tokens. So fetches queue per *lane* (their operation at their account,
    see `Lane`), and each worker, when it starts, runs the fetch of the lane whose
    token comes soonest; among lanes with a token to spare, the lowest `priority`
    (streams pass their depth, negated: grandchildren first), then the earliest
    announced. A fetch without a lane counts as ready.

    With `workers=0` nothing runs ahead: every fetch runs when it is taken, in the
    caller's thread (the sequential mode, `max_concurrency: 1`).
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(0, workers)
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, self.workers), thread_name_prefix="spapi"
        )
        self._lock = threading.Lock()
        self._pending: dict[Hashable, Future[list[dict[str, Any]]]] = {}
        self._lanes: dict[Lane | None, list[_Entry]] = {}
        self._announced = itertools.count()

    def submit(
        self, key: Hashable, fetch: Fetch, priority: int = 0, lane: Lane | None = None
    ) -> None:
        """Queue `fetch` for the pool (in `lane`) unless `key` is already pending."""
        if not self.workers:
            return
        with self._lock:
            if key in self._pending:
                return
            future: Future[list[dict[str, Any]]] = Future()
            self._pending[key] = future
            entry = (priority, next(self._announced), future, fetch)
            heapq.heappush(self._lanes.setdefault(lane, []), entry)
        # One run per queued fetch; each run takes whichever fetch is best by then.
        self._pool.submit(self._run_best)

    def take(self, key: Hashable, fetch: Fetch) -> list[dict[str, Any]]:
        """The prefetched result for `key` (waiting for it), or `fetch()` run here.

        A fetch that no worker has started yet runs here instead: the caller would
        only wait for it, and a worker is freed for the fetches after it.
        """
        with self._lock:
            future = self._pending.pop(key, None)
        if future is None or future.cancel():
            return fetch()
        return future.result()

    def close(self) -> None:
        """Drop what was not taken (a failed run) and stop the workers."""
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
            self._lanes.clear()
        for future in pending:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run_best(self) -> None:
        while True:
            with self._lock:
                entry = self._pop_best()
                if entry is None:
                    return  # taken by the caller or dropped by close: nothing to run
                _, _, future, fetch = entry
            if future.set_running_or_notify_cancel():
                break
        try:
            future.set_result(fetch())
        except BaseException as exc:  # handed to whoever takes the result
            future.set_exception(exc)

    def _pop_best(self) -> _Entry | None:
        """The head of the lane whose token comes first (then by priority, order)."""
        best: tuple[tuple[float, int, int], Lane | None] | None = None
        for lane, queue in self._lanes.items():
            if not queue:
                continue
            priority, order, _, _ = queue[0]
            rank = (lane.ready_in() if lane is not None else 0.0, priority, order)
            if best is None or rank < best[0]:
                best = (rank, lane)
        if best is None:
            return None
        queue = self._lanes[best[1]]
        entry = heapq.heappop(queue)
        if not queue:
            del self._lanes[best[1]]
        return entry


Produce = Callable[[], Iterable[dict[str, Any]]]


@dataclass(eq=False)
class _Reading:
    """One context being read ahead: its records so far, and how it ended."""

    records: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    dropped: bool = False
    error: BaseException | None = None
    future: Future[None] | None = None


class ReadAhead:
    """Reads top-level stream contexts ahead of the SDK, within a budget of records.

    singer-sdk syncs streams one after another, so an inbound stream that is bound by
    page latency would only start once the outbound chain, bound by its usage plan, is
    done. Streams announce their contexts at the start of the run, in the order the SDK
    will sync them; `threads` readers fetch them in that order while the main thread
    emits earlier streams, and the SDK later takes each context's records from here.

    Memory stays flat: readers stop once `budget` records wait unconsumed, except the
    reader of the *head* (the earliest context not yet taken), which the main thread is
    draining or about to drain: it stops only at `budget` records of its own, so a
    budget filled by later contexts cannot deadlock the run. Taking a context drops
    every context announced before it (a stream that was skipped), so nothing can hold
    the budget forever.
    """

    def __init__(self, threads: int, budget: int = 5_000) -> None:
        self._threads = max(0, threads)  # 0: nothing is read ahead (sequential mode)
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, self._threads), thread_name_prefix="ahead"
        )
        self._budget = budget
        self._changed = threading.Condition()
        self._order: list[Hashable] = []
        self._readings: dict[Hashable, _Reading] = {}
        self._buffered = 0
        self._closed = False

    def announce(self, key: Hashable, produce: Produce) -> None:
        """Start reading `key` (after every context announced before it)."""
        with self._changed:
            if not self._threads or self._closed or key in self._readings:
                return
            reading = self._readings[key] = _Reading()
            self._order.append(key)
            reading.future = self._pool.submit(self._read, key, reading, produce)

    def take(self, key: Hashable, produce: Produce) -> Iterator[dict[str, Any]]:
        """`key`'s records as they arrive, or `produce()` run here if never announced."""
        reading = self._claim(key)
        if reading is None:
            yield from produce()
            return
        while True:
            with self._changed:
                while not reading.records and not reading.done:
                    self._changed.wait()
                batch, reading.records = reading.records, []
                self._buffered -= len(batch)
                self._changed.notify_all()
                finished = reading.done and not batch
            if finished:
                self._forget(key)
                if reading.error is not None:
                    raise reading.error
                return
            yield from batch

    def close(self) -> None:
        """Stop every reader (a failed run) and wait for the threads to end."""
        with self._changed:
            self._closed = True
            for reading in self._readings.values():
                reading.dropped = True
            self._changed.notify_all()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _claim(self, key: Hashable) -> _Reading | None:
        with self._changed:
            reading = self._readings.get(key)
            if reading is None:
                return None
            position = self._order.index(key)
            for earlier in self._order[:position]:
                self._drop(earlier)
            del self._order[:position]
            self._changed.notify_all()
            if reading.future is not None and reading.future.cancel():
                # Not started yet: reading it here is as fast and frees a reader.
                self._forget(key)
                return None
            return reading

    def _read(self, key: Hashable, reading: _Reading, produce: Produce) -> None:
        try:
            for record in produce():
                with self._changed:
                    while self._must_wait(key, reading):
                        self._changed.wait()
                    if reading.dropped:
                        return
                    reading.records.append(record)
                    self._buffered += 1
                    self._changed.notify_all()
        except BaseException as exc:
            reading.error = exc
        finally:
            with self._changed:
                reading.done = True
                self._changed.notify_all()

    def _must_wait(self, key: Hashable, reading: _Reading) -> bool:
        if reading.dropped:
            return False
        if bool(self._order) and self._order[0] == key:
            # The head counts only its own records: the main thread drains it (or
            # will next), so it can always make progress, and memory stays bounded.
            return len(reading.records) >= self._budget
        return self._buffered >= self._budget

    def _drop(self, key: Hashable) -> None:
        reading = self._readings.pop(key, None)
        if reading is None:
            return
        reading.dropped = True
        self._buffered -= len(reading.records)
        reading.records = []
        if reading.future is not None:
            reading.future.cancel()

    def _forget(self, key: Hashable) -> None:
        with self._changed:
            self._readings.pop(key, None)
            if key in self._order:
                self._order.remove(key)
            self._changed.notify_all()


def for_each_in_parallel(
    action: Callable[[Any], None], items: Iterable[Any], *, workers: int, name: str
) -> None:
    """`action(item)` for every item, `workers` at a time, returning once all are done."""
    with ThreadPoolExecutor(workers, thread_name_prefix=name) as pool:
        list(pool.map(action, items))


@contextlib.contextmanager
def every(seconds: float, action: Callable[[], None], *, threaded: bool) -> Iterator[None]:
    """Run `action` every `seconds` while the block runs (in a daemon thread; nothing
    when not `threaded`, i.e. in sequential mode, which starts no thread)."""
    if not threaded:
        yield
        return
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(seconds):
            action()

    thread = threading.Thread(target=loop, name="progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
