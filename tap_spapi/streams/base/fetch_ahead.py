"""Fetching ahead of singer-sdk's sync: what a stream announces to the run's pools.

singer-sdk syncs one context at a time; the pools in runtime/pools.py run requests ahead
of it. This is the stream's side of that: which contexts to announce and when (the
partitions after the current one, the children of records about to be emitted, every
top-level context at the start of the run), and taking the results back in the order
the SDK asks for them, so the output is the same as a sequential run's.
"""

from __future__ import annotations

import abc
import functools
from collections import deque
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk import RESTStream

from tap_spapi.runtime.pools import context_key

# At most this many contexts fetched early wait to be taken, per stream: a tracking
# answer is a few kilobytes, so this bounds the memory of fetching ahead of a sync that
# starts hours later (a large seller's first run) to tens of megabytes.
EARLY_LIMIT = 10_000

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from singer_sdk.helpers.types import Context

    from tap_spapi.runtime.pools import Lane, Prefetcher, ReadAhead
    from tap_spapi.runtime.run import Run


class FetchesAhead(RESTStream[str]):
    """A stream whose requests the run's pools may run before the SDK asks for them."""

    #: Per-id streams (children, per-label partitions): requests are fetched ahead in
    #: the account's worker pool while the main thread emits (see runtime/pools.py).
    prefetch: ClassVar[bool] = False
    #: Top-level streams whose contexts are known at the start of the run: the tap reads
    #: them ahead while earlier streams sync (see concurrency.ReadAhead).
    read_ahead: ClassVar[bool] = False
    #: Per-id streams synced after others whose contexts are known before their turn
    #: (labels and identifiers listed or left open, identifiers noted by a parent): each
    #: is fetched as soon as it is known (`fetch_early`), within the usage plan.
    fetches_early: ClassVar[bool] = False

    @property
    @abc.abstractmethod
    def run(self) -> Run:
        """The run whose pools fetch ahead (see `SPAPIStream.run`)."""

    @abc.abstractmethod
    def abandoned(self, context: Context | None) -> bool:
        """Whether `context` is not to be read any more this run (see failures.py)."""

    def wants(self, context: Context | None) -> bool:
        """Whether `context` needs a request this run (e.g. not a final tracking)."""
        return True

    def _records_of(self, context: Context | None) -> Iterable[dict[str, Any]]:
        key = context_key(self.name, context)
        if self.prefetch:
            self._early.discard(key)
            self._announce_partitions_after(context)
            return self.prefetcher.take(key, lambda: list(self.request_records(context)))
        self.run.start_reading_ahead()
        return self.reader.take(key, lambda: self.request_records(context))

    def fetch_early(self, context: Context | None) -> None:
        """Fetch `context` in the pool now, long before the SDK syncs it, unless
        `EARLY_LIMIT` early results wait already (each holds its records in memory)."""
        if not self.prefetcher.workers or len(self._early) >= EARLY_LIMIT:
            return
        key = context_key(self.name, context)
        if key not in self._early:
            self._early.add(key)
            self.announce(context)

    def fetch_known_early(self) -> None:
        """Fetch early every context known when the run starts (its partitions now)."""
        for context in self.partitions or []:
            self.fetch_early(context)

    @cached_property
    def _early(self) -> set[Any]:
        """Keys fetched early and not taken yet (main thread only)."""
        return set()

    @property
    def prefetcher(self) -> Prefetcher:
        """The run's pool for per-id requests (see runtime/pools.py)."""
        return self.run.prefetcher

    @property
    def reader(self) -> ReadAhead:
        """The run's readers of top-level contexts ahead of the sync."""
        return self.run.read_ahead

    def read_ahead_contexts(self) -> list[Context | None]:
        """The contexts `get_records` will fetch this run, in order (default: partitions)."""
        return [*self.partitions] if self.partitions else [None]

    def start_reading(self) -> None:
        """Announce every context of this run to the read-ahead readers.

        A reader also announces the children of what it reads, so another account's
        order → shipment → package chain runs while this account's syncs (the SDK
        syncs one context at a time; the children are taken from the pool later, once).
        """
        for context in self.read_ahead_contexts():
            if self.wants(context):
                self.reader.announce(
                    context_key(self.name, context),
                    functools.partial(self._read_with_children, context),
                )

    def _read_with_children(self, context: Context | None) -> Iterator[dict[str, Any]]:
        return self._announcing_children(self.request_records(context), context)

    def announce(self, context: Context | None) -> None:
        """Fetch `context`'s records in the account's pool, for `get_records` to take.

        Once fetched, the worker announces the records' own children at once, so a
        grandchild chain (order → shipments → package tracking) stays in flight across
        parents instead of waiting for the main thread to reach each parent.
        """
        if self.wants(context):
            self.prefetcher.submit(
                context_key(self.name, context),
                functools.partial(self._fetch_ahead, context),
                priority=-self.depth,
                lane=self.fetch_lane(context),
            )

    def fetch_lane(self, context: Context | None) -> Lane | None:
        """The usage plan `context`'s fetch first waits on (the pool runs first the fetch
        whose plan has a token soonest); None: no plan to wait on."""
        return None

    @property
    def depth(self) -> int:
        """0 for a top-level stream, 1 for its children, 2 for grandchildren."""
        depth, parent = 0, self.parent_stream_type
        while parent is not None:
            depth, parent = depth + 1, parent.parent_stream_type
        return depth

    def _fetch_ahead(self, context: Context | None) -> list[dict[str, Any]]:
        return self._fetched_with_children(context, lambda: list(self.request_records(context)))

    def _fetched_with_children(
        self, context: Context | None, fetch: Callable[[], list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """In a worker: `fetch()`'s records of `context`, their children announced."""
        if self.abandoned(context):
            return []  # e.g. skipped for a missing role since it was announced
        records = fetch()
        children = self._prefetching_children()
        if children:
            for record in records:
                self._announce_children_of(record, context, children)
        return records

    def _prefetching_children(self) -> list[FetchesAhead]:
        if not self.prefetcher.workers:
            return []  # sequential mode: the SDK fetches each child when it gets there
        return [
            child
            for child in self.child_streams
            if isinstance(child, FetchesAhead)
            and child.prefetch
            and (child.selected or child.has_selected_descendents)
        ]

    def _announce_children_of(
        self, record: dict[str, Any], context: Context | None, children: list[FetchesAhead]
    ) -> None:
        # The SDK derives child contexts from post-processed records; work on a copy so
        # the record itself is post-processed once, by the SDK.
        processed = self.post_process(dict(record), context)
        if processed is None:
            return
        for child_context in self.generate_child_contexts(processed, context):
            for child in children:
                child.announce(child_context)

    @property
    def lookahead(self) -> int:
        """How many contexts ahead to announce: enough to keep every worker busy."""
        return 4 * self.prefetcher.workers

    def _announcing_children(
        self, records: Iterable[dict[str, Any]], context: Context | None
    ) -> Iterator[dict[str, Any]]:
        children = self._prefetching_children()
        if not children:
            yield from records
            return
        # A sliding window: a record's children are announced `lookahead` records before
        # the SDK syncs them, so the pool never drains at a batch boundary.
        window: deque[dict[str, Any]] = deque()
        failed: Exception | None = None
        try:
            for record in records:
                self._announce_children_of(record, context, children)
                window.append(record)
                if len(window) > self.lookahead:
                    yield window.popleft()
        except Exception as exc:
            failed = exc  # what was read before the failure still goes out, then it
        yield from window
        if failed is not None:
            raise failed

    def _announce_partitions_after(self, context: Context | None) -> None:
        """Announce the `lookahead` partitions after `context`, each once a run (asking
        every partition again for each context cost `lookahead` times the checks)."""
        position = self._partition_order.get(context_key(self.name, context))
        if position is None:
            return
        if position == 0:
            self._announced_up_to = 0  # a sync of the stream (again) starts
        start = max(position + 1, self._announced_up_to)
        end = position + 1 + self.lookahead
        for upcoming in self._partition_list[start:end]:
            self.announce(upcoming)
        self._announced_up_to = max(self._announced_up_to, end)

    #: The partitions before this position were announced (`_announce_partitions_after`).
    _announced_up_to: int = 0

    @cached_property
    def _partition_list(self) -> list[dict[str, Any]]:
        return list(self.partitions or []) if self.parent_stream_type is None else []

    @cached_property
    def _partition_order(self) -> dict[Any, int]:
        return {context_key(self.name, p): i for i, p in enumerate(self._partition_list)}
