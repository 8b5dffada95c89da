"""The one retry policy: which failures are retried, how long each retry waits, and when
a request gives up.

The request loop is singer-sdk's (`backoff.on_exception` around `_request`); this module
only decides, per failed attempt, how long to wait (`RetryBudget.wait_for`, handed to
the SDK's `backoff_runtime` hook) and whether to stop (`RetryBudget.gives_up`, backoff's
`giveup` predicate). Both are asked once per failed attempt, in that order.

- A throttle (429) is bounded by time (`max_retry_seconds`), not by a count: another
  application may be spending the same account's quota for minutes, and giving up
  after a few quick tries throws the run away. Each consecutive 429 of one request
  waits longer: at least one refill of the usage plan, doubling, with jitter.
- A 403 Unauthorized that is not an expired token is retried a few times before it
  means anything (Amazon answers it transiently too); what it then means is the
  stream's decision (a missing role, or one refused id).
- Other faults (5xx, dropped connections, bodies that are not JSON) back off
  exponentially and give up after `max_retries`.
- Before an account's endpoint has ever answered with JSON, a connection that is
  refused or a page that is not JSON is not a blip but a wrong `api_url`: it gives up
  after `UNPROVEN_RETRIES` short waits instead of minutes of backoff.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from singer_sdk.exceptions import RetriableAPIError

if TYPE_CHECKING:
    from collections.abc import Callable

# Faults that are not throttles: exponential from 1 s, capped at 60 s, with jitter so
# parallel workers do not retry in lockstep.
FAULT_WAIT_BASE = 1.0
FAULT_WAIT_CAP = 60.0
# A throttled request waits at most this many refills of its plan at once (and at most
# FAULT_WAIT_CAP, unless one refill is longer). A low cap, because in a storm streaks
# are geometric: with waits doubling without it, a streak of a dozen 429s (one request
# in four thousand at 50%) would spend a minute, and some request of a long run would
# give up; capped, the growth still makes room and max_retry_seconds is never reached.
THROTTLE_WAIT_REFILLS_CAP = 4
# Retries of a 403 Unauthorized before the stream decides what it means.
DENIED_RETRIES = 3
# Retries of a connection or non-JSON fault while the endpoint never answered JSON.
UNPROVEN_RETRIES = 2
UNPROVEN_WAIT = 0.5


class ThrottledError(RetriableAPIError):
    """429: Amazon's bucket for the operation is empty (ours is drained to match)."""


class ExpiredTokenError(RetriableAPIError):
    """401/403 for an expired token: the cache dropped it, the retry gets a fresh one."""


class DeniedError(RetriableAPIError):
    """403 Unauthorized/AccessDenied (not an expired token): retried a few times first."""


class NotJSONError(RetriableAPIError):
    """A 2xx whose body is not JSON (a proxy page, a cut-off body)."""


def jittered(ceiling: float) -> float:
    """A wait between half of `ceiling` and `ceiling` (backoff's "equal jitter")."""
    return random.uniform(ceiling / 2, ceiling)


@dataclass
class RetryBudget:
    """What one request has spent on retries, and what it may still spend.

    One budget per decorated request function; it is reset when backoff starts the
    wait generator, which it does once per request (a request function is only ever
    called from one thread at a time: one per stream context, or one per `call`).
    """

    max_faults: int
    #: Seconds one token of the operation's plan takes to refill, for the failed request.
    refill_seconds: Callable[[BaseException], float]
    #: Whether the endpoint the failed request went to has ever answered with JSON.
    endpoint_answered: Callable[[BaseException], bool]
    faults: int = 0
    denials: int = 0
    throttles: int = 0
    unproven: int = 0
    proving: bool = False
    gave_up_because: str = field(default="")

    def reset(self) -> None:
        """A new request: nothing spent yet."""
        self.faults = self.denials = self.throttles = self.unproven = 0
        self.proving = False
        self.gave_up_because = ""

    def gives_up(self, exception: BaseException) -> bool:
        """Count `exception` against its budget; whether the request stops here."""
        if isinstance(exception, ThrottledError):
            self.throttles += 1
            return False  # bounded by max_retry_seconds only
        self.throttles = 0  # "consecutive" 429s: another fault breaks the streak
        if isinstance(exception, DeniedError):
            self.denials += 1
            return self._stop_if(self.denials > DENIED_RETRIES, "still refused")
        self.proving = not self.endpoint_answered(exception) and (
            isinstance(exception, NotJSONError) or not isinstance(exception, RetriableAPIError)
        )
        if self.proving:  # refused, dropped or not JSON, and never answered: a wrong URL?
            self.unproven += 1
            return self._stop_if(self.unproven > UNPROVEN_RETRIES, "never answered")
        self.faults += 1
        return self._stop_if(self.faults > self.max_faults, "max_retries")

    def wait_for(self, exception: BaseException) -> float:
        """Seconds to wait before the next attempt after `exception`."""
        if isinstance(exception, ThrottledError):
            refill = self.refill_seconds(exception)
            ceiling = refill * 2.0**self.throttles
            cap = min(FAULT_WAIT_CAP, THROTTLE_WAIT_REFILLS_CAP * refill)
            return max(refill, min(cap, jittered(ceiling)))
        if isinstance(exception, ExpiredTokenError):
            return 0.0  # the retry fetches a new token
        if self.proving:
            return UNPROVEN_WAIT
        attempts = self.denials if isinstance(exception, DeniedError) else self.faults
        return jittered(min(FAULT_WAIT_CAP, FAULT_WAIT_BASE * 2.0 ** max(attempts - 1, 0)))

    def _stop_if(self, stop: bool, why: str) -> bool:
        if stop:
            self.gave_up_because = why
        return stop
