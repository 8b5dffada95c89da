"""Scripted and random faults, and added latency.

Scripted faults (`inject`) answer the next N requests of an operation with a status,
or misbehave at the connection level ("drop": close without answering, "truncate":
announce the full body but send half of it). Random faults draw from one seeded
generator, and only when their rate is above 0, so a run without them is exactly
reproducible and never consumes random numbers.
"""

from __future__ import annotations

import json
import random
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from spapi_standin.replies import Reply, canned, json_reply

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from spapi_standin.config import StandInConfig

CONNECTION_FAULTS = ("drop", "truncate", "slow", "html", "empty", "repeat_token")
# Where a page's next token sits in the answers of the paginated operations, and the
# query parameter a request sends it back in.
NEXT_TOKEN_PATHS = (("payload", "NextToken"), ("payload", "nextToken"), ("pagination", "nextToken"),
                    ("nextToken",))  # fmt: skip
TOKEN_PARAMS = ("NextToken", "nextToken", "paginationToken", "pageToken")
# How long a "slow" answer waits: past any sensible client timeout in the tests.
SLOW_SECONDS = 4.0


@dataclass
class _Scripted:
    status: int | str
    remaining: int
    body: Mapping[str, object] | None = None
    matching: str | None = None  # only requests whose path and query contain this


class Faults:
    """Decides, per request, whether it fails and how long it waits."""

    def __init__(self, config: StandInConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._rng = random.Random(f"{config.seed}:faults")
        self._storm_rng = random.Random(f"{config.seed}:storm")
        self._scripted: defaultdict[str, deque[_Scripted]] = defaultdict(deque)

    def inject(
        self,
        operation_id: str,
        status: int | str = 500,
        times: int = 1,
        body: Mapping[str, object] | None = None,
        matching: str | None = None,
    ) -> None:
        """Answer the next `times` requests of `operation_id` with `status` (or "drop"/"truncate").

        "repeat_token" answers as the operation would, with the page's next token
        replaced by the token the request sent: a token the client has followed already,
        as live Amazon sometimes hands out (limit it with `matching="Token="` to pages
        after the first).

        Several injections for one operation queue up in the order they were made.
        `body` replaces the canned Amazon error body of that status; `matching` limits
        the fault to requests whose path and query contain it (one id among many).
        """
        if isinstance(status, str) and status not in CONNECTION_FAULTS:
            raise ValueError(f"status must be an HTTP status or one of {CONNECTION_FAULTS}")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._scripted[operation_id].append(_Scripted(status, times, body, matching))

    def clear(self) -> None:
        """Drop every scripted fault not yet used."""
        with self._lock:
            self._scripted.clear()

    def scripted(
        self, operation_id: str, answer: Callable[[], Reply], target: str = ""
    ) -> Reply | None:
        """The scripted fault for this request of `operation_id`, if one is queued.

        `answer` computes what the request would have answered: "truncate" cuts that
        body (or a canned 200 body when the answer is not a success). `target` is the
        request's path and query, for faults limited to matching requests.
        """
        with self._lock:
            queue = self._scripted.get(operation_id)
            if not queue:
                return None
            fault = next((f for f in queue if f.matching is None or f.matching in target), None)
            if fault is None:
                return None
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.remove(fault)
        return _reply_for(fault, answer, target)

    def random_fault(self) -> Reply | None:
        """A 500/503 or dropped connection, at the configured rates (seeded)."""
        error_rate, drop_rate = self._config.error_rate, self._config.drop_rate
        if error_rate <= 0 and drop_rate <= 0:
            return None
        with self._lock:
            draw = self._rng.random()
            status = self._rng.choice((500, 503))
        if draw < drop_rate:
            return Reply(0, action="drop")
        if draw < drop_rate + error_rate:
            return canned(status)
        return None

    def stormed(self) -> bool:
        """Whether this request meets a quota another application spent (seeded)."""
        if self._config.storm_rate <= 0:
            return False
        with self._lock:
            return self._storm_rng.random() < self._config.storm_rate

    def latency(self) -> float:
        """Seconds to wait before answering (latency plus seeded jitter)."""
        base, jitter = self._config.latency_ms, self._config.latency_jitter_ms
        if jitter <= 0:
            return max(base, 0.0) / 1000
        with self._lock:
            extra = self._rng.uniform(0, jitter)
        return max(base + extra, 0.0) / 1000


def _reply_for(fault: _Scripted, answer: Callable[[], Reply], target: str) -> Reply:
    if fault.status == "drop":
        return Reply(0, action="drop")
    if fault.status == "slow":
        return replace(answer(), action="slow")
    if fault.status == "html":  # a proxy or load balancer page instead of JSON
        page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        return Reply(200, page, (("Content-Type", "text/html"),))
    if fault.status == "empty":
        return Reply(200, b"", (("Content-Type", "application/json"),))
    if fault.status == "repeat_token":
        return _with_repeated_token(answer(), target)
    if fault.status == "truncate":
        whole = answer()
        if not whole.ok:
            whole = json_reply({"payload": {}})
        return Reply(whole.status, whole.body, whole.headers, action="truncate")
    assert isinstance(fault.status, int)
    if fault.body is not None:
        return json_reply(fault.body, fault.status)
    return canned(fault.status)


def _with_repeated_token(whole: Reply, target: str) -> Reply:
    """`whole` with its next token replaced by the one the request (`target`) sent."""
    query = parse_qs(urlsplit(target).query)
    sent = next((query[name][0] for name in TOKEN_PARAMS if query.get(name)), None)
    if not whole.ok or sent is None:
        return whole
    body = json.loads(whole.body)
    for path in NEXT_TOKEN_PATHS:
        node = body
        for step in path[:-1]:
            node = node.get(step) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get(path[-1]):
            node[path[-1]] = sent
            return replace(whole, body=json.dumps(body).encode())
    return whole
