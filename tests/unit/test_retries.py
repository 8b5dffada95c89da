"""The one retry policy (retries.py): its waits, its budgets, and the SDK's retriable set."""

from __future__ import annotations

import logging
from typing import Any
from unittest import mock

import pytest
import requests
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.streams import rest as sdk_rest
from singer_sdk.streams.rest import RESTStream

from tap_spapi.wire.account import RDT_RETRIES
from tap_spapi.wire.auth import LWA_RETRIES
from tap_spapi.wire.retries import (
    DENIED_RETRIES,
    SDK_RETRIABLE,
    DeniedError,
    RetryPolicy,
    ThrottledError,
    TransientFault,
)

QUICK = RetryPolicy(max_faults=2, first_wait=0.001, max_wait=0.001, jitter=False)


def sdk_retries(exception: BaseException) -> bool:
    """Whether singer-sdk's own request decorator retries `exception` (run for real)."""
    stream = mock.MagicMock()
    stream.backoff_wait_generator = lambda: iter_waits()
    stream.backoff_max_tries = lambda: 2
    stream.backoff_jitter = None
    stream.logger = logging.getLogger("test")
    calls: list[int] = []

    def request() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise exception
        return "answered"

    decorated = RESTStream.request_decorator(stream, request)  # type: ignore[arg-type]
    try:
        decorated()  # type: ignore[call-arg]
    except type(exception):
        return False
    return len(calls) == 2


def iter_waits() -> Any:
    yield  # primed by backoff
    while True:
        yield 0.0


def sdk_retried_set() -> tuple[type[BaseException], ...]:
    """The exceptions singer-sdk's `RESTStream.request_decorator` hands to
    `backoff.on_exception`, read by running it with a recorder in backoff's place (the
    SDK spells the set inline and names it nowhere)."""
    recorded: list[Any] = []

    def record(_wait_gen: Any, exception: Any, **_kwargs: Any) -> Any:
        recorded.append(exception)
        return lambda func: func

    probe = mock.MagicMock()
    with mock.patch.object(sdk_rest.backoff, "on_exception", record):
        RESTStream.request_decorator(probe, probe.request)
    (exceptions,) = recorded
    return tuple(exceptions) if isinstance(exceptions, tuple) else (exceptions,)


def test_the_pinned_set_is_exactly_the_one_the_sdk_decorator_retries() -> None:
    """SDK contract: retries.py pins the SDK's retriable set (`SDK_RETRIABLE`); an SDK
    upgrade that adds, drops or reorders one fails here, not on a live account."""
    assert sdk_retried_set() == SDK_RETRIABLE


def test_the_set_we_retry_is_the_one_the_sdk_decorator_retries() -> None:
    members = [
        cls("x") if cls is not RetriableAPIError else cls("x", None) for cls in SDK_RETRIABLE
    ]
    assert all(sdk_retries(exc) for exc in members)
    assert RetriableAPIError in SDK_RETRIABLE
    # The SDK's decorator leaves these to fail at once; so does ours.
    for outside in (ValueError("x"), requests.exceptions.InvalidURL("x")):
        assert not isinstance(outside, SDK_RETRIABLE)
        assert not sdk_retries(outside)


def test_waits_of_each_loop_are_parameters_of_the_one_policy() -> None:
    assert [LWA_RETRIES.fault_wait(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert [RDT_RETRIES.fault_wait(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 10.0]
    downloads = RetryPolicy(max_faults=8).with_waits(jitter=False)
    assert [downloads.fault_wait(n) for n in (1, 2, 3, 7, 8)] == [1.0, 2.0, 4.0, 60.0, 60.0]
    jittered = RetryPolicy(max_faults=8)
    assert all(2.0 <= jittered.fault_wait(3) <= 4.0 for _ in range(50))


def test_a_call_is_retried_until_it_answers() -> None:
    faults = iter([TransientFault("HTTP 500"), TransientFault("HTTP 429")])

    def attempt() -> str:
        fault = next(faults, None)
        if fault is not None:
            raise fault
        return "token"

    assert QUICK.call(attempt, explain=RuntimeError) == "token"


def test_a_call_that_keeps_failing_raises_the_explained_error_after_max_faults() -> None:
    tries: list[int] = []

    def attempt() -> str:
        tries.append(1)
        raise TransientFault("HTTP 503 from lwa")

    with pytest.raises(LookupError, match="HTTP 503 from lwa") as raised:
        QUICK.call(attempt, explain=lambda fault: LookupError(f"failed: {fault}"))
    assert len(tries) == QUICK.max_faults + 1
    assert isinstance(raised.value.__cause__, TransientFault)


def test_an_error_that_is_not_a_fault_is_not_retried() -> None:
    tries: list[int] = []

    def attempt() -> str:
        tries.append(1)
        raise KeyError("refused")

    with pytest.raises(KeyError):
        QUICK.call(attempt, explain=RuntimeError)
    assert tries == [1]


def test_attempts_resume_a_generator_that_broke_off() -> None:
    breaks = iter([2, 4])
    waits: list[float] = []

    def rows() -> Any:
        emitted = 0
        for attempt in QUICK.attempts(
            (OSError,), on_backoff=lambda d: waits.append(d["wait"]), explain=RuntimeError
        ):
            stop = next(breaks, None)
            with attempt:
                for index in range(6):
                    if index == stop:
                        raise OSError("connection reset")
                    if index >= emitted:
                        emitted += 1
                        yield index

    assert list(rows()) == [0, 1, 2, 3, 4, 5]
    assert waits == [0.001, 0.001]


def test_throttles_are_bounded_by_time_alone_and_denials_by_their_own_count() -> None:
    budget = RetryPolicy(max_faults=0).budget(refill_seconds=lambda _e: 2.0)
    budget.reset()
    throttled = ThrottledError("429", None)
    assert not any(budget.gives_up(throttled) for _ in range(50))
    assert 2.0 <= budget.wait_for(throttled) <= 8.0  # one refill, at most four
    denied = DeniedError("403", None)
    assert [budget.gives_up(denied) for _ in range(DENIED_RETRIES + 1)] == [
        *[False] * DENIED_RETRIES,
        True,
    ]
    assert budget.gave_up_because == "still refused"


def test_a_fault_before_the_endpoint_ever_answered_gives_up_after_short_waits() -> None:
    policy = RetryPolicy(max_faults=8)
    budget = policy.budget(endpoint_answered=lambda _e: False)
    budget.reset()
    refused = requests.exceptions.ConnectionError("refused")
    stops = [budget.gives_up(refused) for _ in range(policy.unproven_retries + 1)]
    assert stops[-1] and not any(stops[:-1])
    assert budget.wait_for(refused) == policy.unproven_wait
    assert budget.gave_up_because == "never answered"
