"""Live Amazon, where it differs from its models: the tap copes with what users report.

Each test names the behaviour of `spapi_standin/live.py` it proves the tap copes with;
the stand-in enforces all of them by default.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from conftest import expected_keys, key_of, load_model, run_tap, select_only, tap_config


def _model_statuses() -> list[str]:
    """The `ShipmentStatusList` enum of getShipments, read from Amazon's model."""
    operation = load_model("fulfillmentInboundV0")["paths"]["/fba/inbound/v0/shipments"]["get"]
    (parameter,) = [p for p in operation["parameters"] if p["name"] == "ShipmentStatusList"]
    return list(parameter["items"]["enum"])


def _queries(server: Any, operation_id: str) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(t).query) for t in server.stats.targets(operation_id)]


def test_date_range_queries_name_every_model_status_in_one_request(standin):
    config = tap_config(standin)
    output = run_tap(config, catalog=select_only(config, {"inbound_shipments"}))
    emitted = {key_of("inbound_shipments", r) for r in output.records("inbound_shipments")}
    assert emitted == expected_keys(standin.dataset)["inbound_shipments"]
    queries = _queries(standin, "getShipments")
    first_pages = [q for q in queries if q["QueryType"] == ["DATE_RANGE"]]
    assert first_pages
    for query in first_pages:  # one parameter, comma-separated, every status of the model
        assert query["ShipmentStatusList"] == [",".join(_model_statuses())]
    for query in queries:
        if query["QueryType"] == ["NEXT_TOKEN"]:  # the token alone (#822)
            assert set(query) == {"MarketplaceId", "QueryType", "NextToken"}
