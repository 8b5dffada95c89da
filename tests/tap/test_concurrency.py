"""The worker pools: concurrent runs equal sequential ones, memory stays bounded."""

from __future__ import annotations

import datetime
import threading

import pytest
from typing_extensions import override

from spapi_standin import StandIn
from tap_spapi.runtime.pools import Prefetcher, ReadAhead
from testkit import every_stream, run_tap, tap_config

PACED = {
    "inbound_shipments",
    "inbound_shipment_items",
    "outbound_orders",
    "outbound_shipments",
    "outbound_package_tracking",
    "shipping_tracking",
}


# Requests that can be on their way at once: a token taken, the request not yet at the
# stand-in (8 workers, as many readers ahead, page walkers, the main thread), and more.
IN_FLIGHT = 32


def with_headroom(server: StandIn) -> None:
    """Every usage plan of `server` with IN_FLIGHT more tokens of burst, at the same rate.

    The tap's limiter takes a token, then sends; on a busy machine requests that left one
    refill apart may reach the stand-in together, which a bucket of the tap's burst would
    answer 429. Any burst of arrivals is at most what the tap's own bucket allowed plus
    what was on its way, so with this headroom a tap that keeps to its plans never meets a
    429, however late the machine delivers its requests; the rates are unchanged, so a tap
    running faster than a plan drains the headroom within the run and does.
    """
    scale = server.config.rate_scale
    for operation in server.app.operations.routes:
        rate, burst = server.app.limiter.plan(operation)
        server.config.rate_overrides[operation] = (rate / scale, burst + IN_FLIGHT)


def throttled(server: StandIn) -> dict[str, int]:
    """429s the stand-in has answered so far, per operation that got any."""
    return {
        operation: counters["429"]
        for operation, counters in server.stats.snapshot().items()
        if counters.get("429")
    }


def records_in_order(output) -> list[tuple[str, object]]:
    """Every RECORD message's stream and record, in output order.

    Without `report_id`: the second run asks Amazon for new reports (its windows end at
    its own start), so only the ids of the reports differ, not their rows.
    """
    return [
        (m["stream"], {k: v for k, v in m["record"].items() if k != "report_id"})
        for m in output.messages
        if m["type"] == "RECORD"
    ]


def without_run_times(state: object, since: datetime.datetime) -> object:
    """`state` with every timestamp from `since` on masked: they only say "now"."""
    if isinstance(state, dict):
        return {key: without_run_times(value, since) for key, value in state.items()}
    if isinstance(state, list):
        return [without_run_times(value, since) for value in state]
    if isinstance(state, int) and since.timestamp() <= abs(state) < since.timestamp() + 86_400:
        return "<now>"  # an epoch second of the run (when seen final, or noted)
    if isinstance(state, str):
        try:
            moment = datetime.datetime.fromisoformat(state)
        except ValueError:
            return state
        if moment.tzinfo is not None and moment >= since:
            return "<now>"
    return state


def test_a_concurrent_run_gets_no_429_and_emits_exactly_what_a_sequential_run_does():
    # Amazon's plans x40 with 10 ms latency: concurrency matters, and the limiter
    # alone must keep every operation under its plan.
    # The tiny data set (711 records in every stream): the limiter's work is per plan, not
    # per record, and a small one's 5,000 records made this run minutes long.
    config = every_stream(latency_ms=10, rate_scale=40.0)
    # searchOrders echoes a `lastUpdatedBefore` of two minutes before each request (the
    # model: at least 2 minutes before now), which the orders bookmark keeps: a run time too.
    started = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=2, seconds=1)
    with StandIn(config) as server:
        with_headroom(server)
        tracking = server.dataset.tracking_labels()
        sequential = run_tap(tap_config(server, max_concurrency=1, tracking_ids=tracking))
        sequential_429s = throttled(server)
        # A fresh start at Amazon too: the first run spent createReport's burst of 15,
        # which a second run a second later cannot know about.
        server.reset_rate_limits()
        concurrent = run_tap(tap_config(server, max_concurrency=8, tracking_ids=tracking))
        all_429s = throttled(server)
        concurrent_429s = {op: n - sequential_429s.get(op, 0) for op, n in all_429s.items()}

    assert sum(1 for m in concurrent.messages if m["type"] == "RECORD") > 100
    assert {m["stream"] for m in concurrent.messages if m["type"] == "RECORD"} >= PACED
    assert records_in_order(concurrent) == records_in_order(sequential)
    # The same final bookmarks, except those that are "now" (signposts, window ends).
    final = [without_run_times(run.states[-1], started) for run in (sequential, concurrent)]
    assert final[0] == final[1]
    assert sequential_429s == {}
    assert {op: n for op, n in concurrent_429s.items() if n} == {}


