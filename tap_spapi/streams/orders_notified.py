"""The orders ORDER_CHANGE notified this run: read first, each with getOrder, and
remembered, so that searchOrders' pages (the backstop) do not emit them again.

What it reads of its stream is `NotifiedStream` (base/notified.py), and the stream's
reading of a decoded body into records (`records_in`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tap_spapi.keys import ACCOUNT_KEY
from tap_spapi.runtime.inbox import ORDER_CHANGE
from tap_spapi.streams.base.notified import notified_bodies
from tap_spapi.streams.base.windows import instant_or_none

if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable, Iterable, Iterator

    from singer_sdk.helpers.types import Context

    from tap_spapi.streams.base.notified import NotifiedStream
    from tap_spapi.wire.account import Account

# One order by id (the notified ones): 0.5/s after a burst of 30.
GET_ORDER = "orders_2026-01-01.getOrder"


class NotifiedOrders:
    """One orders stream's notified orders: each order read by getOrder before any page,
    and the version of each emitted this run (the run's memory is the notified orders',
    not the history's)."""

    def __init__(
        self,
        stream: NotifiedStream,
        *,
        replication_key: str,
        records_in: Callable[[Any, Account], Iterable[dict[str, Any]]],
    ) -> None:
        self._stream = stream
        self._replication_key = replication_key
        self._records_in = records_in
        # (account, orderId) -> lastUpdatedTime of the notified orders emitted this run.
        self._versions: dict[tuple[str, str], datetime.datetime | None] = {}

    def read(
        self, context: Context, queries: list[dict[str, Any]], included_data: list[str]
    ) -> Iterator[dict[str, Any]]:
        """The orders ORDER_CHANGE notified this run, each by getOrder, before any page.

        Only orders of the marketplaces the `queries` ask (the notification's `Summary`
        names it): the user's choice of marketplaces holds for notified orders too. An
        order getOrder refuses is left to searchOrders, the backstop.
        """
        inbox = self._stream.run.inbox
        if inbox is None:
            return
        account = self._stream.account_for(context)
        asked = {m for query in queries for m in query["marketplace_ids"].split(",")}
        order_ids: dict[str, None] = {}  # each once, in the order notified
        for notification in inbox.of_type(account.name, ORDER_CHANGE):
            change = notification.payload.get("OrderChangeNotification") or {}
            marketplace = (change.get("Summary") or {}).get("MarketplaceId")
            if change.get("AmazonOrderId") and (marketplace is None or marketplace in asked):
                order_ids[str(change["AmazonOrderId"])] = None
        params = {"includedData": ",".join(included_data)} if included_data else None
        for _, body in notified_bodies(
            self._stream,
            context,
            order_ids,
            GET_ORDER,
            "orderId",
            params=params,
            backstop="searchOrders",
        ):
            order = (body or {}).get("order")
            # The records of searchOrders' shape: the one order as its page of one.
            for record in self._records_in({"orders": [order] if order else []}, account):
                version = instant_or_none(record[self._replication_key])
                self._versions[(account.name, record["orderId"])] = version
                yield record

    def emitted(self, record: dict[str, Any]) -> bool:
        """Whether `record` is the version of a notified order emitted this run."""
        key = (record[ACCOUNT_KEY], record["orderId"])
        if key not in self._versions:
            return False
        return self._versions[key] == instant_or_none(record[self._replication_key])
