"""Usage-plan pacing: one token bucket per operation of a selling-partner account.

Amazon meters every operation with a token bucket (a rate in requests per second and
a burst). A client that only reacts to 429s wastes a retry and a sleep per throttle;
one that mirrors the bucket never sees the 429. Each `acquire` *reserves* the next
token (the bucket may go negative: the debt is the queue of waiting requests) and
sleeps outside the lock, so N threads are spaced exactly 1/rate apart without polling
and a burst is spent at once.

Hand-written because the libraries on PyPI (`ratelimit`, `pyrate-limiter`,
`limits`) either sleep in fixed slices, raise instead of waiting, or cannot be re-tuned
per key at run time from a response header, which the SP-API needs.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tap_spapi.amazon.operations import OperationCatalog, load_catalog

# Tokens kept back from Amazon's burst. Our bucket and Amazon's are not aligned: a
# request delayed on its way (the network, a busy interpreter) after an idle spell
# reaches a full bucket at Amazon, which wastes the refill ours counted meanwhile, so
# the next requests, on time, find Amazon a token short. Spare tokens at Amazon absorb
# that delay: at least one, and at fast plans enough for HEADROOM_SECONDS of delay,
# where one token is a few milliseconds (80/s: 12.5 ms, CI saw a 429 from it). They
# cost that many tokens of the first burst per run, never the steady rate.
HEADROOM_TOKENS = 1.0
HEADROOM_SECONDS = 0.25
# A burst of 1 leaves no token to keep back, so those plans keep time instead:
# requests are spaced this much more than 1/rate apart (a 429 costs far more).
NO_HEADROOM_SPACING = 0.10
# A plan for operations the catalog does not know (never expected; safe and slow).
FALLBACK_PLAN_RATE = 1.0
FALLBACK_PLAN_BURST = 1
# How long requests of a probe-first operation wait for the first one's answer.
PROBE_WAIT_SECONDS = 30.0
# The burst a fallback plan assumes once Amazon's header gave its rate (the header has
# no burst). Every usage plan in Amazon's models has a burst of at least its rate
# (tests/test_pacing.py checks the catalog), so a plan of 2/s or more holds at least 2
# tokens: one to send at the full rate and one kept back at Amazon for delays, instead
# of NO_HEADROOM_SPACING on every request. A 429 takes it back to a burst of 1.
FALLBACK_ASSUMED_BURST = 2


class LimiterClosedError(RuntimeError):
    """The run is shutting down: waiting requests give up instead of sleeping on."""


@dataclass(frozen=True)
class UsagePlan:
    """An operation's rate (requests per second) and burst (bucket size)."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError(f"rate must be a positive number, not {self.rate!r}")
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, not {self.burst!r}")

    @property
    def headroom(self) -> float:
        """Tokens left at Amazon for delays: one, or HEADROOM_SECONDS' worth if more."""
        return max(HEADROOM_TOKENS, self.rate * HEADROOM_SECONDS)

    @property
    def capacity(self) -> float:
        """The tokens we allow ourselves: the burst less the headroom (at least one)."""
        return max(1.0, self.burst - self.headroom)

    @property
    def paced_rate(self) -> float:
        """The rate we pace to: the plan's, or a little less where no token is spare."""
        if self.burst - HEADROOM_TOKENS >= 1.0:
            return self.rate
        return self.rate / (1.0 + NO_HEADROOM_SPACING)


class _Bucket:
    """Mutable state of one operation's bucket (guarded by the limiter's lock)."""

    def __init__(self, plan: UsagePlan, now: float) -> None:
        self.plan = plan
        self.tokens = plan.capacity
        self.updated = now
        self.acquired = 0
        self.throttled = 0
        self.waited = 0.0

    def refill(self, now: float) -> None:
        """Add the tokens earned since the last update, up to the capacity."""
        earned = (now - self.updated) * self.plan.paced_rate
        self.tokens = min(self.plan.capacity, self.tokens + earned)
        self.updated = now

    def reserve(self) -> float:
        """Take a token (possibly one not earned yet); the seconds until it is."""
        self.tokens -= 1.0
        self.acquired += 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.plan.paced_rate


