"""Orders 2026-01-01: orders, their items and their seller-fulfilled packages."""

from __future__ import annotations

import copy
import datetime
import json
import logging
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
from pii_leaks import leaked

from spapi_standin import StandIn, StandInConfig
from spapi_standin.config import NA_MARKETPLACES
from spapi_standin.live import LiveBehaviours
from tap_spapi.streams.base.pii import drop_pii, schema_without_pii
from tap_spapi.streams.orders import marketplace_batches
from testkit import expected_keys, key_of, run_tap, select_only, seller_get, tap_config

if TYPE_CHECKING:
    from collections.abc import Iterator

    import requests

    from testkit import SingerOutput

ORDER_STREAMS = {"orders", "order_items", "order_packages"}


def queries(server: StandIn) -> list[dict[str, list[str]]]:
    """The query parameters of every searchOrders request the stand-in saw, in order."""
    return [parse_qs(urlsplit(target).query) for target in server.stats.targets("searchOrders")]


def included(query: dict[str, list[str]]) -> set[str]:
    return {value for raw in query.get("includedData", []) for value in raw.split(",")}


def orders_catalog(config: dict[str, Any], streams: set[str] = ORDER_STREAMS) -> dict[str, Any]:
    return select_only(config, streams)


def paged_config() -> StandInConfig:
    """Pages of 7 orders: a query needs a dozen of them. The data set is the suite's
    `standin` fixture's (seed 11), which a worker builds once; a page size is only served."""
    return StandInConfig(seed=11, rate_scale=50.0, orders_page_size=7)


@pytest.fixture(scope="module")
def paged() -> Iterator[StandIn]:
    """The stand-in of `paged_run`: its tests only read it (none injects or syncs)."""
    with StandIn(paged_config()) as server:
        yield server


@pytest.fixture(scope="module")
def paged_run(paged: StandIn) -> SingerOutput:
    config = tap_config(paged)
    return run_tap(config, catalog=orders_catalog(config))


@pytest.fixture
def own_paged() -> Iterator[StandIn]:
    """A paged stand-in of the test's own, for a test that injects faults or asks it
    directly (the searchOrders targets `paged_run`'s tests read stay the run's)."""
    with StandIn(paged_config()) as server:
        yield server


def test_every_order_item_and_package_is_emitted_once_over_many_pages(paged, paged_run):
    expected = expected_keys(paged.dataset)
    for stream in ORDER_STREAMS:
        keys = [key_of(stream, record) for record in paged_run.records(stream)]
        assert len(keys) == len(set(keys)), stream
        assert set(keys) == expected[stream], stream
    assert len(queries(paged)) > 10  # the pages were followed


def test_records_match_their_schemas_and_carry_no_embedded_lists(paged_run):
    for stream in ORDER_STREAMS:
        validator = jsonschema.Draft7Validator(paged_run.schema(stream))
        for record in paged_run.records(stream):
            validator.validate(record)
    for order in paged_run.records("orders"):
        assert "orderItems" not in order and "packages" not in order
    for item in paged_run.records("order_items"):
        assert item["orderId"] and item["account"] == "default"


def test_packages_come_only_from_merchant_fulfilled_orders(paged, paged_run):
    fulfilled_by = {o["orderId"]: o["fulfillment"]["fulfilledBy"] for o in paged.dataset.orders}
    assert "AMAZON" in fulfilled_by.values()  # the data set has FBA orders too
    packages = paged_run.records("order_packages")
    assert packages
    assert {fulfilled_by[p["orderId"]] for p in packages} == {"MERCHANT"}
    assert all(p["trackingNumber"] and p["carrier"] for p in packages)


def test_live_packages_without_detailed_status_are_loaded(paged_run):
    # selling-partner-api-models #5127: live packages carry no packageStatus.detailedStatus.
    statuses = [p["packageStatus"] for p in paged_run.records("order_packages")]
    assert all(s["status"] and "detailedStatus" not in s for s in statuses)


