"""The SP-API stand-in itself, over HTTP: auth, pagination, limits, faults, shapes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest
import requests

from spapi_standin import StandIn, StandInConfig
from spapi_standin.data import parse_instant
from spapi_standin.instances import PII_PREFIX
from spapi_standin.schemas import load_schemas, schemas_path
from testkit import model_shipment_statuses

if TYPE_CHECKING:
    from collections.abc import Iterator

# The real clock, read once: the stand-in's data ends here and every date a test asks for is
# computed from it, so the tests give the same result on any day.
NOW = datetime.now(UTC).replace(microsecond=0)
US, CA, MX, DE = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8", "A1PA6795UKMFR9"
SHIPMENTS = "/fba/inbound/v0/shipments"
ORDERS = "/fba/outbound/2020-07-01/fulfillmentOrders"
PARTICIPATIONS = "/sellers/v1/marketplaceParticipations"
DESTINATIONS = "/notifications/v1/destinations"
AWS_KEY_ID = "AKIDSTANDINTEST00001"
AWS_SECRET = "standin-test-aws-secret-0123456789abcdef"
# What live Amazon wants beside a DATE_RANGE (spapi_standin/live.py): every status.
EVERY_STATUS = ",".join(model_shipment_statuses())


def lwa(server: StandIn, **fields: str) -> requests.Response:
    """POST a token request with the server's valid client credentials plus `fields`."""
    form = {"client_id": server.config.client_id, "client_secret": server.config.client_secret}
    form.update(fields)
    return requests.post(server.lwa_token_url, data=form, timeout=10)


def seller_token(server: StandIn) -> str:
    refresh_token = min(server.config.refresh_tokens)
    response = lwa(server, grant_type="refresh_token", refresh_token=refresh_token)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def grantless_token(server: StandIn, scope: str = "sellingpartnerapi::notifications") -> str:
    response = lwa(server, grant_type="client_credentials", scope=scope)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def headers(token: str | None) -> dict[str, str]:
    sent = {"x-amz-date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"), "User-Agent": "test/1.0"}
    if token is not None:
        sent["x-amz-access-token"] = token
    return sent


class Client:
    """A requests session that sends a seller token, like a real client."""

    def __init__(self, server: StandIn, token: str | None = None) -> None:
        self.server = server
        self.session = requests.Session()
        self.token = token or seller_token(server)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(
            method, self.server.base_url + path, headers=headers(self.token), timeout=10, **kwargs
        )

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.call("GET", path, params=params)


def error_code(response: requests.Response) -> str:
    return str(response.json()["errors"][0]["code"])


@pytest.fixture(scope="module")
def server() -> Iterator[StandIn]:
    """Small data, no usage plans: most tests only look at behaviour and shapes."""
    with StandIn(StandInConfig(seed=7, now=NOW, rate_limits=False)) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: StandIn) -> Client:
    return Client(server)


def all_pages(client: Client, marketplace: str, first: dict[str, str]) -> list[dict[str, Any]]:
    """Every ShipmentData record of a getShipments query, following NEXT_TOKEN."""
    params: dict[str, str] = {"MarketplaceId": marketplace, **first}
    records: list[dict[str, Any]] = []
    while True:
        response = client.get(SHIPMENTS, **params)
        assert response.status_code == 200, response.text
        payload = response.json()["payload"]
        records += payload["ShipmentData"]
        if "NextToken" not in payload:
            return records
        # The token alone: live Amazon restarts a NEXT_TOKEN query sent with filters.
        params = {"MarketplaceId": marketplace, "QueryType": "NEXT_TOKEN"}
        params["NextToken"] = payload["NextToken"]


# -- Login with Amazon -------------------------------------------------------------------------


def test_lwa_issues_tokens_for_both_grants(server):
    response = lwa(
        server, grant_type="refresh_token", refresh_token=min(server.config.refresh_tokens)
    )
    body = response.json()
    assert response.status_code == 200
    assert body["access_token"].startswith("Atza|")
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert body["refresh_token"] in server.config.refresh_tokens
    grantless = lwa(server, grant_type="client_credentials", scope="sellingpartnerapi::migration")
    assert grantless.status_code == 200 and grantless.json()["access_token"].startswith("Atza|")
    counts = server.stats.snapshot()["lwa"]
    assert counts["refresh_token"] >= 1 and counts["client_credentials"] >= 1


