"""Usage plans: Amazon's token buckets, one per account and operation.

Amazon documents a rate (tokens per second) and a burst (bucket size) per operation
and applies them per selling partner and application. The stand-in keeps one bucket
per (account, operation), the account being the refresh token behind the access token
(an RDT counts for the account that requested it) or "grantless"; so two accounts
served by one stand-in do not throttle each other. `per_account_buckets=False` shares
one bucket per operation instead.

Plans come from the stand-in's own `usage_plans.json`, generated from Amazon's models by
scripts/generate_from_models.py and matched by method and path (operationIds repeat
across APIs); never from the tap's tables, which tests/test_cross_check.py compares with
this one. `rate_scale` multiplies every rate, overrides included; bursts stay as printed
so throttling still starts at the same point.
"""

from __future__ import annotations

import json
import threading
import time
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spapi_standin.config import StandInConfig
    from spapi_standin.paths import Route

Plan = tuple[float, int]

PACKAGED = Path(__file__).with_name("usage_plans.json")
# Operations whose model prints no usage plan (rate and burst null in usage_plans.json).
# Live Amazon applies some plan and says its rate in `x-amzn-RateLimit-Limit`; these are
# the stand-in's assumption of it (LIVE-AMAZON.md: "the Tracking API's roles and rate"
# are not verified), a little above the getShipment plan of inbound 2024, so a client
# that adopts the header runs faster than a blind one-per-second.
ASSUMED_PLANS: dict[str, Plan] = {
    "getShipmentTracking": (2.0, 10),
    "getSelfShipAppointmentSlots": (2.0, 6),
    "listPrepDetails": (2.0, 6),
}


@cache
def model_table(path: Path = PACKAGED) -> dict[str, dict[str, Any]]:
    """`METHOD path` -> the generated entry (api, operationId, rate, burst, query_enums)."""
    table: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["plans"]
    return table


def query_enum(route: Route, parameter: str) -> frozenset[str]:
    """The values the model allows for query `parameter` of the operation at `route`."""
    entry = model_table()[f"{route.method} {route.path}"]
    return frozenset(entry.get("query_enums", {}).get(parameter, ()))


def load_plans(routes: dict[str, Route], explicit: Path | None = None) -> dict[str, Plan]:
    """Plans for `routes` (operationId -> route), from the generated table."""
    table = model_table(explicit or PACKAGED)
    plans: dict[str, Plan] = {}
    for op, route in routes.items():
        entry = table.get(f"{route.method} {route.path}")
        if entry is not None and entry["rate"] is None:
            plans[op] = ASSUMED_PLANS[entry["operationId"]]
        elif entry is not None:
            plans[op] = (float(entry["rate"]), int(entry["burst"]))
    return plans


class RateLimiter:
    """Token buckets refilled continuously at the plan's (scaled) rate."""

    def __init__(self, config: StandInConfig, plans: dict[str, Plan]) -> None:
        self._config = config
        self._plans = plans
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], list[float]] = {}  # [tokens, last refill]

    def plan(self, operation_id: str) -> Plan:
        """The effective (rate, burst) of `operation_id` under the live config."""
        rate, burst = self._config.rate_overrides.get(
            operation_id, self._plans.get(operation_id, (1.0, 1))
        )
        return rate * self._config.rate_scale, int(burst)

    def acquire(self, account: str, operation_id: str) -> tuple[bool, float]:
        """Take one token; returns (granted, effective rate for x-amzn-RateLimit-Limit)."""
        rate, burst = self.plan(operation_id)
        if not self._config.rate_limits:
            return True, rate
        key = (account if self._config.per_account_buckets else "*", operation_id)
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.setdefault(key, [float(burst), now])
            bucket[0] = min(float(burst), bucket[0] + (now - bucket[1]) * rate)
            bucket[1] = now
            if bucket[0] >= 1.0:
                bucket[0] -= 1.0
                return True, rate
            return False, rate

    def reset(self) -> None:
        """Refill every bucket (a new phase of a benchmark)."""
        with self._lock:
            self._buckets.clear()
