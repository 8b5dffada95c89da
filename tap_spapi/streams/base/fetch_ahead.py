"""Fetching ahead of singer-sdk's sync: what a stream announces to the run's pools.

singer-sdk syncs one context at a time; the pools in runtime/pools.py run requests ahead
of it. `AheadOfSync` is a stream's side of that, a collaborator each stream holds
(`SPAPIStream.ahead`): which contexts to announce and when (the partitions after the
current one, the children of records about to be emitted, every top-level context at
the start of the run), and taking the results back in the order the SDK asks for them,
so the output is the same as a sequential run's.

What it reads of its stream is `AheadStream`: whether a context is wanted, and its
records. A stream whose fetching ahead differs gives its own steps when it makes its
`AheadOfSync` (`contexts`, `lane`, `fetch`, `records`, `start`, `announces`).
"""

from __future__ import annotations

import functools
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from tap_spapi.runtime.pools import context_key

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from singer_sdk.helpers.types import Context

    from tap_spapi.runtime.pools import Lane
    from tap_spapi.runtime.run import Run
    from tap_spapi.wire.account import Account

    Records = list[dict[str, Any]]

# At most this many contexts fetched early wait to be taken, per stream: a tracking
# answer is a few kilobytes, so this bounds the memory of fetching ahead of a sync that
# starts hours later (a large seller's first run) to tens of megabytes.
EARLY_LIMIT = 10_000


class AheadStream(Protocol):
    """What fetching ahead reads of its stream (SPAPIStream has it all)."""

    name: str
    child_streams: list[Any]

    @property
    def run(self) -> Run: ...
    @property
    def parent_stream_type(self) -> Any: ...
    @property
    def partitions(self) -> list[dict[str, Any]] | None: ...
    @property
    def selected(self) -> bool: ...
    @property
    def has_selected_descendents(self) -> bool: ...
    @property
    def ahead(self) -> AheadOfSync: ...
    @property
    def operation_id(self) -> str: ...
    def account_for(self, context: Context | None) -> Account: ...
    def wants(self, context: Context | None) -> bool: ...
    def abandoned(self, context: Context | None) -> bool: ...
    def request_records(self, context: Context | None) -> Iterable[dict[str, Any]]: ...
    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None: ...
    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[Context | None]: ...