VALID = "<the server's refresh token>"


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"grant_type": "refresh_token", "refresh_token": "Atzr|unknown"}, 400, "invalid_grant"),
        ({"grant_type": "refresh_token"}, 400, "invalid_request"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials", "scope": "sellingpartnerapi::orders"}, 400,
         "invalid_scope"),
        ({"grant_type": "refresh_token", "refresh_token": VALID, "client_secret": "wrong"}, 401,
         "invalid_client"),
    ],
)  # fmt: skip
def test_lwa_errors_are_lwa_shaped(server, fields, status, code):
    refresh_token = min(server.config.refresh_tokens)
    response = lwa(server, **{k: refresh_token if v == VALID else v for k, v in fields.items()})
    assert response.status_code == status
    assert response.json()["error"] == code
    assert response.json()["error_description"]
    assert refresh_token not in response.text


# -- access checks ---------------------------------------------------------------------------


def test_missing_and_unknown_tokens_are_refused(server):
    url = server.base_url + PARTICIPATIONS
    missing = requests.get(url, headers=headers(None), timeout=10)
    unknown = requests.get(url, headers=headers("Atza|made-up"), timeout=10)
    assert missing.status_code == unknown.status_code == 403
    assert (
        missing.json()["errors"][0]["details"] == "Access token is missing in the request header."
    )
    assert "revoked, malformed or invalid" in unknown.json()["errors"][0]["details"]
    assert missing.headers["x-amzn-RequestId"] != unknown.headers["x-amzn-RequestId"]


def test_expired_token_is_refused_as_expired():
    # Without waiting real seconds: tokens expired by the registry (Amazon revoking a
    # session), and a lifetime of 0, which is over when the token is issued.
    with StandIn(StandInConfig(seed=2, size="tiny", now=NOW)) as server:
        client = Client(server)
        assert client.get(PARTICIPATIONS).status_code == 200
        server.expire_tokens()
        revoked = client.get(PARTICIPATIONS)
    with StandIn(StandInConfig(seed=2, size="tiny", now=NOW, token_lifetime=0)) as server:
        lived = Client(server).get(PARTICIPATIONS)
    for response in (revoked, lived):
        assert response.status_code == 403
        assert error_code(response) == "Unauthorized"
        assert response.json()["errors"][0]["details"] == (
            "The access token you provided has expired."
        )


def test_required_headers(server, client):
    url = server.base_url + PARTICIPATIONS
    no_date = {k: v for k, v in headers(client.token).items() if k != "x-amz-date"}
    long_agent = {**headers(client.token), "User-Agent": "x" * 501}
    for sent in (no_date, long_agent):
        response = requests.get(url, headers=sent, timeout=10)
        assert response.status_code == 400 and error_code(response) == "InvalidInput"


def test_unknown_path_is_404(client):
    response = client.get("/orders/v0/orders")
    assert response.status_code == 404
    assert response.json() == {
        "errors": [{"code": "NotFound", "message": "Resource not found", "details": ""}]
    }


# -- Sellers -----------------------------------------------------------------------------------


def test_participations_include_a_marketplace_of_another_region(client):
    response = client.get(PARTICIPATIONS)
    assert response.status_code == 200
    marketplaces = {p["marketplace"]["id"]: p["marketplace"] for p in response.json()["payload"]}
    assert set(marketplaces) == {US, CA, MX, DE}
    assert marketplaces[DE]["countryCode"] == "DE" and marketplaces[US]["name"] == "Amazon.com"
    assert float(response.headers["x-amzn-RateLimit-Limit"]) == pytest.approx(0.016)


# -- FBA inbound -------------------------------------------------------------------------------


def test_next_token_pagination_covers_the_data_set_exactly(server, client):
    for marketplace in server.config.inbound_marketplaces:
        records = all_pages(
            client,
            marketplace,
            {
                "QueryType": "DATE_RANGE",
                "ShipmentStatusList": EVERY_STATUS,
                "LastUpdatedAfter": "2000-01-01T00:00:00Z",
                "LastUpdatedBefore": "2100-01-01T00:00:00Z",
            },
        )
        ids = [r["ShipmentId"] for r in records]
        assert len(ids) == len(set(ids)) == 120
        assert records == sorted(
            server.dataset.inbound_shipments[marketplace],
            key=lambda r: (server.dataset.inbound_last_updated[r["ShipmentId"]], r["ShipmentId"]),
        )


