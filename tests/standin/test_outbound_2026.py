"""The stand-in's FBA Outbound 2026-07-04 listOrders and getOrder: the same MCF orders as
2020-07-01, in the 2026-07-04 model's shape, paged, filtered by `updatedAfter`."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from testkit import seller_get

if TYPE_CHECKING:
    from spapi_standin import StandIn

ORDERS = "/fulfillment/outbound/2026-07-04/orders"


def all_orders(server: StandIn, **params: str) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(100):
        query = {**params, **({"pageToken": token} if token else {})}
        response = seller_get(server, ORDERS, **query)
        assert response.status_code == 200, response.text
        body = response.json()
        orders.extend(body["orders"])
        token = (body.get("pagination") or {}).get("nextToken")
        if not token:
            return orders
    raise AssertionError("listOrders never ended")


def test_list_orders_pages_through_the_same_orders_shipments_and_packages(standin):
    data = standin.dataset
    orders = all_orders(standin)
    assert len(orders) > standin.config.outbound_page_size  # more than one page
    assert sorted(o["orderId"] for o in orders) == sorted(data.outbound_details)
    for order in orders:
        detail = data.outbound_details[order["orderId"]]
        old_shipments = detail.get("fulfillmentShipments") or []
        assert {s["amazonShipmentId"] for s in order["shipments"]} == {
            s["amazonShipmentId"] for s in old_shipments
        }
        tracking = {
            p["tracking"]["carrier"]["trackingNumber"]
            for s in order["shipments"]
            for p in s["packages"]
        }
        assert tracking == {
            p["trackingNumber"]
            for s in old_shipments
            for p in s.get("fulfillmentShipmentPackage") or []
        }
        assert {i["lineItemId"] for i in order["lineItems"]} == {
            i["sellerFulfillmentOrderItemId"] for i in detail["fulfillmentOrderItems"]
        }
        # The 2026-07-04 model has no returns and no integer package numbers.
        assert "returnItems" not in order and "returnAuthorizations" not in order
        assert all(
            isinstance(p["packageId"], str) for s in order["shipments"] for p in s["packages"]
        )


def test_list_orders_returns_only_orders_updated_after_and_can_leave_shipments_out(standin):
    data = standin.dataset
    updated = sorted(
        datetime.datetime.fromisoformat(o["statusUpdatedDate"]) for o in data.outbound_orders
    )
    after = updated[len(updated) // 2]
    orders = all_orders(standin, updatedAfter=after.isoformat(), shipments="EXCLUDE")
    expected = {
        o["sellerFulfillmentOrderId"]
        for o in data.outbound_orders
        if datetime.datetime.fromisoformat(o["statusUpdatedDate"]) > after
    }
    assert {o["orderId"] for o in orders} == expected
    assert expected
    assert all("shipments" not in o for o in orders)
    refused = seller_get(standin, ORDERS, shipments="SOMETIMES")
    assert refused.status_code == 400


def test_get_order_answers_one_order_and_404_for_an_unknown_one(standin):
    order_id = next(iter(standin.dataset.outbound_details))
    response = seller_get(standin, f"{ORDERS}/{order_id}")
    assert response.status_code == 200
    assert response.json()["order"]["orderId"] == order_id
    assert seller_get(standin, f"{ORDERS}/NO-SUCH-ORDER").status_code == 404
