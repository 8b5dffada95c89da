"""Counters of what the stand-in saw, for tests and benchmarks to assert on.

Per key (an operationId, "lwa", "sigv4" or "unknown") a flat dict of counters:
`requests`, one counter per HTTP status as a string ("200", "429"), "drop" and
"truncate" for scripted connection faults, plus key-specific ones ("refresh_token" /
"client_credentials" grants under "lwa", "verified" / "failed" under "sigv4").
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping


class Stats:
    """Thread-safe counters and the headers of the last request per operation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: defaultdict[str, defaultdict[str, int]] = defaultdict(
            lambda: defaultdict(int)
        )
        self._headers: dict[str, dict[str, str]] = {}
        # Path and query of the latest requests per key, bounded so a benchmark's
        # hundred thousand requests do not grow memory.
        self._targets: defaultdict[str, deque[str]] = defaultdict(lambda: deque(maxlen=1000))
        # Monotonic time of the first and last request per key (benchmarks: wall per op).
        self._span: dict[str, list[float]] = {}

    def add(self, key: str, counter: str, amount: int = 1) -> None:
        """Increase `counter` of `key`."""
        with self._lock:
            self._counts[key][counter] += amount

    def request(self, key: str, headers: Mapping[str, str], target: str = "") -> None:
        """One more request for `key`; remember its headers and path with query."""
        with self._lock:
            self._counts[key]["requests"] += 1
            self._headers[key] = dict(headers)
            self._targets[key].append(target)
            now = time.monotonic()
            self._span.setdefault(key, [now, now])[1] = now

    def count(self, key: str, counter: str = "requests") -> int:
        """One counter (0 if never counted)."""
        with self._lock:
            counters = self._counts.get(key)
            return counters.get(counter, 0) if counters is not None else 0

    def last_headers(self, key: str) -> dict[str, str]:
        """Headers of the last request counted for `key` (KeyError if none)."""
        with self._lock:
            return dict(self._headers[key])

    def targets(self, key: str) -> list[str]:
        """Path and query, as sent, of the last (up to 1000) requests counted for `key`."""
        with self._lock:
            return list(self._targets.get(key, ()))

    def snapshot(self) -> dict[str, dict[str, int]]:
        """A consistent copy of every counter."""
        with self._lock:
            return {key: dict(counters) for key, counters in self._counts.items()}

    def spans(self) -> dict[str, tuple[float, float]]:
        """Monotonic (first, last) request time per key."""
        with self._lock:
            return {key: (span[0], span[1]) for key, span in self._span.items()}

    def reset(self) -> None:
        """Forget every counter (benchmarks measure one phase at a time)."""
        with self._lock:
            self._counts.clear()
            self._headers.clear()
            self._targets.clear()
            self._span.clear()