def test_date_range_is_inclusive_on_the_hidden_update_time(server, client):
    updated = server.dataset.inbound_last_updated
    mine = [r["ShipmentId"] for r in server.dataset.inbound_shipments[US]]
    times = sorted(updated[i] for i in mine)
    after, before = times[10], times[60]
    records = all_pages(
        client,
        US,
        {
            "QueryType": "DATE_RANGE",
            "ShipmentStatusList": EVERY_STATUS,
            "LastUpdatedAfter": after.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "LastUpdatedBefore": before.isoformat(),
        },
    )
    expected = {i for i in mine if after <= updated[i] <= before}
    assert {r["ShipmentId"] for r in records} == expected
    assert "last_updated" not in records[0]


def test_shipment_query_and_parameter_errors(server, client):
    wanted = [r["ShipmentId"] for r in server.dataset.inbound_shipments[CA][:3]]
    records = all_pages(client, CA, {"QueryType": "SHIPMENT", "ShipmentIdList": ",".join(wanted)})
    assert sorted(r["ShipmentId"] for r in records) == sorted(wanted)
    assert all_pages(client, MX, {"QueryType": "SHIPMENT", "ShipmentStatusList": "CLOSED"}) == []
    bad = [
        {"QueryType": "SHIPMENT"},
        {"MarketplaceId": US},
        {
            "MarketplaceId": "A1F83G8C2ARO7P",
            "QueryType": "SHIPMENT",
            "ShipmentStatusList": "CLOSED",
        },
        {"MarketplaceId": US, "QueryType": "DATE_RANGE", "LastUpdatedAfter": "yesterday"},
        {"MarketplaceId": US, "QueryType": "NEXT_TOKEN", "NextToken": "not-a-token"},
        {"MarketplaceId": US, "QueryType": "SHIPMENT", "ShipmentStatusList": "LOST"},
    ]
    for params in bad:
        response = client.get(SHIPMENTS, **params)
        assert response.status_code == 400, params
        assert error_code(response) == "InvalidInput"


def test_shipment_items(server, client):
    shipment_id = server.dataset.inbound_shipments[US][0]["ShipmentId"]
    items = client.get(f"{SHIPMENTS}/{shipment_id}/items").json()["payload"]["ItemData"]
    assert 1 <= len(items) <= 5
    assert {i["ShipmentId"] for i in items} == {shipment_id}
    assert len({i["SellerSKU"] for i in items}) == len(items)
    assert client.get(f"{SHIPMENTS}/FBANOSUCHONE/items").status_code == 400


# -- FBA outbound and Shipping v2 --------------------------------------------------------------


def test_outbound_orders_are_paged_in_status_update_order(server, client):
    start = NOW - timedelta(days=30)
    params: dict[str, str] = {"queryStartDate": start.strftime("%Y-%m-%dT%H:%M:%SZ")}
    orders: list[dict[str, Any]] = []
    while True:
        payload = client.get(ORDERS, **params).json()["payload"]
        orders += payload["fulfillmentOrders"]
        if not payload.get("nextToken"):
            break
        params = {"nextToken": payload["nextToken"]}
    updated = [parse_instant(o["statusUpdatedDate"]) for o in orders]
    assert updated == sorted(updated) and all(moment >= start for moment in updated)
    expected = {
        o["sellerFulfillmentOrderId"]
        for o in server.dataset.outbound_orders
        if parse_instant(o["statusUpdatedDate"]) >= start
    }
    assert {o["sellerFulfillmentOrderId"] for o in orders} == expected


def test_fulfillment_order_packages_can_be_tracked(server, client):
    shipped = next(
        detail
        for detail in server.dataset.outbound_details.values()
        if detail["fulfillmentShipments"]
    )
    order_id = shipped["fulfillmentOrder"]["sellerFulfillmentOrderId"]
    payload = client.get(f"{ORDERS}/{order_id}").json()["payload"]
    for shipment in payload["fulfillmentShipments"]:
        numbers = [p["packageNumber"] for p in shipment["fulfillmentShipmentPackage"]]
        assert 1 <= len(numbers) == len(set(numbers)) <= 2
        for package in shipment["fulfillmentShipmentPackage"]:
            tracking = client.get(
                "/fba/outbound/2020-07-01/tracking", packageNumber=package["packageNumber"]
            ).json()["payload"]
            assert tracking["trackingNumber"] == package["trackingNumber"]
            dates = [e["eventDate"] for e in tracking["trackingEvents"]]
            assert dates == sorted(dates)


