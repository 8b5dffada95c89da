"""The stand-in's Amazon Warehousing and Distribution 2024-05-09 operations, against the
model: seeded records of the model's shapes, inclusive `updatedAfter` / `updatedBefore`,
sorting, pages whose token carries the query, the SKU quantities and inventory details
shown only when asked, the model's usage plans, and live Amazon's repeated inventory
token (#4713)."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

import pytest

from spapi_standin import StandIn, StandInConfig
from spapi_standin.paths import Route
from spapi_standin.ratelimit import load_plans
from testkit import load_model, seller_get

if TYPE_CHECKING:
    from collections.abc import Iterator

AWD = "/awd/2024-05-09"
SHIPMENTS, OUTBOUNDS, INVENTORY = (
    f"{AWD}/inboundShipments",
    f"{AWD}/outboundOrders",
    f"{AWD}/inventory",
)
LISTS = {SHIPMENTS: "shipments", OUTBOUNDS: "outboundOrders", INVENTORY: "inventory"}


@pytest.fixture
def paged() -> Iterator[StandIn]:
    """Pages of 7 at most, no rate limits, the model's letter for the live behaviours."""
    config = StandInConfig(seed=11, rate_limits=False, awd_page_size=7)
    config.live.awd_inventory_token_repeats = False
    with StandIn(config) as server:
        yield server


def every_page(server: StandIn, path: str, **params: str) -> list[dict[str, Any]]:
    """Every page's rows, following `nextToken` with the first call's arguments."""
    rows: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(1000):
        query = {**params, **({"nextToken": token} if token else {})}
        response = seller_get(server, path, **query)
        assert response.status_code == 200, response.text
        body = response.json()
        rows.extend(body[LISTS[path]])
        token = body.get("nextToken")
        if not token:
            return rows
    raise AssertionError(f"{path} never ended")


def model_response(path: str, method: str = "get") -> dict[str, Any]:
    model = load_model("awd_2024-05-09")
    ref = model["paths"][path.replace(AWD, "/awd/2024-05-09")][method]["responses"]["200"]
    return model["definitions"][ref["schema"]["$ref"].rsplit("/", 1)[-1]]


def test_listings_page_through_every_record_in_the_models_shape(paged):
    data = paged.dataset
    shipments = every_page(paged, SHIPMENTS, maxResults="200")
    assert sorted(s["shipmentId"] for s in shipments) == sorted(data.awd_inbound_shipments)
    summary = load_model("awd_2024-05-09")["definitions"]["InboundShipmentSummary"]
    assert all(set(s) <= set(summary["properties"]) for s in shipments)
    assert all(set(summary["required"]) <= set(s) for s in shipments)
    # #4885: an AWD inbound shipment's orderId is its shipmentId.
    assert all(s["orderId"] == s["shipmentId"] for s in shipments)
    orders = every_page(paged, OUTBOUNDS, maxResults="100")
    assert sorted(o["orderId"] for o in orders) == sorted(data.awd_outbound_orders)
    required = load_model("awd_2024-05-09")["definitions"]["OutboundOrder"]["required"]
    assert all(set(required) <= set(o) for o in orders)
    inventory = every_page(paged, INVENTORY, details="SHOW")
    assert [s["sku"] for s in inventory] == sorted(s["sku"] for s in data.awd_inventory)
    assert len(inventory) > 7  # more than one page


def test_updated_after_and_before_are_inclusive_and_the_default_order_is_newest_first(paged):
    shipments = every_page(paged, SHIPMENTS, maxResults="200")
    times = [s["updatedAt"] for s in shipments]
    assert times == sorted(times, reverse=True)  # the model's default: UPDATED_AT, DESCENDING
    boundary = times[len(times) // 2]
    after = every_page(paged, SHIPMENTS, updatedAfter=boundary, sortOrder="ASCENDING")
    assert [s["updatedAt"] for s in after] == sorted(t for t in times if t >= boundary)
    assert after[0]["updatedAt"] == boundary  # the record at the boundary comes too
    before = every_page(paged, SHIPMENTS, updatedBefore=boundary)
    assert {s["updatedAt"] for s in before} == {t for t in times if t <= boundary}
    orders = every_page(paged, OUTBOUNDS, updatedAfter=boundary, sortOrder="ASCENDING")
    expected = sorted(o["updatedAt"] for o in paged.dataset.awd_outbound_orders.values())
    assert [o["updatedAt"] for o in orders] == [t for t in expected if t >= boundary]


def test_a_later_page_needs_the_arguments_of_the_call_that_produced_its_token(paged):
    first = seller_get(paged, SHIPMENTS, sortOrder="ASCENDING").json()
    assert len(first["shipments"]) == 7 and first["nextToken"]
    same = seller_get(paged, SHIPMENTS, sortOrder="ASCENDING", nextToken=first["nextToken"])
    assert same.status_code == 200
    assert same.json()["shipments"][0]["updatedAt"] >= first["shipments"][-1]["updatedAt"]
    other = seller_get(paged, SHIPMENTS, sortOrder="DESCENDING", nextToken=first["nextToken"])
    assert other.status_code == 400
    assert other.json()["errors"][0]["code"] == "InvalidInput"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (SHIPMENTS, {"maxResults": "201"}),
        (SHIPMENTS, {"sortBy": "SHIPPED_AT"}),
        (SHIPMENTS, {"shipmentStatus": "LOST"}),
        (SHIPMENTS, {"updatedAfter": "yesterday"}),
        (OUTBOUNDS, {"maxResults": "101"}),
        (INVENTORY, {"details": "ALL"}),
        (INVENTORY, {"nextToken": "not-a-token"}),
    ],
)
def test_parameters_outside_the_model_are_refused(paged, path, params):
    response = seller_get(paged, path, **params)
    assert response.status_code == 400, params


