"""Usage plans: Amazon's token buckets, one per account and operation.

Amazon documents a rate (tokens per second) and a burst (bucket size) per operation
and applies them per selling partner and application. The stand-in keeps one bucket
per (account, operation), the account being the refresh token behind the access token
(an RDT counts for the account that requested it) or "grantless"; so two accounts
served by one stand-in do not throttle each other. `per_account_buckets=False` shares
one bucket per operation instead.

Plans come from the tap's generated `tap_spapi/operations.json` when it is installed
(matched by method and path, because operationIds repeat across APIs), else from the
built-in table copied from the reference. `rate_scale` multiplies every rate,
overrides included; bursts stay as printed so throttling still starts at the same point.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spapi_standin.config import StandInConfig
    from spapi_standin.paths import Route

Plan = tuple[float, int]

# Default usage plans of the operations served (reference sections 5 and 10).
BUILTIN_PLANS: dict[str, Plan] = {
    "getMarketplaceParticipations": (0.016, 15),
    "getShipments": (2.0, 30),
    "getShipmentItemsByShipmentId": (2.0, 30),
    "listAllFulfillmentOrders": (2.0, 30),
    "getFulfillmentOrder": (2.0, 30),
    "getPackageTrackingDetails": (2.0, 30),
    "getTracking": (80.0, 100),
    "getCarrierAccounts": (80.0, 100),
    "createRestrictedDataToken": (1.0, 10),
    "getShipment": (1.0, 1),  # Merchant Fulfillment v0
    "getDestinations": (1.0, 5),  # Notifications v1 (test-only endpoint)
}


def operations_json(explicit: Path | None) -> Path | None:
    """`explicit`, else tap_spapi/operations.json if the tap is installed beside us."""
    if explicit is not None:
        return explicit
    spec = importlib.util.find_spec("tap_spapi")
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(next(iter(spec.submodule_search_locations))) / "operations.json"
    return candidate if candidate.is_file() else None


def load_plans(routes: dict[str, Route], explicit: Path | None = None) -> dict[str, Plan]:
    """Plans for `routes` (operationId -> route): generated catalog first, then built-ins."""
    plans = {op: plan for op, plan in BUILTIN_PLANS.items() if op in routes}
    path = operations_json(explicit)
    if path is None:
        return plans
    by_route: dict[tuple[str, str], Plan] = {}
    for spec in json.loads(path.read_text(encoding="utf-8")).get("operations", {}).values():
        rate, burst = spec.get("rate"), spec.get("burst")
        if isinstance(rate, int | float) and isinstance(burst, int | float) and rate > 0:
            by_route[(str(spec.get("method", "")).upper(), str(spec.get("path")))] = (
                float(rate),
                int(burst),
            )
    for op, route in routes.items():
        if (route.method, route.path) in by_route:
            plans[op] = by_route[(route.method, route.path)]
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
