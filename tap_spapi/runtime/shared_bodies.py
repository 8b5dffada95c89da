"""One response read by several sibling streams: getFulfillmentOrder feeds four.

An MCF order's getFulfillmentOrder answer holds its shipments, items, returns and return
authorizations; each is a stream of its own, and all four are children of
`outbound_orders` with the same context. Whichever of them asks first fetches the body
(in its own thread, a prefetch worker or the main thread); the others wait for that
fetch and read the same body, so an order costs one request however many of them are
selected. A body is dropped once every selected sibling has taken it.

A failed fetch is kept like a body: each sibling re-raises it in its own `get_records`,
so each records its own failure line and none is left with an error another thread
raised first (an order read by none of them would otherwise be retried by the next).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Hashable


@dataclass(eq=False)
class _Shared:
    """One body being fetched or fetched: who still reads it, and how it ended."""

    waiting: set[str]
    done: threading.Event = field(default_factory=threading.Event)
    body: Any = None
    error: BaseException | None = None


class SharedBodies:
    """Bodies of one operation, per context, for the sibling streams that read them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readers: dict[str, tuple[str, ...]] = {}
        self._bodies: dict[Hashable, _Shared] = {}

    def expect(self, group: str, readers: tuple[str, ...]) -> None:
        """The selected streams of `group` (in sync order): each takes every body once."""
        with self._lock:
            self._readers[group] = readers

    def readers(self, group: str) -> tuple[str, ...]:
        """The streams expected to read `group`'s bodies (none until the parent says)."""
        with self._lock:
            return self._readers.get(group, ())

    def take(
        self,
        group: str,
        key: Hashable,
        reader: str,
        fetch: Callable[[], Any],
        readers: Collection[str] | None = None,
    ) -> Any:
        """`key`'s body for `reader`: fetched here if no sibling asked for it before,
        else the sibling's (waiting for its fetch). Its error is raised for each reader.

        `readers` (default: those `expect`ed) are the streams still reading this key:
        one that stopped for the account would leave the body held for nobody.
        """
        with self._lock:
            shared = self._bodies.get((group, key))
            first = shared is None
            if shared is None:
                expected = self._readers.get(group, ()) if readers is None else readers
                others = set(expected) - {reader}
                shared = _Shared(waiting=others)
                if others:
                    self._bodies[(group, key)] = shared
            else:
                shared.waiting.discard(reader)
                if not shared.waiting:
                    del self._bodies[(group, key)]
        if first:
            try:
                shared.body = fetch()
            except BaseException as exc:  # handed to every reader, each in its own thread
                shared.error = exc
            finally:
                shared.done.set()
        else:
            shared.done.wait()
        if shared.error is not None:
            raise shared.error
        return shared.body

    def __len__(self) -> int:
        """Bodies held for readers that have not taken them yet."""
        with self._lock:
            return len(self._bodies)