def test_sku_quantities_and_inventory_details_come_only_when_asked_for(paged):
    shipment_id = next(iter(paged.dataset.awd_inbound_shipments))
    path = f"{SHIPMENTS}/{shipment_id}"
    hidden = seller_get(paged, path).json()
    shown = seller_get(paged, path, skuQuantities="SHOW").json()
    assert "shipmentSkuQuantities" not in hidden
    assert shown["shipmentSkuQuantities"]
    assert set(model_response(f"{AWD}/inboundShipments/{{shipmentId}}")["required"]) <= set(shown)
    assert seller_get(paged, f"{SHIPMENTS}/STAR-UNKNOWN").status_code == 404
    totals = seller_get(paged, INVENTORY).json()["inventory"]
    details = seller_get(paged, INVENTORY, details="SHOW").json()["inventory"]
    assert not any("inventoryDetails" in s for s in totals)
    assert all("inventoryDetails" in s for s in details)
    order_id = next(iter(paged.dataset.awd_outbound_orders))
    order = seller_get(paged, f"{OUTBOUNDS}/{order_id}").json()
    assert order == paged.dataset.awd_outbound_orders[order_id]


def test_usage_plans_are_the_models():
    routes = {
        "listInboundShipments": ("GET", f"{AWD}/inboundShipments"),
        "getInboundShipment": ("GET", f"{AWD}/inboundShipments/{{shipmentId}}"),
        "listOutbounds": ("GET", f"{AWD}/outboundOrders"),
        "getOutbound": ("GET", f"{AWD}/outboundOrders/{{orderId}}"),
        "listInventory": ("GET", f"{AWD}/inventory"),
    }
    plans = load_plans({op: Route(*route) for op, route in routes.items()})
    assert plans == {
        "listInboundShipments": (1.0, 1),
        "getInboundShipment": (2.0, 2),
        "listOutbounds": (1.0, 1),
        "getOutbound": (1.0, 1),
        "listInventory": (2.0, 2),
    }


def test_a_burst_of_one_answers_the_second_request_429():
    config = StandInConfig(seed=11, rate_overrides={"listInboundShipments": (0.001, 1)})
    with StandIn(config) as server:
        assert seller_get(server, SHIPMENTS).status_code == 200
        assert seller_get(server, SHIPMENTS).status_code == 429


def test_the_third_inventory_page_first_hands_back_the_token_it_was_asked_with():
    # selling-partner-api-models #4713: "will return identical nextToken in result".
    with StandIn(StandInConfig(seed=11, rate_limits=False, awd_page_size=7)) as server:
        second = seller_get(server, INVENTORY).json()["nextToken"]
        third = seller_get(server, INVENTORY, nextToken=second).json()["nextToken"]
        repeated = seller_get(server, INVENTORY, nextToken=third).json()
        again = seller_get(server, INVENTORY, nextToken=third).json()
    assert repeated["nextToken"] == third
    assert again["nextToken"] != third
    assert repeated["inventory"] == again["inventory"]


def test_touched_records_move_to_the_newest_update():
    config = StandInConfig(seed=11, rate_limits=False)
    with StandIn(config) as server:
        at = server.dataset.now + datetime.timedelta(hours=1)
        shipments = server.touch("awd_inbound_shipments", 2, at=at)
        orders = server.touch("awd_outbound_orders", 2, at=at)
        since = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        listed = every_page(server, SHIPMENTS, updatedAfter=since)
        listed_orders = every_page(server, OUTBOUNDS, updatedAfter=since)
    assert sorted(s["shipmentId"] for s in listed) == sorted(shipments)
    assert sorted(o["orderId"] for o in listed_orders) == sorted(orders)