def test_shipping_tracking_and_carrier_accounts(server, client):
    statuses = set()
    for label in server.dataset.tracking_labels():
        response = client.get(
            "/shipping/v2/tracking", trackingId=label["tracking_id"], carrierId=label["carrier_id"]
        )
        assert response.status_code == 200
        payload = response.json()["payload"]
        if label["tracking_id"] in server.dataset.null_tracking_ids:  # live Amazon, #4923
            assert payload["trackingId"] == label["tracking_id"]  # echoed, the rest null
            assert not [v for k, v in payload.items() if k != "trackingId" and v is not None]
            continue
        times = [e["eventTime"] for e in payload["eventHistory"]]
        assert times == sorted(times) and payload["trackingId"] == label["tracking_id"]
        statuses.add(payload["summary"]["status"])
    assert statuses & {"Delivered", "Lost", "Rejected", "PickupCancelled", "Undeliverable"}
    assert statuses - {"Delivered", "Lost", "Rejected", "PickupCancelled", "Undeliverable"}
    label = server.dataset.tracking_labels()[0]
    wrong = client.get("/shipping/v2/tracking", trackingId=label["tracking_id"], carrierId="NOPE")
    assert wrong.status_code == 400
    accounts = client.call("PUT", "/shipping/v2/carrierAccounts", json={})
    assert accounts.json() == {"activeAccounts": server.dataset.carrier_accounts}
    assert len(server.dataset.carrier_accounts) == 3


def test_buyer_pii_is_planted_as_sentinels(server, client):
    order_id = server.dataset.outbound_orders[0]["sellerFulfillmentOrderId"]
    order = client.get(f"{ORDERS}/{order_id}").json()["payload"]["fulfillmentOrder"]
    address = order["destinationAddress"]
    for key in ("name", "addressLine1"):
        assert address[key].startswith(PII_PREFIX) and address[key] in server.dataset.pii_sentinels
    inbound = client.get(f"{SHIPMENTS}", MarketplaceId=US, QueryType="SHIPMENT",
                         ShipmentStatusList="CLOSED,WORKING").text  # fmt: skip
    assert PII_PREFIX not in inbound  # the seller's own ship-from address is not buyer PII


def test_touch_moves_records_into_the_next_window(server, client):
    at = NOW + timedelta(days=1)
    touched = server.dataset.touch("inbound_shipments", 5, at=at)
    orders = server.dataset.touch("outbound_orders", 4, at=at)
    trackings = server.dataset.touch("shipping_trackings", 3, at=at)
    window = {"QueryType": "DATE_RANGE", "ShipmentStatusList": EVERY_STATUS,
              "LastUpdatedAfter": at.isoformat(),
              "LastUpdatedBefore": (at + timedelta(hours=1)).isoformat()}  # fmt: skip
    found = [r["ShipmentId"] for m in (US, CA) for r in all_pages(client, m, window)]
    assert sorted(found) == sorted(touched) and len(touched) == 5
    changed = client.get(ORDERS, queryStartDate=at.isoformat()).json()["payload"]
    assert sorted(o["sellerFulfillmentOrderId"] for o in changed["fulfillmentOrders"]) == sorted(
        orders
    )
    carriers = server.dataset.tracking_carriers
    for tracking_id in trackings:
        events = client.get(
            "/shipping/v2/tracking", trackingId=tracking_id, carrierId=carriers[tracking_id]
        ).json()["payload"]["eventHistory"]
        assert events[-1]["eventTime"] == at.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- response shapes ---------------------------------------------------------------------------


def _shape_cases(server: StandIn) -> list[tuple[str, str, str, dict[str, Any]]]:
    data = server.dataset
    order = data.outbound_orders[0]["sellerFulfillmentOrderId"]
    shipment = data.inbound_shipments[US][0]["ShipmentId"]
    label = data.tracking_labels()[0]
    return [
        ("GET", PARTICIPATIONS, PARTICIPATIONS, {}),
        ("GET", SHIPMENTS, SHIPMENTS, {"MarketplaceId": US, "QueryType": "SHIPMENT",
                                       "ShipmentStatusList": "CLOSED"}),
        ("GET", f"{SHIPMENTS}/{{shipmentId}}/items", f"{SHIPMENTS}/{shipment}/items", {}),
        ("GET", ORDERS, ORDERS, {}),
        ("GET", f"{ORDERS}/{{sellerFulfillmentOrderId}}", f"{ORDERS}/{order}", {}),
        ("GET", "/fba/outbound/2020-07-01/tracking", "/fba/outbound/2020-07-01/tracking",
         {"packageNumber": next(iter(data.package_tracking))}),
        ("GET", "/shipping/v2/tracking", "/shipping/v2/tracking",
         {"trackingId": label["tracking_id"], "carrierId": label["carrier_id"]}),
    ]  # fmt: skip


