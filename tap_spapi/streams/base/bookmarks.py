"""A stream's bookmarks: what it writes to its state beside singer-sdk's own values.

`Bookmarks`, a collaborator each stream holds (`SPAPIStream.bookmarks`), saves the
bookmarks singer-sdk cannot derive from a record's replication key (a query window's
upper bound, a label's final status) and emits them at once, keeps the books of the
streams that track identifiers per account (state.py), and says where a run's query
after a bookmark starts. `indexed_state_manager` makes the stream's state manager.

What it reads of its stream is `BookmarkedStream`.
"""

from __future__ import annotations

import datetime
import threading
from typing import TYPE_CHECKING, Any, Protocol

from tap_spapi.keys import ACCOUNT_KEY
from tap_spapi.runtime.state import REPLICATION_KEY, IdentifierBook, IndexedStateManager
from tap_spapi.streams.base.windows import instant

if TYPE_CHECKING:
    from collections.abc import Sequence

    from singer_sdk.helpers.types import Context, TapState
    from singer_sdk.streams._state import StreamStateManager

    from tap_spapi.runtime.run import Run


class BookmarkedStream(Protocol):
    """What the bookmarks read of their stream (SPAPIStream has it all)."""

    name: str

    @property
    def run(self) -> Run: ...
    @property
    def tap_state(self) -> TapState: ...
    @property
    def replication_key(self) -> str | None: ...
    @property
    def state_manager(self) -> StreamStateManager: ...
    def get_context_state(self, context: Context | None) -> dict[str, Any]: ...
    def _write_state_message(self) -> None: ...


class StateManagerMaker(Protocol):
    """What singer-sdk makes a stream's state manager from (members of `Stream`)."""

    tap_name: str

    @property
    def name(self) -> str: ...
    @property
    def _tap_state(self) -> TapState: ...
    @property
    def state_partitioning_keys(self) -> Sequence[str] | None: ...
    @property
    def is_sorted(self) -> bool: ...
    @property
    def check_sorted(self) -> bool: ...


def indexed_state_manager(stream: StateManagerMaker) -> IndexedStateManager:
    """singer-sdk's manager, made as it makes it, with partitions found through an
    index (state.IndexedStateManager) instead of a search of the list."""
    return IndexedStateManager(
        tap_name=stream.tap_name,
        stream_name=stream.name,
        tap_state=stream._tap_state,
        state_partitioning_keys=stream.state_partitioning_keys,
        is_sorted=stream.is_sorted,
        check_sorted=stream.check_sorted,
    )


# Prefetching workers, readers and the main thread ask `since` alike.
_SINCE_LOCK = threading.Lock()


class Bookmarks:
    """One stream's bookmarks beyond singer-sdk's, and the books it keeps per account."""

    def __init__(self, stream: BookmarkedStream) -> None:
        self._stream = stream
        self._books: dict[str, IdentifierBook] = {}
        self._at_start: dict[str, str | None] = {}
        self._since: dict[str, datetime.datetime] = {}

    def save(self, context: Context | None, **values: Any) -> None:
        """Store `values` in the partition's state and emit a STATE message at once.

        For bookmarks singer-sdk cannot derive from a record's replication key (a query
        window's upper bound, a label's final status): written beside the SDK's own
        values and flushed immediately, so a killed run resumes after the last finished
        window instead of from the previous run's bookmark.
        """
        if self._stream.run.failures.holds(self._stream.name, (context or {}).get(ACCOUNT_KEY, "")):
            return  # something under this bookmark was missed this run
        self.note(context, **values)

    def note(self, context: Context | None, **values: Any) -> None:
        """Store `values` in the partition's state and emit a STATE message at once,
        whatever failed: for what moves no bookmark (`save` checks first)."""
        self._stream.get_context_state(context).update(values)
        self.flush()

    def flush(self) -> None:
        """Emit a STATE message now with what changed in the stream's state."""
        self._stream.state_manager.is_flushed = False
        self._stream._write_state_message()

    def book(self, account: str) -> IdentifierBook:
        """The identifiers (labels) of `account` in this stream's state, for the streams
        that keep a book per account instead of a partition per identifier (state.py)."""
        book = self._books.get(account)
        if book is None:
            book = IdentifierBook(self._stream.get_context_state({ACCOUNT_KEY: account}))
            self._books[account] = book
        return book

    def keep(
        self, book: IdentifierBook, kind: str, value: str, record: dict[str, Any], *, final: bool
    ) -> None:
        """After `record` of identifier (label) `value` was handed to the SDK: keep its
        newest event time (`post_process` set the replication key), or that it ended.
        A record `post_process` dropped for being empty has neither: nothing is kept."""
        latest = record.get(self._stream.replication_key or "")
        second = int(instant(latest).timestamp()) if latest else 0
        if second or final:
            now = self._stream.run.started_second
            book.loaded(kind, value, second or now, final=final)
            self._stream.state_manager.is_flushed = False

    @property
    def lookback(self) -> datetime.timedelta:
        """Setting `lookback_window`: how far before a bookmark each run asks again."""
        return datetime.timedelta(minutes=self._stream.run.settings.lookback_window)

    def start_after(self, bookmark: str | None) -> datetime.datetime:
        """Where this run's query after `bookmark` starts: the bookmark minus the
        lookback, else the run's default start (`start_date`)."""
        return instant(bookmark) - self.lookback if bookmark else self._stream.run.default_start

    def state_at_start(self, account: str) -> dict[str, Any]:
        """`account`'s partition as the run found it (read, not written: readers and
        workers call this before and while the stream syncs)."""
        stream = self._stream
        partitions = stream.tap_state.get("bookmarks", {}).get(stream.name, {}).get("partitions")
        return next((p for p in partitions or [] if p.get("context") == {ACCOUNT_KEY: account}), {})

    def at_start(self, account: str) -> str | None:
        """`account`'s bookmark as the run found it, read once: the stream's sync moves it."""
        with _SINCE_LOCK:
            if account not in self._at_start:
                value = self.state_at_start(account).get(REPLICATION_KEY)
                self._at_start[account] = value if isinstance(value, str) else None
            return self._at_start[account]

    def since(self, account: str) -> datetime.datetime:
        """Where this run's queries of `account` start, fixed for the run: its bookmark at
        the start minus the lookback, else `start_date` (`start_after`)."""
        bookmark = self.at_start(account)
        with _SINCE_LOCK:
            if account not in self._since:
                self._since[account] = self.start_after(bookmark)
            return self._since[account]

    def since_if_asked(self, account: str) -> datetime.datetime | None:
        """`since` of `account` if this run asked it already, else None (nothing read yet)."""
        return self._since.get(account)