def test_detailed_status_passes_through_when_amazon_sends_it():
    config = StandInConfig(seed=11, rate_scale=50.0, live=LiveBehaviours.models_letter())
    with StandIn(config) as server:
        tap = tap_config(server)
        output = run_tap(tap, catalog=orders_catalog(tap, {"order_packages"}))
    statuses = [p["packageStatus"] for p in output.records("order_packages")]
    assert statuses and all(s.get("detailedStatus") for s in statuses)


def test_page_tokens_never_reach_the_state(paged, paged_run):
    tokens = {t for q in queries(paged) for t in q.get("paginationToken", [])}
    assert tokens
    state = json.dumps(paged_run.states)
    assert not [t for t in tokens if t in state]


def test_later_pages_repeat_the_query_with_the_token(paged, paged_run):
    first, *later = queries(paged)
    assert later and all("paginationToken" in q for q in later)
    for query in later:
        for name in ("lastUpdatedAfter", "marketplaceIds"):
            assert query[name] == first[name]
        assert "lastUpdatedBefore" not in query  # Amazon picks it and echoes it


def test_one_query_covers_every_marketplace_of_the_account(standin):
    config = tap_config(standin)
    run_tap(config, catalog=orders_catalog(config, {"orders"}))
    (query,) = queries(standin)  # 80 orders: one page of 100 for all three marketplaces
    assert set(query["marketplaceIds"][0].split(",")) == set(NA_MARKETPLACES)


def test_marketplaces_are_split_only_where_a_query_takes_no_more():
    ids = [f"M{i:03d}" for i in range(120)]
    batches = marketplace_batches(ids)
    assert [len(b) for b in batches] == [50, 50, 20]
    assert [m for b in batches for m in b] == ids
    assert marketplace_batches(ids[:3]) == [ids[:3]]


def test_included_data_asks_for_what_the_selection_needs(standin):
    config = tap_config(standin)
    run_tap(config, catalog=orders_catalog(config))
    everything = included(queries(standin)[-1])
    assert {"PACKAGES", "FULFILLMENT", "PROCEEDS", "PROMOTION", "EXPENSE"} <= everything
    assert not everything & {"BUYER", "RECIPIENT"}  # PII only with include_pii

    catalog = orders_catalog(config, {"orders"})
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == ["properties", "payment"]:
                metadata["metadata"]["selected"] = False
    standin.reset_rate_limits()
    run_tap(config, catalog=catalog)
    orders_only = included(queries(standin)[-1])
    assert "FULFILLMENT" in orders_only and "PROCEEDS" in orders_only
    # Item-only datasets, packages and the deselected field's dataset are not asked.
    assert not orders_only & {"PACKAGES", "PROMOTION", "EXPENSE", "CANCELLATION", "PAYMENT"}


def test_buyer_and_recipient_are_asked_and_kept_only_with_include_pii(standin):
    config = tap_config(standin)
    catalog = orders_catalog(config)
    sentinels = standin.dataset.pii_sentinels
    without = run_tap(config, catalog=catalog)
    text = json.dumps(without.messages)
    assert sentinels and not leaked(text, sentinels)
    assert not {"buyer", "recipient", "tax"} & set(without.schema("orders")["properties"])
    packing = without.schema("order_items")["properties"]["fulfillment"]["properties"]["packing"]
    assert set(packing["properties"]["giftOption"]["properties"]) == {"giftWrapLevel"}

    standin.reset_rate_limits()
    with_pii = run_tap({**config, "include_pii": True}, catalog=catalog)
    assert {"BUYER", "RECIPIENT"} <= included(queries(standin)[-1])
    orders = with_pii.records("orders")
    assert any(o.get("buyer") for o in orders) and any(o.get("recipient") for o in orders)