def test_every_response_validates_against_its_model_schema(server, client):
    schemas = load_schemas(schemas_path())
    for method, template, path, params in _shape_cases(server):
        response = client.call(method, path, params=params)
        assert response.status_code == 200, (path, response.text)
        jsonschema.validate(response.json(), schemas.response(method, template))
    accounts = client.call("PUT", "/shipping/v2/carrierAccounts", json={})
    jsonschema.validate(accounts.json(), schemas.response("PUT", "/shipping/v2/carrierAccounts"))


def test_fulfillment_orders_validate_against_the_model(server, client):
    schema = load_schemas(schemas_path()).response("GET", f"{ORDERS}/{{sellerFulfillmentOrderId}}")
    validator = jsonschema.Draft4Validator(schema)
    for order in server.dataset.outbound_orders[:60]:
        body = client.get(f"{ORDERS}/{order['sellerFulfillmentOrderId']}").json()
        errors = list(validator.iter_errors(body))
        assert not errors, errors[0].message


# -- restricted data and grantless -------------------------------------------------------------


def test_rdt_covers_its_resources_only(server, client):
    first, second = server.dataset.mfn_shipment_ids[:2]
    issued = client.call(
        "POST",
        "/tokens/2021-03-01/restrictedDataToken",
        json={"restrictedResources": [{"method": "GET", "path": f"/mfn/v0/shipments/{first}"}]},
    )
    assert issued.status_code == 200 and issued.json()["expiresIn"] == 3600
    rdt = issued.json()["restrictedDataToken"]
    assert rdt.startswith("Atz.sprdt|")
    as_rdt = Client(server, token=rdt)
    assert as_rdt.get(f"/mfn/v0/shipments/{first}").json()["payload"]["ShipmentId"] == first
    assert as_rdt.get(f"/mfn/v0/shipments/{second}").status_code == 403
    assert as_rdt.get(PARTICIPATIONS).status_code == 403  # an RDT is not a seller token
    assert client.get(f"/mfn/v0/shipments/{first}").status_code == 403  # nor the reverse
    template = client.call(
        "POST",
        "/tokens/2021-03-01/restrictedDataToken",
        json={"restrictedResources": [{"method": "GET", "path": "/mfn/v0/shipments/{shipmentId}"}]},
    ).json()["restrictedDataToken"]
    assert Client(server, token=template).get(f"/mfn/v0/shipments/{second}").status_code == 200
    empty = client.call(
        "POST",
        "/tokens/2021-03-01/restrictedDataToken",
        json={"restrictedResources": [{"method": "", "path": "/mfn/v0/shipments/x"}]},
    )
    assert empty.status_code == 400
    assert empty.json()["errors"][0]["message"] == "Resource not provided."


def test_grantless_token_only_on_grantless_operation(server, client):
    grantless = Client(server, token=grantless_token(server))
    assert grantless.get(DESTINATIONS).json() == {"payload": []}
    assert grantless.get(PARTICIPATIONS).status_code == 403
    assert client.get(DESTINATIONS).status_code == 403
    migration = Client(server, token=grantless_token(server, "sellingpartnerapi::migration"))
    assert migration.get(DESTINATIONS).status_code == 403  # wrong scope


# -- usage plans and faults --------------------------------------------------------------------


