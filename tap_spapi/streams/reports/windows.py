"""Report windows: the request context of each, and the longest range a report type
accepts when Amazon does not document it.

Windows themselves (splitting, bookmarks) are windows.py's; this is what only reports
need: createReport's range limit is found by asking, and each window is one context.
"""

from __future__ import annotations

import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from tap_spapi.keys import ACCOUNT_KEY
from tap_spapi.streams.base.windows import QueryWindow, instant, isoformat
from tap_spapi.wire.responses import SPAPIRequestError, amazon_error

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

# Reports are kept 90 days ("Report Type Values"; changelog 2024-05-30, where a type
# states none); getReports looks no further back. This is about documents, not data.
RETENTION = datetime.timedelta(days=90)
# Halving stops here: a refusal of a shorter range is not about its length.
SHORTEST_PROBE = DAY = datetime.timedelta(days=1)


def longest_range(
    needed: QueryWindow,
    *,
    remembered_days: float | None,
    request: Callable[[QueryWindow], None],
    refused: Callable[[datetime.timedelta, SPAPIRequestError], None],
) -> datetime.timedelta:
    """The longest range createReport accepts: the one it accepted before (state), else
    found now by `request`ing the whole range first, halved while Amazon refuses it.

    The accepted probe is this run's first report, so finding the limit costs one
    refused createReport per halving; `refused` hears of each, with the next length.
    """
    candidate = needed.length
    if remembered_days:
        candidate = min(candidate, datetime.timedelta(days=float(remembered_days)))
    while True:
        try:
            request(QueryWindow(needed.start, needed.start + candidate))
            return candidate
        except SPAPIRequestError as exc:
            if not refuses_range(exc) or candidate <= SHORTEST_PROBE:
                raise
            refused(candidate, exc)
            candidate /= 2


def refuses_range(exc: SPAPIRequestError) -> bool:
    """A 400 whose message is about the data range (too long), not another mistake."""
    if exc.status != HTTPStatus.BAD_REQUEST:
        return False
    text = amazon_message(exc).lower()
    return "range" in text or "datastarttime" in text or "dataendtime" in text


def amazon_message(exc: SPAPIRequestError) -> str:
    """`Code: message` of Amazon's first error."""
    error = amazon_error(exc.response)
    return f"{error.code}: {error.message}"


def window_context(account: str, window: QueryWindow | None) -> dict[str, Any]:
    """The request context of one window (ISO strings: the SDK logs contexts)."""
    if window is None:
        return {ACCOUNT_KEY: account}
    start, end = isoformat(window.start), isoformat(window.end)
    return {ACCOUNT_KEY: account, "window_start": start, "window_end": end}


def window_in(context: Mapping[str, Any]) -> QueryWindow | None:
    """The window a request context is for (None: a snapshot)."""
    if "window_start" not in context:
        return None
    return QueryWindow(instant(context["window_start"]), instant(context["window_end"]))


def describe(window: QueryWindow | None) -> str:
    """A window for messages."""
    if window is None:
        return "the present (no data range)"
    return f"{isoformat(window.start)}..{isoformat(window.end)}"


def beyond_retention(stream: str, start: datetime.datetime) -> str:
    """What the 90-day retention limits when data from before it is asked for: the
    search for reports to reuse, not the history."""
    days = RETENTION.days
    return (
        f"{stream}: asking for data from {isoformat(start)}. Amazon keeps report documents "
        f"{days} days and documents no limit on how far back this type's data goes, so "
        f"nothing older is capped; only the search for reports to reuse looks back {days} days."
    )
