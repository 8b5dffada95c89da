"""Query windows: the date ranges a run asks for, and the bookmarks that follow them.

Amazon meters requests, not data: an empty range costs as much as a full one. So a run
asks for the whole range it needs (bookmark minus `lookback_window`, else `start_date`,
up to the start of the run) in as few queries as Amazon allows: one where Amazon
documents no limit on the range, windows of the documented longest range otherwise.

Instants (window bounds, bookmarks, Amazon's timestamps) are parsed by `instant` here, one
parser for every stream: Amazon writes `Z`, singer-sdk `+00:00`, and some fields carry no
offset at all (UTC, as Amazon documents).

A bookmark moves to a window's end only after every record of the window was emitted,
so a killed run repeats the window it was in. A range whose query keeps being
interrupted (killed or failed runs) is split in two more each time (see
`halvings_after_interruptions`), so a large first run still makes progress when it is never
allowed to finish in one go.
"""

from __future__ import annotations

import datetime
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tap_spapi.runtime.state import INTERRUPTED_RUNS, QUERY_IN_FLIGHT, WINDOW_BOOKMARK

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from singer_sdk.helpers.types import Context


# Splitting stops here: 64 windows, or windows of a day, whichever is longer.
MAX_HALVINGS = 6
SHORTEST_SPLIT = datetime.timedelta(days=1)


class _RunClock(Protocol):
    @property
    def run_started_at(self) -> datetime.datetime: ...


class _Bookmarks(Protocol):
    """The stream's bookmarks (bookmarks.py, which uses this module)."""

    def start_after(self, bookmark: str | None) -> datetime.datetime: ...

    def save(self, context: Context | None, **values: Any) -> None: ...


class WindowedStream(Protocol):
    """What the window bookmarks need of a stream (the base stream, stream.py, is one): a
    protocol, so that the base stream can use this module without the two importing
    each other."""

    @property
    def run(self) -> _RunClock: ...

    @property
    def bookmarks(self) -> _Bookmarks: ...

    def get_context_state(self, context: Context | None) -> dict[str, Any]: ...


def isoformat(moment: datetime.datetime) -> str:
    """`2026-01-02T03:04:05Z`: the form Amazon's examples use."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def instant(value: str) -> datetime.datetime:
    """An ISO 8601 / RFC 3339 instant as an aware datetime, UTC when it names no offset
    (raises ValueError when it is not one)."""
    moment = datetime.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def instant_or_none(value: object) -> datetime.datetime | None:
    """`instant(value)`, or None for a missing or malformed value (fields of Amazon's
    that a decision can do without)."""
    if not value:
        return None
    try:
        return instant(str(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class QueryWindow:
    """One `start`..`end` range of a query (Amazon's bounds are inclusive)."""

    start: datetime.datetime
    end: datetime.datetime

    @property
    def length(self) -> datetime.timedelta:
        """How much time the window covers (a plain timedelta: `start_date` comes from
        pendulum, whose durations do not divide by plain ones)."""
        return datetime.timedelta(seconds=(self.end - self.start).total_seconds())


def context_in_window(context: Mapping[str, Any], window: QueryWindow) -> dict[str, Any]:
    """The request context of `window` in `context`'s partition.

    ISO strings, not the window object: the SDK logs contexts as JSON metrics.
    """
    return {**context, "window_start": isoformat(window.start), "window_end": isoformat(window.end)}


def window_of(context: Mapping[str, Any]) -> QueryWindow | None:
    """The window a `context_in_window` names (None: a context without one)."""
    if "window_start" not in context:
        return None
    return QueryWindow(instant(context["window_start"]), instant(context["window_end"]))


def split_windows(
    start: datetime.datetime, end: datetime.datetime, longest: datetime.timedelta | None
) -> Iterator[QueryWindow]:
    """Consecutive windows from `start` to `end`, none longer than `longest` (None:
    one window, the whole range)."""
    while start < end:
        window_end = end if longest is None else min(start + longest, end)
        yield QueryWindow(start, window_end)
        start = window_end


def range_after_bookmark(stream: WindowedStream, context: Context) -> QueryWindow:
    """`context`'s window bookmark minus the lookback (else `start_date`) to the start of
    the run: what this run must ask for."""
    bookmark = stream.get_context_state(context).get(WINDOW_BOOKMARK)
    return QueryWindow(stream.bookmarks.start_after(bookmark), stream.run.run_started_at)


def mark_in_flight(stream: WindowedStream, context: Context, windows: int) -> None:
    """Note in the state that this run reads the range, in `windows` windows (a power of
    two): found there by the next run, it means this run did not finish, and the next
    asks the range in twice as many (`halvings_after_interruptions`)."""
    halvings = (windows - 1).bit_length()
    stream.bookmarks.save(context, **{QUERY_IN_FLIGHT: True, INTERRUPTED_RUNS: halvings})


def range_read(stream: WindowedStream, context: Context) -> None:
    """The range was read to its end: the next run asks it whole again."""
    state = stream.get_context_state(context)
    state.pop(QUERY_IN_FLIGHT, None)
    state.pop(INTERRUPTED_RUNS, None)
    stream.bookmarks.save(context)


def windows_after_bookmark(
    stream: WindowedStream, context: Context, longest: datetime.timedelta | None
) -> Iterator[QueryWindow]:
    """The range after `context`'s bookmark in windows none longer than `longest`."""
    needed = range_after_bookmark(stream, context)
    return split_windows(needed.start, needed.end, longest)


def halvings_after_interruptions(state: Mapping[str, Any], needed: QueryWindow) -> int:
    """How many times to halve `needed`: once per run in a row that left it unfinished,
    as long as the windows stay a day or longer.

    Called once per run and partition, before this run marks its own query in flight.
    """
    halvings = int(state.get(INTERRUPTED_RUNS) or 0) + bool(state.get(QUERY_IN_FLIGHT))
    halvings = min(halvings, MAX_HALVINGS)
    while halvings and needed.length / 2**halvings < SHORTEST_SPLIT:
        halvings -= 1
    return halvings


def halved(needed: QueryWindow, halvings: int) -> list[QueryWindow]:
    """`needed` in 2**`halvings` contiguous windows of equal length (none when empty)."""
    if needed.length <= datetime.timedelta(0):
        return []
    parts = 2**halvings
    bounds = [needed.start + needed.length * i / parts for i in range(parts)] + [needed.end]
    return [QueryWindow(a, b) for a, b in itertools.pairwise(bounds)]
