"""The one retry policy: which failures are retried, how long each retry waits, and when
a request gives up, for every loop of the tap that retries.

`RetryPolicy` is the policy; the waits each caller needs are its parameters, and
backoff runs every loop: singer-sdk's request decorator (`RequestRetries`, below),
the LWA token and Restricted Data Token requests (`RetryPolicy.call`), and report
document downloads (`RetryPolicy.attempts`, a loop around a generator that has already
yielded rows, which a decorator cannot retry). Per failed attempt the policy decides
how long to wait (`RetryBudget.wait_for`) and whether to stop (`RetryBudget.gives_up`,
backoff's `giveup` predicate); backoff asks the second first.

- A throttle (429) is bounded by time (`max_seconds`, setting `max_retry_seconds`),
  not by a count: another application may be spending the same account's quota for
  minutes, and giving up after a few quick tries throws the run away. Each
  consecutive 429 of one request waits longer: at least one refill of the usage plan,
  doubling, with jitter.
- A 403 Unauthorized that is not an expired token is retried `denied_retries` times
  before it means anything (Amazon answers it transiently too); what it then means is
  the stream's decision (a missing role, or one refused id).
- Other faults (5xx, dropped connections, bodies that are not JSON) back off
  exponentially from `first_wait` to `max_wait` and give up after `max_faults`.
- Before an account's endpoint has ever answered with JSON, a connection that is
  refused or a page that is not JSON is not a blip but a wrong `api_url`: it gives up
  after `unproven_retries` short waits instead of minutes of backoff.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

import backoff
import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_spapi.errors import EndpointUnreachableError, TapSpapiError
from tap_spapi.wire.headers import account_of
from tap_spapi.wire.redact import redact

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator, Mapping

    from backoff.types import Details

    from tap_spapi.wire.pacing import RateLimiter

T = TypeVar("T")


class _Endpoint(Protocol):
    @property
    def answered(self) -> bool: ...


class _EndpointSettings(Protocol):
    @property
    def api_url(self) -> str | None: ...

    @property
    def region(self) -> str: ...


class AccountView(Protocol):
    """What the retry policy reads of an account: its plan, its address and whether its
    endpoint ever answered. wire/account.py's `Account` is one; a protocol, so that the
    account (which owns a policy) and the policy do not import each other."""

    @property
    def limiter(self) -> RateLimiter: ...

    @property
    def base_url(self) -> str: ...

    @property
    def settings(self) -> _EndpointSettings: ...

    @property
    def adapter(self) -> _Endpoint: ...


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


class TransientFault(Exception):  # noqa: N818 - a retried attempt, not an error users see
    """An attempt worth another (outside the SDK's loop: LWA, RDT); says what failed."""


class RetriesExhaustedError(TapSpapiError):
    """A request kept failing with retriable faults until `max_retries`/`max_retry_seconds`."""


#: What a request through singer-sdk's loop is retried on: the set singer-sdk's own
#: `RESTStream.request_decorator` retries, which the SDK spells inline there and offers
#: no public name for. Pinned here, in the SDK's order; tests/unit/test_retries.py reads
#: the SDK's decorator and fails when an upgrade changes its set.
SDK_RETRIABLE: tuple[type[Exception], ...] = (
    ConnectionResetError,
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
#: What a request that stops retrying is explained as (see `RequestRetries.decorate`).
_EXPLAINED: tuple[type[Exception], ...] = (*SDK_RETRIABLE, requests.RequestException)


def jittered(ceiling: float) -> float:
    """A wait between half of `ceiling` and `ceiling` (backoff's "equal jitter")."""
    return random.uniform(ceiling / 2, ceiling)


def _always_answered(_exception: BaseException) -> bool:
    return True


def _one_second(_exception: BaseException) -> float:
    return 1.0


@dataclass(frozen=True)
class RetryPolicy:
    """How long a kind of request may retry and how long each retry waits."""

    #: Retries of faults (not 429s, not 403 Unauthorized): setting `max_retries`.
    max_faults: int
    #: Fault waits: `first_wait`, doubling, at most `max_wait`.
    first_wait: float = FAULT_WAIT_BASE
    max_wait: float = FAULT_WAIT_CAP
    #: Equal jitter on fault waits, so parallel workers do not retry in lockstep.
    jitter: bool = True
    #: The whole request's bound, the only one for 429s: setting `max_retry_seconds`.
    max_seconds: float | None = None
    denied_retries: int = DENIED_RETRIES
    unproven_retries: int = UNPROVEN_RETRIES
    unproven_wait: float = UNPROVEN_WAIT
    throttle_refills_cap: int = THROTTLE_WAIT_REFILLS_CAP

    def with_waits(self, **changes: Any) -> RetryPolicy:
        """This policy with other parameters (e.g. fixed waits for one reader)."""
        return dataclasses.replace(self, **changes)

    def fault_wait(self, retry: int) -> float:
        """Seconds before the `retry`-th retry (from 1) of a fault."""
        ceiling = min(self.max_wait, self.first_wait * 2.0 ** max(retry - 1, 0))
        return jittered(ceiling) if self.jitter else ceiling

    def throttle_wait(self, refill: float, streak: int) -> float:
        """Seconds after the `streak`-th consecutive 429 of a plan refilling in `refill` s."""
        ceiling = refill * 2.0**streak
        cap = min(FAULT_WAIT_CAP, self.throttle_refills_cap * refill)
        return max(refill, min(cap, jittered(ceiling)))

    def budget(
        self,
        *,
        refill_seconds: Callable[[BaseException], float] = _one_second,
        endpoint_answered: Callable[[BaseException], bool] = _always_answered,
    ) -> RetryBudget:
        """A new budget for one request function."""
        return RetryBudget(self, refill_seconds, endpoint_answered)

    def call(
        self,
        attempt: Callable[[], T],
        *,
        retry_on: tuple[type[Exception], ...] = (TransientFault,),
        explain: Callable[[BaseException], Exception],
    ) -> T:
        """`attempt()` until it returns; the error `explain` makes of the last fault if
        it never does."""
        budget = self.budget()
        return backoff.on_exception(
            functools.partial(waits, budget),
            retry_on,
            max_tries=None,
            max_time=self.max_seconds,
            giveup=budget.gives_up,
            on_giveup=functools.partial(_raise_explained, explain),
            jitter=None,
            logger=None,
        )(attempt)()

    def attempts(
        self,
        retry_on: tuple[type[Exception], ...],
        *,
        on_backoff: Callable[[Mapping[str, Any]], None],
        explain: Callable[[BaseException], Exception],
    ) -> Iterator[backoff.Attempt]:
        """Attempts for `with attempt:` blocks that cannot be one call (a generator)."""
        budget = self.budget()
        return backoff.retry_context(
            retry_on,
            functools.partial(waits, budget),
            max_tries=None,
            max_time=self.max_seconds,
            giveup=budget.gives_up,
            on_backoff=on_backoff,
            on_giveup=functools.partial(_raise_explained, explain),
            jitter=None,
            logger=None,
        )


def _raise_explained(
    explain: Callable[[BaseException], Exception], details: Mapping[str, Any]
) -> None:
    exception = details["exception"]
    raise explain(exception) from exception


def waits(budget: RetryBudget) -> Generator[float, Any, None]:
    """backoff's wait generator: each wait chosen by what went wrong; one per request,
    and the budget starts afresh with it (the shape of singer-sdk's `backoff_runtime`)."""
    budget.reset()
    exception = yield  # type: ignore[misc]
    while True:
        exception = yield budget.wait_for(exception)


@dataclass
class RetryBudget:
    """What one request has spent on retries, and what it may still spend.

    One budget per decorated request function; it is reset when backoff starts the
    wait generator, which it does once per request (a request function is only ever
    called from one thread at a time: one per stream context, or one per `call`).
    """

    policy: RetryPolicy
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
            return self._stop_if(self.denials > self.policy.denied_retries, "still refused")
        self.proving = not self.endpoint_answered(exception) and (
            isinstance(exception, NotJSONError) or not isinstance(exception, RetriableAPIError)
        )
        if self.proving:  # refused, dropped or not JSON, and never answered: a wrong URL?
            self.unproven += 1
            return self._stop_if(self.unproven > self.policy.unproven_retries, "never answered")
        self.faults += 1
        return self._stop_if(self.faults > self.policy.max_faults, "max_retries")

    def wait_for(self, exception: BaseException) -> float:
        """Seconds to wait before the next attempt after `exception`."""
        if isinstance(exception, ThrottledError):
            return self.policy.throttle_wait(self.refill_seconds(exception), self.throttles)
        if isinstance(exception, ExpiredTokenError):
            return 0.0  # the retry fetches a new token
        if self.proving:
            return self.policy.unproven_wait
        attempts = self.denials if isinstance(exception, DeniedError) else self.faults
        return self.policy.fault_wait(attempts)

    def _stop_if(self, stop: bool, why: str) -> bool:
        if stop:
            self.gave_up_because = why
        return stop


def account_name_of(exception: BaseException) -> str | None:
    """The account a failed SP-API request went to (its `ACCOUNT_HEADER`);
    None for requests that are not SP-API calls (document downloads)."""
    request = getattr(exception, "request", None)
    response = getattr(exception, "response", None)
    return account_of(request) or account_of(getattr(response, "request", None))


class RequestRetries:
    """The policy as singer-sdk's request loop applies it to one stream's SP-API calls.

    The stream says which account and operation a request belongs to, and which error a
    request still refused becomes; everything else about retrying is decided here.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        stream: str,
        account_named: Callable[[str | None], AccountView],
        operation_called: Callable[[requests.PreparedRequest | None], str],
        refused: Callable[[str, requests.Response], TapSpapiError],
        logger: logging.Logger,
    ) -> None:
        self.policy = policy
        self._stream = stream
        self._account_named = account_named
        self._operation_called = operation_called
        self._refused = refused
        self._logger = logger

    def budget(self) -> RetryBudget:
        """A new budget for one request function."""
        return self.policy.budget(
            refill_seconds=self._refill_seconds, endpoint_answered=self._endpoint_answered
        )

    def decorate(
        self,
        func: Callable[..., T],
        *,
        wait_gen: Callable[[RetryBudget], Generator[float, Any, None]],
        on_backoff: Callable[[Details], None],
    ) -> Callable[..., T]:
        """`func` retried by backoff (429s bounded by `max_seconds` alone, other faults
        also by count), and raising, when it gives up, one line saying why."""
        budget = self.budget()
        tried: dict[str, float] = {}
        retrying = backoff.on_exception(
            functools.partial(wait_gen, budget),
            SDK_RETRIABLE,
            max_tries=None,
            max_time=self.policy.max_seconds,
            giveup=budget.gives_up,
            on_backoff=on_backoff,
            on_giveup=lambda details: tried.update(
                tries=details.get("tries") or 0, elapsed=details.get("elapsed") or 0.0
            ),
            jitter=None,
            logger=None,
        )(func)

        @functools.wraps(func)
        def request_or_explain(*args: Any, **kwargs: Any) -> T:
            try:
                return retrying(*args, **kwargs)
            # Not only what was retried: a request error the SDK does not retry (an
            # invalid URL) gets the same one line instead of a traceback.
            except _EXPLAINED as exc:
                spent = f"{tried.get('tries', 1):.0f} attempts in {tried.get('elapsed', 0):.0f} s"
                raise self._gave_up(exc, budget, spent) from exc

        return request_or_explain

    def log_retry(self, details: Details) -> None:
        """Log each retry once, at WARNING (a 429 at INFO): a retry is expected, not an
        error. The wait includes the one the usage plan's pacing adds to backoff's."""
        exception = details.get("exception")
        wait = float(details.get("wait") or 0.0)
        response = getattr(exception, "response", None)
        request = getattr(response, "request", None)
        if response is not None and account_of(request):
            limiter = self._account_named(account_of(request)).limiter
            wait = max(wait, limiter.seconds_for(self._operation_called(request), 1))
        level = logging.INFO if isinstance(exception, ThrottledError) else logging.WARNING
        self._logger.log(
            level,
            "Retrying %s in %.1f s after attempt %d: %s",
            self._operation_called(request),
            wait,
            details.get("tries"),
            redact(str(exception) or type(exception).__name__),
        )

    def _gave_up(self, exc: Exception, budget: RetryBudget, spent: str) -> TapSpapiError:
        """The error a request that stopped retrying raises: what it means, in one line."""
        response = getattr(exc, "response", None)
        if isinstance(exc, DeniedError) and response is not None:
            return self._refused(f"{exc} (still refused after {spent})", response)
        if budget.gave_up_because == "never answered":
            return EndpointUnreachableError(self._unreachable_message(exc, spent))
        if isinstance(exc, RetriableAPIError):
            return RetriesExhaustedError(f"{exc} (gave up retrying after {spent})")
        operation = self._operation_called(getattr(exc, "request", None))
        message = f"stream '{self._stream}' ({operation}): {type(exc).__name__}"
        return RetriesExhaustedError(f"{message} (gave up retrying after {spent})")

    def _unreachable_message(self, exc: Exception, spent: str) -> str:
        account = self._account_named(account_name_of(exc))
        where = urlsplit(account.base_url)
        setting = "api_url" if account.settings.api_url else f"region '{account.settings.region}'"
        problem = (
            "answers, but not with JSON"
            if isinstance(exc, NotJSONError)
            else f"does not answer ({type(exc).__name__})"
        )
        return (
            f"the SP-API endpoint {where.scheme}://{where.netloc} {problem} after {spent}; "
            f"check setting {setting}"
        )

    def _refill_seconds(self, exception: BaseException) -> float:
        """Seconds one token of the failed request's plan takes to come back."""
        response = getattr(exception, "response", None)
        assert isinstance(response, requests.Response)  # a 429 always has one
        account = self._account_named(account_of(response.request))
        return 1.0 / account.limiter.plan(self._operation_called(response.request)).rate

    def _endpoint_answered(self, exception: BaseException) -> bool:
        name = account_name_of(exception)
        if name is None:
            return True  # not an SP-API request (a document download): no endpoint to prove
        return self._account_named(name).adapter.answered
