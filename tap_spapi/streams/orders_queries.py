"""The orders stream's searchOrders queries: planned once per account and run (windows,
and batches of marketplaces in each), and what their pages cost (the log lines).

One query per account and per 50 marketplaces, from the bookmark on; after runs that
did not finish the range (killed, or stopped by a page Amazon kept answering wrongly:
windows.py), the range in halves, each but the last bounded by `lastUpdatedBefore`, so
the next run moves past what this one read.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from tap_spapi.keys import ACCOUNT_KEY
from tap_spapi.runtime.progress import about, describe_plan
from tap_spapi.streams.base.windows import (
    QueryWindow,
    halved,
    halvings_after_interruptions,
    isoformat,
)

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterator

    from singer_sdk.helpers.types import Context

    from tap_spapi.wire.pacing import RateLimiter

# searchOrders takes at most 50 `marketplaceIds` and 100 orders a page.
MARKETPLACES_PER_QUERY = 50
PAGE_SIZE = 100
# A `lastUpdatedBefore` must be at least two minutes before the request (the model).
SETTLE = datetime.timedelta(minutes=2)


def marketplace_batches(marketplace_ids: list[str]) -> list[list[str]]:
    """The account's marketplaces in as few queries as `marketplaceIds` allows.

    A query costs a request per page however few orders it finds, so one query over
    every marketplace never costs more than one per marketplace: pages of a combined
    query fill up, per-marketplace ones end half empty (and an empty one still costs).
    """
    return [
        marketplace_ids[i : i + MARKETPLACES_PER_QUERY]
        for i in range(0, len(marketplace_ids), MARKETPLACES_PER_QUERY)
    ]


class QueryPlan:
    """Each account's searchOrders queries of this run, window by window, one per batch
    of marketplaces in each; fixed when first asked for, so that a walk started early
    is the query synced.

    `marketplaces` are an account's (none when they cannot be had), `range_start` and
    `state` the stream's (the start after the bookmark, the account's state), `until`
    the start of the run.
    """

    def __init__(
        self,
        *,
        marketplaces: Callable[[str], list[str]],
        range_start: Callable[[Context], datetime.datetime],
        state: Callable[[Context], dict[str, Any]],
        until: datetime.datetime,
    ) -> None:
        self._marketplaces = marketplaces
        self._range_start = range_start
        self._state = state
        self._until = until
        self._planned: dict[str, list[list[dict[str, Any]]]] = {}

    def windows_of(self, context: Context) -> list[list[dict[str, Any]]]:
        """The account's queries, window by window (planned on the first ask)."""
        account = context[ACCOUNT_KEY]
        if account not in self._planned:
            self._planned[account] = self._plan(context)
        return self._planned[account]

    def queries_of(self, context: Context) -> Iterator[dict[str, Any]]:
        """The account's queries, one after the other."""
        for queries in self.windows_of(context):
            yield from queries

    def _plan(self, context: Context) -> list[list[dict[str, Any]]]:
        account = context[ACCOUNT_KEY]
        batches = marketplace_batches(self._marketplaces(account))
        start = min(self._range_start(context), _now() - SETTLE)
        needed = QueryWindow(start, max(self._until, start))
        halvings = halvings_after_interruptions(self._state(context), needed)
        windows = halved(needed, halvings) or [needed]
        planned: list[list[dict[str, Any]]] = []
        for index, window in enumerate(windows if batches else []):
            last = index == len(windows) - 1
            bound = {} if last else {"last_updated_before": isoformat(window.end)}
            planned.append(
                [
                    {
                        ACCOUNT_KEY: account,
                        "marketplace_ids": ",".join(batch),
                        "last_updated_after": isoformat(window.start),
                        **bound,
                    }
                    for batch in batches
                ]
            )
        return planned


class PageCost:
    """What searchOrders' pages cost, said before the first and while they are read."""

    def __init__(self, stream: str, operation_id: str, logger: logging.Logger) -> None:
        self._stream = stream
        self._operation_id = operation_id
        self._logger = logger
        self._pages_read: dict[str, int] = {}

    def say_cost(self, account: str, queries: int, limiter: RateLimiter) -> None:
        """Before the first page: what a page costs once the burst is spent."""
        plan = limiter.plan(self._operation_id)
        # DEBUG: a run within the burst waits for nothing, and once it waits, each page
        # says how long the next takes (`say_progress`).
        self._logger.debug(
            "%s of account '%s': %d searchOrders queries, one request per page of %d "
            "orders; %s: the first %d pages %s, each further page %s",
            self._stream,
            account,
            queries,
            PAGE_SIZE,
            describe_plan(self._operation_id, plan),
            int(plan.capacity),
            about(limiter.seconds_for(self._operation_id, int(plan.capacity))),
            about(1 / plan.paced_rate),
        )

    def say_progress(self, account: str, wait: float) -> None:
        """Once the burst is spent, each page waits minutes for the next: say so."""
        pages = self._pages_read[account] = self._pages_read.get(account, 0) + 1
        if wait >= 1:
            self._logger.info(
                "%s of account '%s': %d pages read; the next in %s (searchOrders' usage plan)",
                self._stream,
                account,
                pages,
                about(wait),
            )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
