"""The usage-plan limiter, on a fake clock (no timing assertions: the waits are computed)."""

import threading
from decimal import Decimal

import pytest

from tap_spapi.amazon.operations import load_catalog
from tap_spapi.wire.pacing import (
    FALLBACK_ASSUMED_BURST,
    NO_HEADROOM_SPACING,
    LimiterClosedError,
    RateLimiter,
    UsagePlan,
    parse_rate_limit_overrides,
)


class FakeClock:
    """A clock that only moves when a test (or a 'sleep') moves it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def limiter(clock: FakeClock, **plans: tuple[float, int]) -> RateLimiter:
    return RateLimiter(
        {op: UsagePlan(rate, burst) for op, (rate, burst) in plans.items()},
        clock=clock,
        sleep=clock.sleep,
    )


def test_burst_less_one_spare_token_is_free_then_requests_are_spaced_by_the_rate():
    clock = FakeClock()
    pacer = limiter(clock, getShipments=(2.0, 5))
    waits = [pacer.acquire("getShipments") for _ in range(7)]
    # Capacity is burst - 1 (one token left at Amazon for jitter), then 1/rate apart.
    assert waits == [0, 0, 0, 0, 0.5, 1.0, 1.5]


def test_a_fast_plan_keeps_back_a_quarter_second_of_tokens_not_just_one():
    # At 80/s one token is 12.5 ms, less than a delayed request on a busy machine.
    clock = FakeClock()
    pacer = limiter(clock, getTracking=(80.0, 100))
    waits = [pacer.acquire("getTracking") for _ in range(82)]
    assert waits[:80] == [0] * 80  # 100 less 80 * 0.25 kept back
    assert waits[80:] == [pytest.approx(1 / 80), pytest.approx(2 / 80)]
    assert UsagePlan(80.0, 10).capacity == 1  # never below one token


def test_tokens_come_back_at_the_rate_while_idle():
    clock = FakeClock()
    pacer = limiter(clock, op=(2.0, 3))
    assert [pacer.acquire("op") for _ in range(2)] == [0, 0]
    clock.now += 0.5  # one token earned
    assert pacer.acquire("op") == 0
    assert pacer.acquire("op") == 0.5


def test_operations_have_separate_buckets():
    clock = FakeClock()
    pacer = limiter(clock, a=(1.0, 2), b=(1.0, 2))
    assert pacer.acquire("a") == 0
    assert pacer.acquire("b") == 0
    assert pacer.acquire("a") == 1.0


def test_a_429_drains_the_bucket_so_the_retry_waits_one_interval_not_a_guess():
    clock = FakeClock()
    pacer = limiter(clock, op=(0.5, 10))
    pacer.acquire("op")
    pacer.observe_throttled("op")
    assert pacer.acquire("op") == 2.0
    assert pacer.snapshot()["op"]["throttled"] == 1


def test_the_rate_limit_header_replaces_the_model_rate_but_not_the_burst():
    clock = FakeClock()
    pacer = limiter(clock, op=(1.0, 2))
    pacer.observe_limit_header("op", "4.0")
    assert pacer.plan("op") == UsagePlan(4.0, 2)
    pacer.acquire("op")
    assert pacer.acquire("op") == 0.25


@pytest.mark.parametrize("header", [None, "", "fast", "0", "-1", "nan", "inf"])
def test_a_missing_or_garbled_header_changes_nothing(header):
    pacer = limiter(FakeClock(), op=(1.0, 2))
    pacer.observe_limit_header("op", header)
    assert pacer.plan("op") == UsagePlan(1.0, 2)


def test_an_override_beats_both_the_model_and_the_header():
    clock = FakeClock()
    pacer = RateLimiter(
        {"op": UsagePlan(1.0, 2)},
        {"op": UsagePlan(10.0, 3)},
        clock=clock,
        sleep=clock.sleep,
    )
    pacer.observe_limit_header("op", "0.5")
    assert pacer.plan("op") == UsagePlan(10.0, 3)


def fallback_limiter(clock: FakeClock, overrides: dict[str, UsagePlan] | None = None):
    return RateLimiter(
        {"op": UsagePlan(1.0, 1)},
        overrides,
        clock=clock,
        sleep=clock.sleep,
        probe_first=frozenset({"op"}),
    )


def test_a_fallback_plan_assumes_a_burst_of_two_once_amazon_gives_a_rate_of_two_or_more():
    clock = FakeClock()
    pacer = fallback_limiter(clock)
    pacer.acquire("op")  # the probe
    pacer.observe_limit_header("op", "4.0")
    assert pacer.plan("op") == UsagePlan(4.0, FALLBACK_ASSUMED_BURST)
    # One token kept back at Amazon, so requests go at the full rate, not 10% slower.
    assert [pacer.acquire("op") for _ in range(3)] == [0.25, 0.5, 0.75]


def test_a_fallback_plan_at_one_a_second_keeps_a_burst_of_one():
    pacer = fallback_limiter(FakeClock())
    pacer.observe_limit_header("op", "1.0")
    assert pacer.plan("op") == UsagePlan(1.0, 1)


def test_a_429_on_an_assumed_burst_takes_it_back_to_one_for_the_rest_of_the_run():
    clock = FakeClock()
    pacer = fallback_limiter(clock)
    pacer.observe_limit_header("op", "4.0")
    pacer.observe_throttled("op")
    assert pacer.plan("op") == UsagePlan(4.0, 1)
    pacer.observe_limit_header("op", "4.0")
    assert pacer.plan("op") == UsagePlan(4.0, 1)
    assert pacer.acquire("op") == pytest.approx((1 + NO_HEADROOM_SPACING) / 4.0)


def test_a_burst_is_assumed_neither_for_a_models_plan_nor_over_an_override():
    clock = FakeClock()
    modelled = limiter(clock, op=(1.0, 1))
    modelled.observe_limit_header("op", "4.0")
    assert modelled.plan("op") == UsagePlan(4.0, 1)
    overridden = fallback_limiter(clock, {"op": UsagePlan(3.0, 1)})
    overridden.observe_limit_header("op", "4.0")
    assert overridden.plan("op") == UsagePlan(3.0, 1)


def test_every_usage_plan_in_amazons_models_has_a_burst_of_at_least_its_rate():
    # What FALLBACK_ASSUMED_BURST rests on: if Amazon ever publishes a plan with a
    # burst below its rate, a fallback plan's assumed burst is no longer safe.
    plans = [op for op in load_catalog() if not op.fallback_plan]
    assert len(plans) > 50
    assert [op.operation_id for op in plans if op.burst < op.rate] == []


def test_the_catalog_seeds_every_operation_with_the_models_plan():
    pacer = RateLimiter.from_catalog()
    plan = pacer.plan("getPackageTrackingDetails")
    assert plan.rate > 0
    assert plan.burst >= 1


def test_threads_sharing_a_bucket_each_get_their_own_slot():
    clock = FakeClock()
    pacer = limiter(clock, op=(4.0, 2))
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            wait = pacer.acquire("op")
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 200 reservations on a frozen clock: exactly one per 1/rate slot, none shared.
    assert sorted(waits) == [slot / 4.0 for slot in range(200)]


def test_a_burst_of_one_is_paced_a_little_slower_than_its_rate():
    # No token of a burst of 1 can be kept back for jitter, so time is kept back instead.
    clock = FakeClock()
    pacer = limiter(clock, op=(4.0, 1))
    waits = [pacer.acquire("op") for _ in range(3)]
    spacing = (1 + NO_HEADROOM_SPACING) / 4.0
    assert waits == pytest.approx([0.0, spacing, 2 * spacing])


def test_close_wakes_a_request_waiting_for_a_token():
    pacer = RateLimiter({"op": UsagePlan(0.001, 1)})
    pacer.acquire("op")  # the only token; the next waits ~1000 s
    errors: list[BaseException] = []

    def waiter() -> None:
        try:
            pacer.acquire("op")
        except LimiterClosedError as exc:
            errors.append(exc)

    thread = threading.Thread(target=waiter)
    thread.start()
    pacer.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(errors) == 1


def test_overrides_are_parsed_into_plans():
    parsed = parse_rate_limit_overrides({"getTracking": {"rate": 5, "burst": 10}})
    assert parsed == {"getTracking": UsagePlan(5.0, 10)}
    # A config file's fractional rates arrive as Decimal.
    parsed = parse_rate_limit_overrides({"createReport": {"rate": Decimal("0.334"), "burst": 15}})
    assert parsed == {"createReport": UsagePlan(0.334, 15)}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"getTracking": 5}, "getTracking: must be an object"),
        ({"getTracking": {"rate": 0, "burst": 1}}, "getTracking.rate"),
        ({"getTracking": {"rate": "fast"}}, "getTracking.rate"),
        ({"getTracking": {"rate": 1, "burst": 0}}, "getTracking.burst"),
        ({"getTracking": {"rate": 1, "burst": 1.5}}, "getTracking.burst"),
        ({"getTracking": {"rate": 1, "bust": 2}}, "unknown field(s) bust"),
    ],
)
def test_bad_overrides_name_the_operation_and_field(raw, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_rate_limit_overrides(raw)


def test_the_time_requests_will_take_counts_the_tokens_left_and_the_queue():
    clock = FakeClock()
    pacer = limiter(clock, op=(0.5, 5))
    assert pacer.seconds_for("op", 4) == 0  # within the burst (less the spare token)
    assert pacer.seconds_for("op", 10) == 12.0  # six beyond it, two seconds each
    for _ in range(5):
        pacer.acquire("op")  # one request queued beyond the burst
    assert pacer.seconds_for("op", 1) == 4.0
    clock.now += 2.0  # the queued request's token came
    assert pacer.seconds_for("op", 1) == 2.0
