"""What a handler answers, Amazon's error bodies, and a cache of encoded bodies.

Handlers return `Reply` objects with the body already encoded, so the server thread
only writes bytes; list pages are cached by query (and data set version) because
clients re-read the same pages far more often than the data changes.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Callable

    from spapi_standin.data import Dataset

JSON = "application/json"
Action = Literal["send", "drop", "truncate", "slow", "trickle"]


@dataclass(frozen=True)
class Reply:
    """One HTTP answer (or, with `action`, a scripted way of not answering properly)."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    action: Action = "send"

    @property
    def ok(self) -> bool:
        """2xx."""
        return 200 <= self.status < 300

    def with_headers(self, *headers: tuple[str, str]) -> Reply:
        """A copy with `headers` added."""
        return replace(self, headers=(*self.headers, *headers))


def encode(document: Any) -> bytes:
    """Compact JSON, as Amazon sends it."""
    return json.dumps(document, separators=(",", ":")).encode()


def json_reply(document: Any, status: int = 200) -> Reply:
    """`document` as a JSON response."""
    return Reply(status, encode(document), (("Content-Type", JSON),))


def error(status: int, code: str, message: str, details: str = "") -> Reply:
    """SP-API's `ErrorList` body: `{"errors": [{"code", "message", "details"}]}`."""
    return json_reply({"errors": [{"code": code, "message": message, "details": details}]}, status)


def invalid_input(message: str) -> Reply:
    """400 InvalidInput, the code most models use for bad parameters."""
    return error(400, "InvalidInput", message)


def not_found() -> Reply:
    """404 for paths the stand-in does not serve."""
    return error(404, "NotFound", "Resource not found")


# Bodies for statuses a test scripts with `inject()`; 403 deliberately does not say
# "expired", so a client treats it as fatal rather than refreshing its token.
CANNED = {
    400: ("InvalidInput", "Invalid input"),
    401: ("Unauthorized", "Access to requested resource is denied."),
    403: ("Unauthorized", "Access to requested resource is denied."),
    404: ("NotFound", "Resource not found"),
    429: ("QuotaExceeded", "You exceeded your quota for the requested resource."),
    500: ("InternalFailure", "We encountered an internal error. Please try again."),
    503: ("ServiceUnavailable", "Service temporarily unavailable. Please try again."),
}


def canned(status: int) -> Reply:
    """A typical Amazon error for `status`."""
    code, message = CANNED.get(status, ("Error", f"HTTP {status}"))
    return error(status, code, message)


def quota_exceeded() -> Reply:
    """429 as Amazon sends it when the usage plan's bucket is empty."""
    return error(429, "QuotaExceeded", "You exceeded your quota for the requested resource.")


class BodyCache:
    """A small thread-safe LRU of encoded response bodies."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[Any, ...], Reply] = OrderedDict()

    def get(self, key: tuple[Any, ...], build: Callable[[], Reply]) -> Reply:
        """The cached reply for `key`, building (outside the lock) and caching 2xx ones."""
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None:
                self._entries.move_to_end(key)
                return cached
        reply = build()
        if reply.ok:
            with self._lock:
                self._entries[key] = reply
                if len(self._entries) > self._size:
                    self._entries.popitem(last=False)
        return reply


class CachedBodies:
    """200 JSON bodies built from the data set, encoded once per data set version.

    One per stand-in, handed to every service that caches, so a single LRU bounds them
    all; keys start with the operation's name so services never share an entry.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.data = dataset
        self.cache = BodyCache()

    def __call__(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Reply:
        """A 200 JSON reply of `build()`, encoded once per data set version."""

        def encoded() -> Reply:
            with self.data.lock:  # records may be touched by another thread meanwhile
                return json_reply(build())

        return self.cache.get((*key, self.data.version), encoded)