def test_sequential_mode_starts_no_thread():
    before = threading.active_count()
    prefetcher, reader = Prefetcher(0), ReadAhead(0)
    prefetcher.submit("a", lambda: [{"id": 1}])
    reader.announce("b", lambda: [{"id": 2}])
    assert threading.active_count() == before
    assert prefetcher.take("a", lambda: [{"id": 3}]) == [{"id": 3}]
    assert list(reader.take("b", lambda: [{"id": 4}])) == [{"id": 4}]


def test_prefetched_results_are_taken_once_then_fetched_again():
    prefetcher = Prefetcher(2)
    calls: list[str] = []

    def fetch(name: str):
        def run():
            calls.append(name)
            return [{"id": name}]

        return run

    prefetcher.submit("a", fetch("ahead"))
    prefetcher.submit("a", fetch("duplicate"))  # already pending: not run twice
    assert prefetcher.take("a", fetch("inline")) == [{"id": "ahead"}]
    assert prefetcher.take("a", fetch("inline")) == [{"id": "inline"}]
    prefetcher.close()
    assert calls == ["ahead", "inline"]


def endless(name: str, produced: list[int]):
    """A producer of endless records that counts what it produced."""

    def produce():
        number = 0
        while True:
            produced.append(number)
            yield {"stream": name, "n": number}
            number += 1

    return produce


# How long a test waits for something that happens within milliseconds before it fails:
# a bound on a hung test, never a pause that lets things settle.
STUCK = 60.0