def test_bookmark_is_the_echoed_last_updated_before_and_the_next_run_starts_there(standin):
    config = tap_config(standin, lookback_window=60)
    catalog = orders_catalog(config, {"orders"})
    first = run_tap(config, catalog=catalog)
    (partition,) = first.states[-1]["bookmarks"]["orders"]["partitions"]
    read_until = datetime.datetime.fromisoformat(partition["window_end"])
    newest = max(o["lastUpdatedTime"] for o in first.records("orders"))
    assert read_until >= datetime.datetime.fromisoformat(newest)

    # An update Amazon records late, just before the echoed instant: the lookback finds it.
    late = copy.deepcopy(standin.dataset.orders[0])
    late["orderId"] = "999-0000000-0000001"
    late["lastUpdatedTime"] = (read_until - datetime.timedelta(minutes=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    standin.dataset.orders.append(late)
    second = run_tap(config, catalog=catalog, state=first.states[-1])
    after = queries(standin)[-1]["lastUpdatedAfter"][0]
    assert datetime.datetime.fromisoformat(after) == read_until - datetime.timedelta(minutes=60)
    emitted = {o["orderId"] for o in second.records("orders")}
    assert late["orderId"] in emitted
    assert all(o["lastUpdatedTime"] >= after for o in second.records("orders"))


def test_a_query_stopped_on_a_later_page_keeps_the_bookmark(own_paged):
    config = tap_config(own_paged)
    catalog = orders_catalog(config, {"orders"})
    own_paged.inject("searchOrders", 400, times=1, matching="paginationToken")
    failed = run_tap(config, catalog=catalog)
    partitions = failed.states[-1]["bookmarks"]["orders"].get("partitions", [])
    assert not any("window_end" in p for p in partitions)
    own_paged.reset_rate_limits()
    asked_before = len(queries(own_paged))
    again = run_tap(config, catalog=catalog, state=failed.states[-1])
    expected = expected_keys(own_paged.dataset)["orders"]
    assert {o["orderId"] for o in again.records("orders")} == expected
    assert "paginationToken" not in queries(own_paged)[asked_before]  # the query asked anew


def test_the_run_says_what_a_page_costs_before_it_starts(standin, caplog):
    config = tap_config(standin)
    with caplog.at_level(logging.DEBUG):  # within the burst nothing waits: DEBUG only
        run_tap(config, catalog=orders_catalog(config, {"orders"}))
    assert "searchOrders allows 20 at once then 20 an hour" in caplog.text


def test_pages_that_wait_on_the_plan_say_when_the_next_comes(caplog):
    # A plan of one request at once, then 0.3 a second (paced a tenth slower): the second
    # of two pages waits about 3.7 s. The line is said when page one is parsed, so it
    # reads "about 4 s" or, on a busy machine that took its time over page one, less;
    # below 1 s it would not be said at all, which a 2.7 s margin keeps out of reach.
    config = StandInConfig(seed=11, orders_page_size=40, rate_overrides={"searchOrders": (0.3, 1)})
    with StandIn(config) as server:
        tap = tap_config(server, rate_limit_overrides={"searchOrders": {"rate": 0.3, "burst": 1}})
        with caplog.at_level(logging.INFO):
            output = run_tap(tap, catalog=orders_catalog(tap, {"orders"}))
        assert server.stats.count("searchOrders", "429") == 0
        assert server.stats.count("searchOrders") == 2
    assert len(output.records("orders")) == len(server.dataset.orders)
    said = re.compile(
        r"orders of account 'default': 1 pages read; "
        r"the next in about [1-4] s \(searchOrders' usage plan\)"
    )
    assert [r for r in caplog.records if said.fullmatch(r.getMessage())], caplog.text


# -- the stand-in's searchOrders, as the model's parameter notes describe it ----------------


def _search(server: StandIn, **params: str) -> requests.Response:
    return seller_get(server, "/orders/2026-01-01/orders", **params)


def _ago(**delta: float) -> str:
    moment = datetime.datetime.now(datetime.UTC) - datetime.timedelta(**delta)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_standin_refuses_queries_the_model_rules_out(standin):
    start = _ago(days=400)
    assert _search(standin).status_code == 400  # neither createdAfter nor lastUpdatedAfter
    both = _search(standin, createdAfter=start, lastUpdatedAfter=start)
    assert both.status_code == 400
    mixed = _search(standin, lastUpdatedAfter=start, createdBefore=_ago(days=1))
    assert mixed.status_code == 400
    too_recent = _search(standin, lastUpdatedAfter=start, lastUpdatedBefore=_ago(seconds=30))
    assert too_recent.status_code == 400
    assert _search(standin, lastUpdatedAfter=start, includedData="ADDRESS").status_code == 400


def test_standin_echoes_the_settled_instant_and_keeps_pii_and_packages_unless_asked(standin):
    answer = _search(standin, lastUpdatedAfter=_ago(days=400))
    assert answer.status_code == 200
    body = answer.json()
    echoed = datetime.datetime.fromisoformat(body["lastUpdatedBefore"])
    assert echoed <= datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=2)
    assert body["orders"]
    for order in body["orders"]:
        assert not {"buyer", "recipient", "packages", "fulfillment"} & set(order)
        assert order["orderItems"]
    asked = _search(
        standin, lastUpdatedAfter=_ago(days=400), includedData="BUYER,PACKAGES,FULFILLMENT"
    ).json()["orders"]
    assert any("buyer" in o for o in asked)
    assert all(o["fulfillment"]["fulfilledBy"] == "MERCHANT" for o in asked if o.get("packages"))


def test_standin_page_tokens_need_the_same_query(own_paged):
    start = _ago(days=400)
    token = _search(own_paged, lastUpdatedAfter=start).json()["pagination"]["nextToken"]
    same = _search(own_paged, lastUpdatedAfter=start, paginationToken=token, includedData="TAX")
    assert same.status_code == 200  # includedData may change between pages
    other = _search(own_paged, lastUpdatedAfter=_ago(days=300), paginationToken=token)
    assert other.status_code == 400


def test_a_pii_path_reaches_through_arrays_and_leaves_its_siblings_and_the_original_schema():
    record = {"a": [{"b": {"secret": 1, "kept": 2}}, {"b": None}, "odd"], "top": 3}
    assert drop_pii(record, ["a.b.secret", "missing.path"], keep=False) == {
        "a": [{"b": {"kept": 2}}, {"b": None}, "odd"],
        "top": 3,
    }
    leaf = {"type": ["string", "null"]}
    inner = {"properties": {"secret": leaf, "kept": leaf}}
    schema = {"properties": {"a": {"type": "array", "items": {"properties": {"b": inner}}}}}
    pruned = schema_without_pii(schema, ["a.b.secret"])
    assert set(pruned["properties"]["a"]["items"]["properties"]["b"]["properties"]) == {"kept"}
    assert set(inner["properties"]) == {"secret", "kept"}  # the SDK's cached schema is intact


def test_a_query_stopped_by_a_token_that_keeps_coming_back_is_split_by_the_next_run(own_paged):
    # Page 2 of the query hands back its own token on every ask: the stream stops (after
    # asking it twice more), the bookmark stays, and the query is marked unfinished. The
    # next run asks the range in halves, the first bounded by lastUpdatedBefore, so its
    # bookmark moves past the first half even if the second fails the same way.
    server = own_paged
    config = tap_config(server)
    server.inject("searchOrders", "repeat_token", times=3, matching="paginationToken")
    first = run_tap(config, catalog=orders_catalog(config))
    state = first.states[-1]
    asked_first = len(queries(server))
    second = run_tap(config, catalog=orders_catalog(config), state=state)
    later = queries(server)[asked_first:]
    assert first.failures is not None
    ((where, message),) = first.failures.stopped.items()
    assert where == ("orders", "default")
    assert "(searchOrders): page 2:" in message and "already followed" in message
    partition = state["bookmarks"]["orders"]["partitions"][0]
    assert partition["query_in_flight"] is True and "window_end" not in partition
    first_pages = [q for q in later if "paginationToken" not in q]
    assert len(first_pages) == 2  # one marketplace batch, two halves (asked side by side)
    (bounded,) = [q for q in first_pages if "lastUpdatedBefore" in q]
    (last,) = [q for q in first_pages if "lastUpdatedBefore" not in q]
    assert last["lastUpdatedAfter"] == bounded["lastUpdatedBefore"]
    assert second.failures is not None and not second.failures.reported
    keys = {key_of("orders", r) for r in [*first.records("orders"), *second.records("orders")]}
    assert keys == expected_keys(server.dataset)["orders"]
    done = second.states[-1]["bookmarks"]["orders"]["partitions"][0]
    assert "query_in_flight" not in done and "interrupted_runs" not in done
