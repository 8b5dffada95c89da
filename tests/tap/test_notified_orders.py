"""Notified orders (issue 29): ORDER_CHANGE reads the named orders with getOrder before
searchOrders' pages, FULFILLMENT_ORDER_STATUS puts the named MCF orders first; each
order goes out once a run, and a run without notifications is what it was.

The inbox is a stand-in of its own (`FakeInbox`): the notifications are built from the
examples of Amazon's schemas (models/notifications/), naming orders of the data set.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from spapi_standin import StandIn, StandInConfig
from tap_spapi.runtime.inbox import (
    MCF_ORDER_STATUS,
    ORDER_CHANGE,
    Inbox,
    Notification,
    parse_notification,
)
from tap_spapi.tap import TapSpapi
from testkit import MODELS, key_of, run_tap, select_only, tap_config

if TYPE_CHECKING:
    from testkit import SingerOutput

SEED = 11  # the suite's data set (a worker builds it once)
GET_ORDER = "orders_2026-01-01.getOrder"
ORDER_STREAMS = {"orders", "order_items", "order_packages"}
MCF_STREAMS = {"outbound_orders", "outbound_shipments", "outbound_order_items"}


def example(schema: str) -> dict[str, Any]:
    """The first example of a notification schema of Amazon's."""
    document = json.loads((MODELS / "notifications" / schema).read_text(encoding="utf-8"))
    return copy.deepcopy(document["examples"][0])


def notification(kind: str, number: int, **fields: Any) -> Notification:
    """A notification of `kind` whose body (the schema's example) has `fields`."""
    schema, body_key = {
        ORDER_CHANGE: ("OrderChangeNotification.json", "OrderChangeNotification"),
        MCF_ORDER_STATUS: (
            "FulfillmentOrderStatusNotification.json",
            "FulfillmentOrderStatusNotification",
        ),
    }[kind]
    message = example(schema)
    message["NotificationMetadata"]["NotificationId"] = f"{kind}-{number}"
    body = message["Payload"][body_key]
    for name, value in fields.items():
        if isinstance(value, dict):
            body[name].update(value)
        else:
            body[name] = value
    parsed = parse_notification(json.dumps(message))
    assert parsed is not None
    return parsed


@dataclass
class FakeInbox:
    """What the streams ask of `Inbox`, every account's notifications the same."""

    notifications: list[Notification] = field(default_factory=list)
    asked: list[tuple[str, str]] = field(default_factory=list)

    @property
    def news(self) -> dict[str, dict[str, Notification]]:
        return {}

    def covers(self, account: str, kind: str) -> bool:
        return any(n.notification_type == kind for n in self.notifications)

    def of_type(self, account: str, kind: str) -> list[Notification]:
        self.asked.append((account, kind))
        return [n for n in self.notifications if n.notification_type == kind]

    def release(self) -> None:
        pass

    # The real reading of the notifications' payloads, over the fake's `of_type`.
    mcf_orders = Inbox.mcf_orders


def run_with(
    monkeypatch: pytest.MonkeyPatch, inbox: FakeInbox | None, config: dict[str, Any], streams: set
) -> SingerOutput:
    monkeypatch.setattr(TapSpapi, "_open_inbox", lambda _tap: inbox)
    return run_tap(config, catalog=select_only(config, streams))


def keys(output: SingerOutput, stream: str) -> list[Any]:
    return [key_of(stream, record) for record in output.records(stream)]


def records_by_key(output: SingerOutput, stream: str) -> dict[Any, dict[str, Any]]:
    return {key_of(stream, record): record for record in output.records(stream)}


def asked_ids(server: StandIn, operation: str) -> list[str]:
    """The last path segment of each request to `operation`: the id asked."""
    return [urlsplit(target).path.rsplit("/", 1)[-1] for target in server.stats.targets(operation)]


def assert_once(output: SingerOutput, streams: set[str]) -> None:
    for stream in streams:
        twice = [key for key, n in Counter(keys(output, stream)).items() if n > 1]
        assert not twice, f"{stream} emitted twice: {twice[:3]}"