class WatchedCondition(threading.Condition):
    """A condition that counts the threads waiting on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = 0
        self._parked = threading.Condition()

    @override
    def wait(self, timeout: float | None = None) -> bool:
        with self._parked:
            self.waiting += 1
            self._parked.notify_all()
        try:
            return super().wait(timeout)
        finally:
            with self._parked:
                self.waiting -= 1

    def until_waiting(self, threads: int) -> None:
        """Return holding nothing once `threads` threads wait on this condition."""
        with self._parked:
            assert self._parked.wait_for(lambda: self.waiting >= threads, STUCK)


def stopped(reader: ReadAhead, threads: int) -> None:
    """Return once `threads` readers of `reader` wait for room in its budget.

    Then nothing moves until someone takes records: every reader is blocked on the one
    condition, and only a taker notifies it. (The reader's condition is swapped for one
    that counts its waiters, before anything is announced.)
    """
    changed = reader._changed
    assert isinstance(changed, WatchedCondition)
    changed.until_waiting(threads)
    with changed:  # the readers counted have released it: they are parked in wait()
        pass


def watched(reader: ReadAhead) -> ReadAhead:
    """`reader`, its condition counting the threads that wait on it."""
    reader._changed = WatchedCondition()
    return reader


def ended(produce_name: str, produced: list[int], done: threading.Event):
    """`endless`, setting `done` once its reader lets it go (the generator is closed)."""
    inner = endless(produce_name, produced)

    def produce():
        try:
            yield from inner()
        finally:
            done.set()

    return produce


@pytest.mark.parametrize("budget", [10, 50])
def test_read_ahead_buffers_at_most_its_budget_even_for_the_head(budget):
    reader = watched(ReadAhead(2, budget=budget))
    head: list[int] = []
    later: list[int] = []
    reader.announce("head", endless("head", head))
    reader.announce("later", endless("later", later))
    # Nobody consumes: the head stops at its own budget, the later one at what is left.
    stopped(reader, threads=2)
    assert budget <= len(head) <= budget + 1
    assert len(later) <= budget + 1
    taken = reader.take("head", endless("inline", []))
    first = [next(taken)["n"] for _ in range(3 * budget)]
    assert first == list(range(3 * budget))  # in order, and the head was not stuck
    reader.close()


def test_taking_a_later_context_drops_the_skipped_ones():
    reader = ReadAhead(2, budget=10)
    skipped: list[int] = []
    let_go = threading.Event()
    reader.announce("skipped", ended("skipped", skipped, let_go))
    reader.announce("wanted", lambda: iter([{"n": 1}, {"n": 2}]))
    assert list(reader.take("wanted", lambda: iter([]))) == [{"n": 1}, {"n": 2}]
    # Its reader let it go: it stopped reading, not just filled the budget.
    assert let_go.wait(STUCK)
    stopped_at = len(skipped)
    assert stopped_at <= 11
    reader.close()


def test_a_free_worker_runs_the_best_fetch_announced_so_far():
    prefetcher = Prefetcher(1)
    gate, busy = threading.Event(), threading.Event()
    ran: list[str] = []

    def fetch(name: str, wait: bool = False):
        def run():
            if wait:
                busy.set()
                gate.wait(5)
            ran.append(name)
            return [{"name": name}]

        return run

    prefetcher.submit("busy", fetch("busy", wait=True))
    assert busy.wait(5)  # the only worker is taken
    prefetcher.submit("child-1", fetch("child-1"), priority=-1)
    prefetcher.submit("child-2", fetch("child-2"), priority=-1)
    prefetcher.submit("grandchild", fetch("grandchild"), priority=-2)
    gate.set()
    for key in ("busy", "grandchild", "child-1", "child-2"):
        assert prefetcher.take(key, fetch("inline")) == [{"name": key}]
    prefetcher.close()
    assert ran == ["busy", "grandchild", "child-1", "child-2"]


class FixedLane:
    """A lane whose next token is `seconds` away (a test's stand-in for a usage plan)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def ready_in(self) -> float:
        return self.seconds


class OneWorker:
    """A pool of one worker, held by a first fetch until `release`; fetches log their name."""

    def __init__(self) -> None:
        self.prefetcher = Prefetcher(1)
        self.ran: list[str] = []
        self._ran = threading.Condition()
        self._gate, busy = threading.Event(), threading.Event()

        def hold() -> list[dict[str, str]]:
            busy.set()
            self._gate.wait(5)
            return self.fetch("busy")()

        self.prefetcher.submit("busy", hold)
        assert busy.wait(5)

    def fetch(self, name: str):
        def run() -> list[dict[str, str]]:
            with self._ran:
                self.ran.append(name)
                self._ran.notify_all()
            return [{"name": name}]

        return run

    def release_and_settle(self, fetches: int) -> list[str]:
        """Let the worker go; what it ran once it ran `fetches` fetches (the first one's
        and those queued: the takes that follow would find any other)."""
        self._gate.set()
        with self._ran:
            assert self._ran.wait_for(lambda: len(self.ran) >= fetches, STUCK)
        return list(self.ran)


def test_a_free_worker_runs_first_the_fetch_whose_operation_has_a_token():
    # getInboundPlan was paced at getShipment's speed when every worker slept on
    # getShipment tokens: a lane with a token now goes before a deeper one that waits.
    pool = OneWorker()
    waiting, ready = FixedLane(2.0), FixedLane(0.0)
    for name, priority, lane in (
        ("shipment-1", -2, waiting),
        ("shipment-2", -2, waiting),
        ("plan-1", -1, ready),
        ("plan-2", -1, ready),
    ):
        pool.prefetcher.submit(name, pool.fetch(name), priority=priority, lane=lane)
    ran = pool.release_and_settle(5)
    assert ran == ["busy", "plan-1", "plan-2", "shipment-1", "shipment-2"]
    for key in ("plan-1", "plan-2", "shipment-1", "shipment-2"):
        assert pool.prefetcher.take(key, pool.fetch("inline")) == [{"name": key}]
    pool.prefetcher.close()


def test_among_lanes_with_a_token_the_deepest_fetch_goes_first():
    pool = OneWorker()
    pool.prefetcher.submit("order", pool.fetch("order"), priority=-1, lane=FixedLane(0.0))
    pool.prefetcher.submit("package", pool.fetch("package"), priority=-2, lane=FixedLane(0.0))
    assert pool.release_and_settle(3) == ["busy", "package", "order"]
    pool.prefetcher.close()


def test_taking_a_fetch_no_worker_started_runs_it_in_the_caller():
    prefetcher = Prefetcher(1)
    gate, busy = threading.Event(), threading.Event()

    def hold_the_only_worker() -> list[dict[str, bool]]:
        busy.set()
        return [{"id": gate.wait(5)}]

    prefetcher.submit("busy", hold_the_only_worker)
    assert busy.wait(5)
    prefetcher.submit("queued", lambda: [{"by": threading.current_thread().name}])
    records = prefetcher.take("queued", lambda: [{"by": threading.current_thread().name}])
    gate.set()
    assert records == [{"by": threading.current_thread().name}]
    assert prefetcher.take("busy", lambda: []) == [{"id": True}]
    prefetcher.close()
