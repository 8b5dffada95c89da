"""A chain of pages walked by a thread of its own while its consumer works.

A page's token comes with the answer to the page before, so the pages of one query
cannot overlap; but the consumer's work on page n (announcing each record's children
to the pool, emitting) need not delay the request for page n + 1. Here a thread runs
the producer (singer-sdk's own page loop, or `SPAPIClient.pages`) and hands its items
over through a queue of at most `limit` items, so the chain waits for nothing but
Amazon and the memory held stays bounded.
"""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

T = TypeVar("T")
_END = object()


class Walk(Generic[T]):
    """`produce()`'s items, produced by a daemon thread at most `limit` items ahead of
    the consumer (0: no limit, for a chain whose usage plan is so slow that its pages
    are asked from the start of the run, long before the consumer gets there)."""

    def __init__(self, produce: Callable[[], Iterable[T]], *, limit: int, name: str) -> None:
        self._items: queue.Queue[Any] = queue.Queue(limit)
        self._stopped = threading.Event()
        # A daemon: a consumer that is never closed (held by a traceback) must not keep
        # the process alive with the walker blocked on a full queue.
        self._walker = threading.Thread(target=self._walk, args=(produce,), name=name, daemon=True)
        self._walker.start()

    def _walk(self, produce: Callable[[], Iterable[T]]) -> None:
        items = iter(produce())
        try:
            # The stop is checked before each next item: the one after a page's last
            # item is the next request, and a stopped walk asks nothing further.
            while not self._stopped.is_set():
                try:
                    item = next(items)
                except StopIteration:
                    self._items.put(_END)
                    return
                self._items.put(item)
        except BaseException as exc:  # raised in the consumer, where it would have been
            self._items.put(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Iterator[T]:
        """The items, as the walker hands them on (its error, raised here)."""
        try:
            while (item := self._items.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._stopped.set()  # the consumer stopped (or failed): nothing further
            while self._walker.is_alive():
                self._drain()
                self._walker.join(0.05)

    def stop(self) -> None:
        """Nothing further (a walk never consumed): the walker ends after the request in
        flight, without the caller waiting for it."""
        self._stopped.set()
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                self._items.get_nowait()
            except queue.Empty:
                return
