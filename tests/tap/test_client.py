"""The base client: retries, error messages, headers, pagination plumbing.

Every test here is about one operation, getMarketplaceParticipations, and syncs its
stream only (the base client is the same for every stream).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from testkit import catalog_selecting, run_cli, run_tap, tap_config

if TYPE_CHECKING:
    from testkit import SingerOutput

STREAM = "marketplace_participations"
OPERATION = "getMarketplaceParticipations"


def sync(config: dict[str, Any]) -> SingerOutput:
    """A run of the stream these tests are about."""
    return run_tap(config, streams={STREAM})


def requests_to(server, operation: str) -> int:
    return int(server.stats.snapshot()[operation]["requests"])


def test_429_is_retried_until_success(standin):
    standin.inject(OPERATION, status=429, times=2)
    # Live 429s carry no x-amzn-RateLimit-Limit, and these come before any 2xx could
    # announce the stand-in's x50 plan: pace to that plan, not Amazon's one a minute.
    overrides = {OPERATION: {"rate": 0.016 * 50, "burst": 15}}
    output = sync(tap_config(standin, rate_limit_overrides=overrides))
    assert len(output.records(STREAM)) == len(standin.dataset.marketplace_participations)
    assert requests_to(standin, OPERATION) == 3


@pytest.mark.parametrize("fault", [500, 503, "drop", "truncate"])
def test_server_fault_is_retried_until_success(standin, fault):
    standin.inject(OPERATION, status=fault, times=1)
    output = sync(tap_config(standin))
    assert len(output.records(STREAM)) == len(standin.dataset.marketplace_participations)


def stopped_because(output, stream: str = STREAM) -> str:
    """Why `stream` stopped for the default account (the run went on without it)."""
    assert output.failures is not None
    return output.failures.stopped[(stream, "default")]


def test_retries_exhausted_gives_a_clear_error(standin):
    standin.inject(OPERATION, status=500, times=50)
    message = stopped_because(sync(tap_config(standin, max_retries=2)))
    assert f"stream '{STREAM}' ({OPERATION})" in message
    assert "HTTP 500" in message and "x-amzn-RequestId: " in message
    assert "x-amzn-RequestId: none" not in message
    assert requests_to(standin, OPERATION) == 3


def test_400_fails_fast_with_amazons_code_and_request_id(standin):
    standin.inject(OPERATION, status=400, times=1)
    message = stopped_because(sync(tap_config(standin)))
    assert "HTTP 400 InvalidInput" in message
    assert f"stream '{STREAM}' ({OPERATION})" in message
    assert requests_to(standin, OPERATION) == 1


def test_cli_prints_the_failure_as_one_line_without_traceback(standin, tmp_path):
    # A second stream fails too (one request of its own): a run with one failure prints
    # just that line, a run with more adds the summary line checked here.
    standin.inject(OPERATION, status=400, times=1)
    standin.inject("getCarrierAccounts", status=400, times=1)
    settings = tap_config(standin)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(settings))
    catalog = tmp_path / "catalog.json"
    selected = {STREAM, "shipping_carrier_accounts"}
    catalog.write_text(json.dumps(catalog_selecting(settings, selected)))
    result = run_cli(["--config", str(config), "--catalog", str(catalog)])
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tap-spapi: error: the run is incomplete: 2 failure(s) ")
    first = next(line for line in result.stderr.splitlines() if line.startswith("tap-spapi:"))
    assert first.startswith("tap-spapi: error: stream 'marketplace_participations' of account")
    assert "HTTP 400 InvalidInput" in first
    assert "Traceback" not in result.stderr


def test_every_request_carries_token_date_and_user_agent(standin):
    sync(tap_config(standin, user_agent="MyApp/2.1"))
    seen = standin.stats.snapshot()[OPERATION]
    assert seen["requests"] >= 1
    agent = standin.last_request_headers(OPERATION)["User-Agent"]
    assert agent.startswith("MyApp/2.1 (Language=Python/")
    assert "Platform=" in agent and len(agent) <= 500


def test_marketplace_participations_have_a_top_level_key(standin):
    output = sync(tap_config(standin))
    records = output.records(STREAM)
    assert {r["marketplace_id"] for r in records} == {
        p["marketplace"]["id"] for p in standin.dataset.marketplace_participations
    }
    assert all(r["marketplace"]["id"] == r["marketplace_id"] for r in records)


def test_default_marketplaces_are_those_of_the_region(standin):
    from tap_spapi.tap import TapSpapi

    tap = TapSpapi(config=tap_config(standin))
    ids = tap.run.marketplace_ids_of("default")
    assert ids and "A1PA6795UKMFR9" not in ids  # a German participation: region eu
    assert set(ids) <= {"ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8", "A2Q3Y263D00KWC"}


# --- the account's SP-API client (wire/client.py): call and pages --------------------

LISTING = "listAllFulfillmentOrders"
SINCE = {"queryStartDate": "2000-01-01T00:00:00Z"}


def client_of(server):
    from tap_spapi.tap import TapSpapi

    return TapSpapi(config=tap_config(server)).run.client("default")


def order_ids(pages) -> list[str]:
    return [o["sellerFulfillmentOrderId"] for p in pages for o in p["payload"]["fulfillmentOrders"]]


def test_client_pages_follow_the_token_to_the_last_page(standin):
    pages = list(
        client_of(standin).pages(LISTING, where="t", params=SINCE, token_path="payload.nextToken")
    )
    expected = sorted(o["sellerFulfillmentOrderId"] for o in standin.dataset.outbound_orders)
    assert len(pages) > 1
    assert sorted(order_ids(pages)) == expected
    assert requests_to(standin, LISTING) == len(pages)


@pytest.mark.parametrize("ahead", [None, 0, 1])
def test_client_pages_ask_a_page_again_when_its_token_comes_back(standin, ahead):
    whole = order_ids(
        client_of(standin).pages(LISTING, where="t", params=SINCE, token_path="payload.nextToken")
    )
    asked = requests_to(standin, LISTING)
    standin.inject(LISTING, "repeat_token", times=1, matching="nextToken=")
    again = client_of(standin).pages(
        LISTING, where="t", params=SINCE, token_path="payload.nextToken", ahead=ahead
    )
    assert order_ids(again) == whole
    assert requests_to(standin, LISTING) - asked == asked + 1


def test_client_pages_stop_with_one_line_when_a_token_keeps_coming_back(standin):
    from tap_spapi.wire.responses import PaginationLoopError

    standin.inject(LISTING, "repeat_token", times=3, matching="nextToken=")
    pages = client_of(standin).pages(
        LISTING, where="stream 'x'", params=SINCE, token_path="payload.nextToken"
    )
    with pytest.raises(PaginationLoopError) as raised:
        list(pages)
    assert f"stream 'x' ({LISTING}): page 2:" in str(raised.value)
    assert "x-amzn-RequestId: none" not in str(raised.value)


def test_client_pages_of_a_listing_end_at_a_token_that_comes_back(standin):
    whole = order_ids(
        client_of(standin).pages(LISTING, where="t", params=SINCE, token_path="payload.nextToken")
    )
    standin.inject(LISTING, "repeat_token", times=1, matching="nextToken=")
    ended = order_ids(
        client_of(standin).pages(
            LISTING, where="t", params=SINCE, token_path="payload.nextToken", end_at_repeat=True
        )
    )
    assert 0 < len(ended) < len(whole)
    assert ended == whole[: len(ended)]


def test_client_call_retries_and_names_the_operation_when_it_gives_up(standin):
    from tap_spapi.errors import TapSpapiError

    standin.inject(OPERATION, status=500, times=1)
    client = client_of(standin)
    assert client.call(OPERATION, where="t")["payload"]
    standin.inject(OPERATION, status=400, times=1)
    with pytest.raises(TapSpapiError) as raised:
        client.call(OPERATION, where="stream 'y'")
    assert f"({OPERATION}): HTTP 400" in str(raised.value)