def test_quota_exceeded_when_the_burst_is_spent():
    config = StandInConfig(
        seed=3, size="tiny", now=NOW, rate_scale=0.001, rate_overrides={"getShipments": (1.0, 2)}
    )
    with StandIn(config) as server:
        client = Client(server)
        params = {"MarketplaceId": US, "QueryType": "SHIPMENT", "ShipmentStatusList": "CLOSED"}
        first, second, third = (client.get(SHIPMENTS, **params) for _ in range(3))
        assert first.status_code == second.status_code == 200
        assert first.headers["x-amzn-RateLimit-Limit"] == "0.001"
        assert third.status_code == 429
        assert third.json() == {
            "errors": [
                {
                    "code": "QuotaExceeded",
                    "message": "You exceeded your quota for the requested resource.",
                    "details": "",
                }
            ]
        }
        assert "x-amzn-RateLimit-Limit" not in third.headers  # live 429s carry none
        # Buckets are per account and operation: other operations are unaffected.
        assert client.get(PARTICIPATIONS).status_code == 200
        assert server.stats.snapshot()["getShipments"]["429"] == 1


def test_injected_faults_then_success(server, client):
    server.inject("getMarketplaceParticipations", status=500, times=2)
    codes = [client.get(PARTICIPATIONS).status_code for _ in range(3)]
    assert codes == [500, 500, 200]
    server.inject("getMarketplaceParticipations", status="drop")
    with pytest.raises(requests.ConnectionError):
        client.get(PARTICIPATIONS)
    server.inject("getMarketplaceParticipations", status="truncate")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        client.get(PARTICIPATIONS)
    assert client.get(PARTICIPATIONS).status_code == 200
    counts = server.stats.snapshot()["getMarketplaceParticipations"]
    assert counts["500"] >= 2 and counts["drop"] >= 1 and counts["truncate"] >= 1


def test_random_faults_are_seeded_and_latency_applies():
    config = StandInConfig(seed=4, size="tiny", now=NOW, rate_limits=False, error_rate=0.3)
    outcomes = []
    for _ in range(2):
        with StandIn(config) as server:
            client = Client(server)
            outcomes.append([client.get(PARTICIPATIONS).status_code for _ in range(20)])
    assert outcomes[0] == outcomes[1] and {500, 503} & set(outcomes[0]) and 200 in outcomes[0]
    with StandIn(StandInConfig(seed=4, size="tiny", now=NOW, latency_ms=100)) as server:
        client = Client(server)
        started = time.monotonic()
        client.get(PARTICIPATIONS)
        assert time.monotonic() - started >= 0.1


# -- SigV4 -------------------------------------------------------------------------------------


def _signed(server: StandIn, url: str) -> requests.PreparedRequest:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    sent = headers(seller_token(server))
    sent.pop("x-amz-date")  # SigV4 sets X-Amz-Date
    aws = AWSRequest(method="GET", url=url, data=b"", headers=sent)
    SigV4Auth(Credentials(AWS_KEY_ID, AWS_SECRET), "execute-api", "us-east-1").add_auth(aws)
    return requests.Request("GET", url, headers=dict(aws.headers.items())).prepare()


def test_sigv4_signed_request_is_verified_and_tampering_is_caught():
    config = StandInConfig(
        seed=5, size="tiny", now=NOW, require_sigv4=True, aws_credentials={AWS_KEY_ID: AWS_SECRET}
    )
    with StandIn(config) as server:
        query = f"MarketplaceId={US}&QueryType=SHIPMENT&ShipmentStatusList=CLOSED"
        url = f"{server.base_url}{SHIPMENTS}?{query}"
        session = requests.Session()
        assert session.send(_signed(server, url), timeout=10).status_code == 200
        tampered = _signed(server, url)
        assert tampered.url is not None
        tampered.url = tampered.url.replace("CLOSED", "WORKING")
        rejected = session.send(tampered, timeout=10)
        assert rejected.status_code == 403
        assert error_code(rejected) == "InvalidSignature"
        unsigned = requests.get(url, headers=headers(seller_token(server)), timeout=10)
        assert unsigned.status_code == 403
        assert server.stats.snapshot()["sigv4"] == {"verified": 1, "failed": 2}


# -- command line ------------------------------------------------------------------------------


def test_command_line_announces_its_url_and_stops_on_sigterm():
    command = [sys.executable, "-m", "spapi_standin", "--port", "0", "--no-rate-limits"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=os.environ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            assert line.startswith("spapi-standin listening on http://127.0.0.1:")
            url = line.rsplit(" ", 1)[1]
            response = requests.post(
                f"{url}/auth/o2/token", data={"grant_type": "password"}, timeout=10
            )
            assert response.json()["error"] == "unsupported_grant_type"
            process.terminate()
            assert process.wait(timeout=10) == 0
        finally:
            process.kill()