class AheadOfSync:
    """One stream's requests that the run's pools may run before the SDK asks for them.

    `prefetch`: a per-id stream (children, per-label partitions) whose requests are
    fetched ahead in the account's worker pool while the main thread emits. The steps a
    stream may give instead of the defaults:
    - `contexts()`: the contexts a read-ahead stream reads this run, in order (default:
      its partitions);
    - `lane(context)`: the usage plan a fetch first waits on (the pool runs first the
      fetch whose plan has a token soonest; default: the stream's operation's);
    - `fetch(context)`: in a worker, what the sync takes of `context` (default: its
      records from singer-sdk's loop, their children announced);
    - `records(context)`: what the sync takes (default: the fetched records);
    - `start()`: what the start of the run does (default: announce every context to
      the readers, with `read_ahead`);
    - `announces(context)`: whether this stream fetches `context` ahead (default:
      whether it wants it).
    """

    def __init__(
        self,
        stream: AheadStream,
        *,
        prefetch: bool,
        contexts: Callable[[], list[Context | None]] | None = None,
        lane: Callable[[Context | None], Lane | None] | None = None,
        fetch: Callable[[Context | None], Records] | None = None,
        records: Callable[[Context | None], Iterable[dict[str, Any]]] | None = None,
        start: Callable[[], None] | None = None,
        announces: Callable[[Context | None], bool] | None = None,
    ) -> None:
        self._stream = stream
        self.prefetch = prefetch
        self._contexts = contexts or self._partitions
        self._lane = lane or self._operation_lane
        self._fetch = fetch or self._fetch_with_children
        self._records = records
        self._start = start or self.announce_to_readers
        self._announces = announces or stream.wants
        self._early: set[Any] = set()  # keys fetched early and not taken yet (main thread)
        self._announced_up_to = 0  # the partitions before it were announced

    @property
    def _run(self) -> Run:
        return self._stream.run

    def records_of(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """`context`'s records: taken from the pool (fetched ahead, else fetched now)."""
        if self._records is not None:
            return self._records(context)
        stream = self._stream
        key = context_key(stream.name, context)
        if self.prefetch:
            self._early.discard(key)
            self._announce_partitions_after(context)
            return self._run.prefetcher.take(key, lambda: list(stream.request_records(context)))
        self._run.start_reading_ahead()
        return self._run.read_ahead.take(key, lambda: stream.request_records(context))

    def fetch_early(self, context: Context | None) -> None:
        """Fetch `context` in the pool now, long before the SDK syncs it, unless
        `EARLY_LIMIT` early results wait already (each holds its records in memory)."""
        if not self._run.prefetcher.workers or len(self._early) >= EARLY_LIMIT:
            return
        key = context_key(self._stream.name, context)
        if key not in self._early:
            self._early.add(key)
            self.announce(context)

    def fetch_known_early(self) -> None:
        """Fetch early every context known when the run starts (its partitions now)."""
        for context in self._stream.partitions or []:
            self.fetch_early(context)

    def start_reading(self) -> None:
        """At the start of the run (a `read_ahead` stream): the stream's `start`."""
        self._start()

    def announce_to_readers(self) -> None:
        """Announce every context of this run to the read-ahead readers.

        A reader also announces the children of what it reads, so another account's
        order → shipment → package chain runs while this account's syncs (the SDK
        syncs one context at a time; the children are taken from the pool later, once).
        """
        stream = self._stream
        for context in self._contexts():
            if stream.wants(context):
                self._run.read_ahead.announce(
                    context_key(stream.name, context),
                    functools.partial(self._read_with_children, context),
                )

    def _partitions(self) -> list[Context | None]:
        return [*self._stream.partitions] if self._stream.partitions else [None]

    def _fetch_with_children(self, context: Context | None) -> Records:
        stream = self._stream
        return self.fetched_with_children(context, lambda: list(stream.request_records(context)))

    def _operation_lane(self, context: Context | None) -> Lane | None:
        stream = self._stream
        return stream.account_for(context).limiter.lane(stream.operation_id)

    def _read_with_children(self, context: Context | None) -> Iterator[dict[str, Any]]:
        return self.announcing_children(self._stream.request_records(context), context)

    def announce(self, context: Context | None) -> None:
        """Fetch `context`'s records in the account's pool, for the sync to take.

        Once fetched, the worker announces the records' own children at once, so a
        grandchild chain (order → shipments → package tracking) stays in flight across
        parents instead of waiting for the main thread to reach each parent.
        """
        if self._announces(context):
            self._run.prefetcher.submit(
                context_key(self._stream.name, context),
                functools.partial(self._fetch, context),
                priority=-self.depth,
                lane=self._lane(context),
            )

    @functools.cached_property
    def depth(self) -> int:
        """0 for a top-level stream, 1 for its children, 2 for grandchildren."""
        depth, parent = 0, self._stream.parent_stream_type
        while parent is not None:
            depth, parent = depth + 1, parent.parent_stream_type
        return depth

    def fetched_with_children(
        self, context: Context | None, fetch: Callable[[], Records]
    ) -> Records:
        """In a worker: `fetch()`'s records of `context`, their children announced."""
        if self._stream.abandoned(context):
            return []  # e.g. skipped for a missing role since it was announced
        records = fetch()
        children = self._prefetching_children()
        if children:
            for record in records:
                self._announce_children_of(record, context, children)
        return records

    def _prefetching_children(self) -> list[AheadStream]:
        if not self._run.prefetcher.workers:
            return []  # sequential mode: the SDK fetches each child when it gets there
        return [
            child
            for child in self._stream.child_streams
            if isinstance(getattr(child, "ahead", None), AheadOfSync)
            and child.ahead.prefetch
            and (child.selected or child.has_selected_descendents)
        ]

    def _announce_children_of(
        self, record: dict[str, Any], context: Context | None, children: list[AheadStream]
    ) -> None:
        # The SDK derives child contexts from post-processed records; work on a copy so
        # the record itself is post-processed once, by the SDK.
        processed = self._stream.post_process(dict(record), context)
        if processed is None:
            return
        for child_context in self._stream.generate_child_contexts(processed, context):
            for child in children:
                child.ahead.announce(child_context)

    @property
    def lookahead(self) -> int:
        """How many contexts ahead to announce: enough to keep every worker busy."""
        return 4 * self._run.prefetcher.workers

    def announcing_children(
        self, records: Iterable[dict[str, Any]], context: Context | None
    ) -> Iterator[dict[str, Any]]:
        """`records`, each one's children announced `lookahead` records before the SDK
        syncs them (a sliding window: the pool never drains at a batch boundary)."""
        children = self._prefetching_children()
        if not children:
            yield from records
            return
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
        position = self._partition_order.get(context_key(self._stream.name, context))
        if position is None:
            return
        if position == 0:
            self._announced_up_to = 0  # a sync of the stream (again) starts
        start = max(position + 1, self._announced_up_to)
        end = position + 1 + self.lookahead
        for upcoming in self._partition_list[start:end]:
            self.announce(upcoming)
        self._announced_up_to = max(self._announced_up_to, end)

    @functools.cached_property
    def _partition_list(self) -> list[dict[str, Any]]:
        stream = self._stream
        return list(stream.partitions or []) if stream.parent_stream_type is None else []

    @functools.cached_property
    def _partition_order(self) -> dict[Any, int]:
        name = self._stream.name
        return {context_key(name, p): i for i, p in enumerate(self._partition_list)}