class RateLimiter:
    """Token buckets for every operation of one account, shared by all its threads."""

    def __init__(
        self,
        plans: Mapping[str, UsagePlan],
        overrides: Mapping[str, UsagePlan] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] | None = None,
        probe_first: frozenset[str] = frozenset(),
    ) -> None:
        self._plans = dict(plans)
        # Operations on a fallback plan (their model prints none): the first request goes
        # alone and the others wait for its answer's rate header. Reserved at the
        # fallback's one a second, a queue of workers would sleep out waits of many
        # seconds computed at that rate after the header had raised it.
        self._probe_first = probe_first
        self._probes: dict[str, threading.Event] = {}
        # Fallback-plan operations Amazon throttled: their burst is 1 from then on.
        self._burst_refuted: set[str] = set()
        self._overrides = dict(overrides or {})
        self._clock = clock
        self._closed = threading.Event()
        # Sleeping on an Event lets close() wake every waiting worker at shutdown.
        self._sleep = sleep or self._closed.wait
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    @classmethod
    def from_catalog(
        cls,
        catalog: OperationCatalog | None = None,
        overrides: Mapping[str, UsagePlan] | None = None,
        **kwargs: Any,
    ) -> RateLimiter:
        """Buckets seeded with the models' default usage plans."""
        catalog = catalog or load_catalog()
        plans = {op.operation_id: UsagePlan(op.rate, op.burst) for op in catalog}
        probe_first = frozenset(op.operation_id for op in catalog if op.fallback_plan)
        return cls(plans, overrides, probe_first=probe_first, **kwargs)

    def plan(self, operation_id: str) -> UsagePlan:
        """The plan in force: an override, else what Amazon's header said, else the model."""
        with self._lock:
            bucket = self._buckets.get(operation_id)
            return bucket.plan if bucket else self._initial_plan(operation_id)

    def acquire(self, operation_id: str) -> float:
        """Wait until a request to `operation_id` may be sent; the seconds waited."""
        if self._closed.is_set():
            raise LimiterClosedError("the run is stopping")
        self._wait_for_probe(operation_id)
        with self._lock:
            bucket = self._bucket(operation_id)
            bucket.refill(self._clock())
            wait = bucket.reserve()
            bucket.waited += wait
        if wait > 0:
            self._sleep(wait)
            if self._closed.is_set():
                raise LimiterClosedError("the run is stopping")
        return wait

    def _wait_for_probe(self, operation_id: str) -> None:
        """The first request of a probe-first operation goes on; later ones wait (at
        most PROBE_WAIT_SECONDS) until its answer was seen."""
        if not self._on_fallback_plan(operation_id):
            return
        with self._lock:
            probe = self._probes.get(operation_id)
            if probe is None:
                self._probes[operation_id] = threading.Event()
                return
        probe.wait(PROBE_WAIT_SECONDS)

    def lane(self, operation_id: str) -> OperationLane:
        """The queue of `operation_id`'s requests, for a pool choosing what to run next."""
        return OperationLane(self, operation_id)

    def seconds_for(self, operation_id: str, requests: int) -> float:
        """How long `requests` more requests to `operation_id` take from now, at the
        plan in force and with the tokens (or the queue) the bucket holds now."""
        with self._lock:
            bucket = self._bucket(operation_id)
            bucket.refill(self._clock())
            short = requests - bucket.tokens
            return max(0.0, short) / bucket.plan.paced_rate

    def observe_throttled(self, operation_id: str) -> None:
        """Amazon answered 429: its bucket is empty, so ours is too (from now on).

        On a fallback plan the burst was assumed, and a 429 refutes it: back to 1.
        """
        with self._lock:
            bucket = self._bucket(operation_id)
            bucket.refill(self._clock())
            bucket.tokens = min(bucket.tokens, 0.0)
            bucket.throttled += 1
            if self._on_fallback_plan(operation_id) and bucket.plan.burst > 1:
                self._burst_refuted.add(operation_id)
                bucket.plan = UsagePlan(bucket.plan.rate, 1)

    def observe_limit_header(self, operation_id: str, header: str | None) -> None:
        """Adopt the rate in `x-amzn-RateLimit-Limit` (the account's actual plan).

        The header carries the rate only, so the burst stays the model's, or on a
        fallback plan becomes FALLBACK_ASSUMED_BURST at rates that imply it. A configured
        override wins over the header: it is the operator's explicit choice.
        """
        probe = self._probes.get(operation_id)
        if probe is not None:
            probe.set()  # answered, with or without a header: the plan is what it is now
        rate = _parse_rate(header)
        if rate is None or operation_id in self._overrides:
            return
        with self._lock:
            bucket = self._bucket(operation_id)
            burst = bucket.plan.burst
            if self._on_fallback_plan(operation_id) and operation_id not in self._burst_refuted:
                burst = max(burst, min(FALLBACK_ASSUMED_BURST, math.ceil(rate)))
            if not math.isclose(bucket.plan.rate, rate, rel_tol=1e-6) or burst != bucket.plan.burst:
                bucket.refill(self._clock())
                bucket.plan = UsagePlan(rate, burst)

    def _on_fallback_plan(self, operation_id: str) -> bool:
        """Whether the operation runs on its fallback plan (no override): its first
        request goes alone and its burst is ours to assume."""
        return operation_id in self._probe_first and operation_id not in self._overrides

    def snapshot(self) -> dict[str, dict[str, float]]:
        """Per operation used so far: plan, requests, throttles and seconds waited."""
        with self._lock:
            return {
                op: {
                    "rate": b.plan.rate,
                    "burst": b.plan.burst,
                    "requests": b.acquired,
                    "throttled": b.throttled,
                    "waited_seconds": round(b.waited, 3),
                }
                for op, b in self._buckets.items()
            }

    def close(self) -> None:
        """Wake and fail every waiting request (the run failed or finished)."""
        self._closed.set()
        for probe in list(self._probes.values()):
            probe.set()

    def _initial_plan(self, operation_id: str) -> UsagePlan:
        if operation_id in self._overrides:
            return self._overrides[operation_id]
        return self._plans.get(operation_id, UsagePlan(FALLBACK_PLAN_RATE, FALLBACK_PLAN_BURST))

    def _bucket(self, operation_id: str) -> _Bucket:
        bucket = self._buckets.get(operation_id)
        if bucket is None:
            bucket = _Bucket(self._initial_plan(operation_id), self._clock())
            self._buckets[operation_id] = bucket
        return bucket