def listing_from_the_middle(
    server: StandIn, **settings: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The MCF orders by status date, and a config whose listing starts after the oldest
    half of them: the oldest are outside its window."""
    by_date = sorted(server.dataset.outbound_orders, key=lambda o: o["statusUpdatedDate"])
    start = by_date[len(by_date) // 2]["statusUpdatedDate"]
    return by_date, tap_config(server, start_date=start, **settings)


def mcf_status_inbox(order_ids: list[str]) -> FakeInbox:
    """A FULFILLMENT_ORDER_STATUS notification naming each order, in that order."""
    return FakeInbox(
        [
            notification(MCF_ORDER_STATUS, n, SellerFulfillmentOrderId=order_id)
            for n, order_id in enumerate(order_ids)
        ]
    )


def assert_listed_as_before(after: SingerOutput, before: SingerOutput) -> None:
    """The records of the run without notifications are in `after` as they were."""
    for stream in MCF_STREAMS:
        was = records_by_key(before, stream)
        mine = {k: r for k, r in records_by_key(after, stream).items() if k in was}
        assert mine == was, stream


@pytest.mark.parametrize("concurrency", [1, 4], ids=["sequential", "concurrent"])
def test_order_change_reads_the_named_orders_first_once_each(monkeypatch, concurrency):
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        config = tap_config(server, max_concurrency=concurrency)
        before = run_with(monkeypatch, None, config, ORDER_STREAMS)
        assert server.stats.count(GET_ORDER) == 0
        searches = server.stats.count("searchOrders")

        orders = server.dataset.orders
        with_packages = next(o for o in orders if o.get("packages"))
        named = [with_packages["orderId"], orders[0]["orderId"]]
        elsewhere = next(o for o in orders if o["orderId"] not in named)
        inbox = FakeInbox(
            [
                notification(ORDER_CHANGE, 1, AmazonOrderId=named[0]),
                notification(ORDER_CHANGE, 2, AmazonOrderId=named[1]),
                notification(ORDER_CHANGE, 3, AmazonOrderId=named[0]),  # the same order
                # A marketplace the account does not sync: not read.
                notification(
                    ORDER_CHANGE,
                    4,
                    AmazonOrderId=elsewhere["orderId"],
                    Summary={"MarketplaceId": "A1F83G8C2ARO7P"},
                ),
            ]
        )
        after = run_with(monkeypatch, inbox, config, ORDER_STREAMS)
        assert asked_ids(server, GET_ORDER) == named
        assert server.stats.count("searchOrders") == 2 * searches  # polling stays

    assert keys(after, "orders")[:2] == named  # before any page's
    assert_once(after, ORDER_STREAMS)
    for stream in ORDER_STREAMS:
        assert records_by_key(after, stream) == records_by_key(before, stream), stream
    assert any(r["orderId"] == named[0] for r in after.records("order_packages"))


def test_a_run_with_an_empty_inbox_is_the_run_without_one(monkeypatch):
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        config = tap_config(server, max_concurrency=4)
        without = run_with(monkeypatch, None, config, ORDER_STREAMS | MCF_STREAMS)
        counts = server.stats.snapshot()
        empty = run_with(monkeypatch, FakeInbox(), config, ORDER_STREAMS | MCF_STREAMS)
        again = {
            operation: {k: v - counts.get(operation, {}).get(k, 0) for k, v in counters.items()}
            for operation, counters in server.stats.snapshot().items()
        }
    for operation in ("searchOrders", "listAllFulfillmentOrders", "getFulfillmentOrder"):
        assert again[operation]["requests"] == counts[operation]["requests"], operation
    assert GET_ORDER not in again or again[GET_ORDER]["requests"] == 0
    for stream in ORDER_STREAMS | MCF_STREAMS:
        assert keys(empty, stream) == keys(without, stream), stream


@pytest.mark.parametrize("concurrency", [1, 4], ids=["sequential", "concurrent"])
def test_fulfillment_order_status_reads_the_named_orders_first_even_outside_the_listing(
    monkeypatch, caplog, concurrency
):
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        by_date, config = listing_from_the_middle(server, max_concurrency=concurrency)
        before = run_with(monkeypatch, None, config, MCF_STREAMS)
        listed = set(keys(before, "outbound_orders"))
        fetched_before = server.stats.count("getFulfillmentOrder")
        assert fetched_before == len(listed)

        # The newest orders are minutes old: one a few weeks old is surely listed.
        outside, inside = by_date[0], by_date[3 * len(by_date) // 4]
        outside_key = key_of("outbound_orders", outside)
        inside_key = key_of("outbound_orders", inside)
        assert outside_key not in listed
        assert inside_key in listed
        inbox = mcf_status_inbox(
            [outside["sellerFulfillmentOrderId"], inside["sellerFulfillmentOrderId"]]
        )
        caplog.clear()
        after = run_with(monkeypatch, inbox, config, MCF_STREAMS)
        # The listing's copy of a notified order is skipped, not warned about as a repeat.
        assert "twice within one query" not in caplog.text
        # One request per order emitted: the notified ones' answers feed their siblings.
        fetched = server.stats.count("getFulfillmentOrder") - fetched_before
        assert fetched == len(listed) + 1
        notified_first = asked_ids(server, "getFulfillmentOrder")[fetched_before:][:2]

    assert notified_first == [
        outside["sellerFulfillmentOrderId"],
        inside["sellerFulfillmentOrderId"],
    ]
    assert keys(after, "outbound_orders")[:2] == [outside_key, inside_key]
    assert set(keys(after, "outbound_orders")) == listed | {outside_key}
    assert_once(after, MCF_STREAMS)
    outside_id = outside["sellerFulfillmentOrderId"]
    assert any(
        r["sellerFulfillmentOrderId"] == outside_id for r in after.records("outbound_order_items")
    )
    assert_listed_as_before(after, before)


MCF_2026 = {"mcf_api_version": "2026-07-04"}
GET_MCF_ORDER = "fulfillmentOutbound_2026-07-04.getOrder"


@pytest.mark.parametrize("concurrency", [1, 4], ids=["sequential", "concurrent"])
def test_2026_fulfillment_order_status_gets_the_named_orders_first_even_outside_the_listing(
    monkeypatch, caplog, concurrency
):
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        by_date, config = listing_from_the_middle(server, max_concurrency=concurrency, **MCF_2026)
        before = run_with(monkeypatch, None, config, MCF_STREAMS)
        listed = set(keys(before, "outbound_orders"))
        pages = server.stats.count("listOrders")
        assert server.stats.count(GET_MCF_ORDER) == 0

        # The oldest order that shipped, so that its shipments come too.
        details = server.dataset.outbound_details
        outside = next(
            o for o in by_date if details[o["sellerFulfillmentOrderId"]].get("fulfillmentShipments")
        )
        inside = by_date[3 * len(by_date) // 4]
        outside_id, inside_id = (
            outside["sellerFulfillmentOrderId"],
            inside["sellerFulfillmentOrderId"],
        )
        outside_key = key_of("outbound_orders", outside)
        inside_key = key_of("outbound_orders", inside)
        assert outside_key not in listed
        assert inside_key in listed
        # The same order twice: one request.
        inbox = mcf_status_inbox([outside_id, inside_id, outside_id])
        caplog.clear()
        after = run_with(monkeypatch, inbox, config, MCF_STREAMS)
        # The listing's copy of a notified order is skipped, not warned about as a repeat.
        assert "twice within one query" not in caplog.text
        # One getOrder per notified order, the listing's pages as without notifications.
        assert asked_ids(server, GET_MCF_ORDER) == [outside_id, inside_id]
        assert server.stats.count("listOrders") == 2 * pages
        assert all("shipments=INCLUDE" in target for target in server.stats.targets(GET_MCF_ORDER))

    assert keys(after, "outbound_orders")[:2] == [outside_key, inside_key]
    assert set(keys(after, "outbound_orders")) == listed | {outside_key}
    assert_once(after, MCF_STREAMS)
    for stream in ("outbound_order_items", "outbound_shipments"):
        assert any(r["sellerFulfillmentOrderId"] == outside_id for r in after.records(stream))
    assert_listed_as_before(after, before)


def test_2026_a_run_with_an_empty_inbox_is_the_run_without_one(monkeypatch):
    with StandIn(StandInConfig(seed=SEED, rate_scale=50.0)) as server:
        config = tap_config(server, max_concurrency=4, **MCF_2026)
        without = run_with(monkeypatch, None, config, MCF_STREAMS)
        pages = server.stats.count("listOrders")
        empty = run_with(monkeypatch, FakeInbox(), config, MCF_STREAMS)
        assert server.stats.count("listOrders") == 2 * pages
        assert server.stats.count(GET_MCF_ORDER) == 0
    for stream in MCF_STREAMS:
        assert keys(empty, stream) == keys(without, stream), stream
        assert records_by_key(empty, stream) == records_by_key(without, stream), stream