@dataclass(frozen=True)
class OperationLane:
    """One operation's requests at one account: a pool runs first the fetch whose
    lane has a token soonest (concurrency.Prefetcher)."""

    limiter: RateLimiter
    operation_id: str

    def ready_in(self) -> float:
        """Seconds until a request sent now would get its token (0: there is one)."""
        return self.limiter.seconds_for(self.operation_id, 1)


def _parse_rate(header: str | None) -> float | None:
    """The rate in an `x-amzn-RateLimit-Limit` value, or None if absent or garbled."""
    if not header:
        return None
    try:
        rate = float(header.strip())
    except ValueError:
        return None
    return rate if rate > 0 and math.isfinite(rate) else None


def parse_rate_limit_overrides(raw: Mapping[str, Any]) -> dict[str, UsagePlan]:
    """The `rate_limit_overrides` setting: {operation id: {"rate": r, "burst": b}}.

    Raises ValueError naming the operation and field that is wrong.
    """
    if not isinstance(raw, Mapping):
        raise ValueError("must be an object of {operation id: {rate, burst}}")
    plans: dict[str, UsagePlan] = {}
    for operation_id, entry in raw.items():
        if not isinstance(entry, Mapping):
            raise ValueError(f"{operation_id}: must be an object with 'rate' and 'burst'")
        unknown = set(entry) - {"rate", "burst"}
        if unknown:
            raise ValueError(f"{operation_id}: unknown field(s) {', '.join(sorted(unknown))}")
        rate, burst = entry.get("rate"), entry.get("burst", 1)
        # A config file's JSON numbers reach us as Decimal (singer-sdk parses them so).
        if isinstance(rate, bool) or not isinstance(rate, int | float | Decimal) or not rate > 0:
            raise ValueError(f"{operation_id}.rate: must be a number above 0, not {rate!r}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"{operation_id}.burst: must be an integer of 1 or more")
        plans[operation_id] = UsagePlan(float(rate), burst)
    return plans
