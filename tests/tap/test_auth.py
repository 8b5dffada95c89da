"""Authenticator against the stand-in: LWA reuse and refresh, grantless, RDT, SigV4, STS."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest
import requests

from spapi_standin import StandIn, StandInConfig
from tap_spapi.config.accounts_setting import configured_accounts
from tap_spapi.config.settings import Settings
from tap_spapi.errors import AuthError
from tap_spapi.wire import account as account_module
from tap_spapi.wire import auth
from tap_spapi.wire.account import Account
from tap_spapi.wire.auth import EXPIRY_MARGIN_SECONDS, RestrictedDataTokens, SigV4Signer
from testkit import assert_complete, run_tap, tap_config

if TYPE_CHECKING:
    from collections.abc import Callable

AWS_KEY_ID = "AKIDTAPSPAPITEST0001"
AWS_SECRET = "sentinel-aws-secret-key-0123456789abcdefgh"


def account_for(server: StandIn, **overrides: object) -> Account:
    return Account(configured_accounts(Settings.from_config(tap_config(server, **overrides)))[0])


def lwa_requests(server: StandIn) -> int:
    return int(server.stats.snapshot().get("lwa", {}).get("requests", 0))


def rdt_requests(server: StandIn) -> int:
    return int(server.stats.snapshot()[RestrictedDataTokens.OPERATION]["requests"])


class FakeClock:
    """A monotonic clock the test moves by hand: a token's life ends when the test says,
    not after seconds that a busy machine may stretch."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def lwa_tokens_on(clock: Callable[[], float], monkeypatch: pytest.MonkeyPatch) -> None:
    """Accounts built from now on cache LWA tokens by `clock`."""

    class ClockedLwaTokens(auth.LwaTokenManager):
        def __init__(self, **settings: Any) -> None:
            super().__init__(**settings, clock=clock)

    monkeypatch.setattr(auth, "LwaTokenManager", ClockedLwaTokens)


def rdts_on(clock: Callable[[], float], monkeypatch: pytest.MonkeyPatch) -> None:
    """Accounts built from now on cache Restricted Data Tokens by `clock`."""

    class ClockedRdts(RestrictedDataTokens):
        def __init__(self, **settings: Any) -> None:
            super().__init__(**settings, clock=clock)

    monkeypatch.setattr(account_module, "RestrictedDataTokens", ClockedRdts)


def test_one_lwa_call_serves_many_requests_and_threads(standin):
    account = account_for(standin)
    url = standin.base_url + "/sellers/v1/marketplaceParticipations"

    def call() -> None:
        session = account.session()
        for _ in range(3):
            assert session.get(url, timeout=10).status_code == 200

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert lwa_requests(standin) == 1


def test_refreshes_token_once_when_it_expires_mid_run(standin, monkeypatch):
    # The tap's clock passes the token's life (as Amazon's `expires_in` said) while the
    # run goes on; the stand-in's own clock still takes it, so no request is refused.
    clock = FakeClock()
    lwa_tokens_on(clock, monkeypatch)
    account = account_for(standin)
    url = standin.base_url + "/sellers/v1/marketplaceParticipations"
    lifetime = standin.config.token_lifetime
    # 14 calls in all: within getMarketplaceParticipations' burst of 15, so none waits
    # for the tap's pacing to Amazon's plan of one a minute.
    statuses: list[int] = []

    def call() -> None:
        session = account.session()  # one a thread, as the tap's workers have
        statuses.extend(session.get(url, timeout=10).status_code for _ in range(2))

    call()
    assert lwa_requests(standin) == 1
    clock.now = lifetime - EXPIRY_MARGIN_SECONDS - 1  # nearly due: still the same token
    call()
    assert lwa_requests(standin) == 1
    clock.now = lifetime  # due: one refresh, however many threads ask for a token
    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert lwa_requests(standin) == 2
    clock.now += lifetime  # and once more for the next token
    call()
    assert lwa_requests(standin) == 3
    assert statuses == [200] * 14


def test_expired_token_rejected_by_amazon_is_refreshed_and_the_request_retried(standin):
    config = tap_config(standin)
    first = run_tap(config, streams={"marketplace_participations"})
    assert first.records("marketplace_participations")
    # Amazon expires tokens before `expires_in` says (e.g. revoked sessions): the
    # stand-in forgets every token; the tap sees 403 "expired", refreshes, retries.
    from tap_spapi.streams.sellers import fetch_participations
    from tap_spapi.tap import TapSpapi

    client = TapSpapi(config=config).run.client("default")
    assert fetch_participations(client)
    before = lwa_requests(standin)
    standin.expire_tokens()
    assert fetch_participations(client)
    assert lwa_requests(standin) == before + 1


def test_grantless_operation_uses_a_client_credentials_token(standin):
    account = account_for(standin)
    response = account.session().get(
        standin.base_url + "/notifications/v1/destinations", timeout=10
    )
    assert response.status_code == 200, response.text
    grants = standin.stats.snapshot()["lwa"]
    assert grants.get("client_credentials", 0) == 1
    # A seller token is refused on the grantless operation.
    refused = requests.get(
        standin.base_url + "/notifications/v1/destinations",
        headers={
            "x-amz-access-token": account.auth.lwa.token(),
            "x-amz-date": "20260101T000000Z",
            "User-Agent": "test",
        },
        timeout=10,
    )
    assert refused.status_code == 403


# Merchant Fulfillment getShipment has a burst of 1. These tests are about RDTs, not
# pacing, and go through a bare session without retries: the stand-in grants a burst of
# 4 so that a request delayed on a loaded machine cannot turn into a 429.
def rdt_standin() -> StandInConfig:
    return StandInConfig(seed=11, rate_scale=2.0, rate_overrides={"getShipment": (2.0, 4)})


def test_restricted_operation_gets_an_rdt_cached_per_resource():
    with StandIn(rdt_standin()) as standin:
        check_rdt_flow(standin)


def check_rdt_flow(standin: StandIn) -> None:
    account = account_for(standin)
    shipment_id = standin.dataset.mfn_shipment_ids[0]
    url = f"{standin.base_url}/mfn/v0/shipments/{shipment_id}"
    session = account.session()
    for _ in range(3):
        response = session.get(url, timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["payload"]["ShipmentId"] == shipment_id
    assert rdt_requests(standin) == 1
    # The seller's LWA token alone is not enough for that operation.
    plain = requests.get(
        url,
        headers={
            "x-amz-access-token": account.auth.lwa.token(),
            "x-amz-date": "20260101T000000Z",
            "User-Agent": "test",
        },
        timeout=10,
    )
    assert plain.status_code == 403


# What a signature covers differs by request: a bare GET (marketplace participations),
# a query of dates, lists and page tokens (inbound shipments, orders), the Shipping API's
# tracking query, and a restricted report's POST bodies (createReport,
# createRestrictedDataToken) and RDT-authorised document. Signing is the same for every
# other stream, so the signed run syncs these, not all of them.
SIGNED_STREAMS = {
    "marketplace_participations",
    "inbound_shipments",
    "orders",
    "shipping_tracking",
    "flat_file_actionable_order_data_shipping",
}


def sigv4_standin() -> StandInConfig:
    """A stand-in that checks every signature, with the `standin` fixture's data set (seed
    11, built once a process: the settings that differ are only read while serving)."""
    return StandInConfig(
        seed=11, rate_scale=50.0, require_sigv4=True, aws_credentials={AWS_KEY_ID: AWS_SECRET}
    )


def test_sigv4_signed_run_is_accepted_by_botocore_verification():
    with StandIn(sigv4_standin()) as server:
        output = run_tap(
            tap_config(
                server,
                aws_access_key_id=AWS_KEY_ID,
                aws_secret_access_key=AWS_SECRET,
                tracking_ids=server.dataset.tracking_labels()[:5],
            ),
            streams=SIGNED_STREAMS,
        )
        assert_complete(output, server, streams=SIGNED_STREAMS - {"shipping_tracking"})
        assert output.records("shipping_tracking")
        assert output.failures is not None and not output.failures.stopped
        stats = server.stats.snapshot()
        assert stats["createReport"]["requests"] >= 1
        assert stats[RestrictedDataTokens.OPERATION]["requests"] >= 1
        assert stats["sigv4"]["verified"] >= 1
        assert stats["sigv4"].get("failed", 0) == 0


def test_tampered_sigv4_request_is_rejected():
    with StandIn(sigv4_standin()) as server:
        account = account_for(
            server, aws_access_key_id=AWS_KEY_ID, aws_secret_access_key=AWS_SECRET
        )
        url = server.base_url + "/sellers/v1/marketplaceParticipations?x=1"
        prepared = requests.Request("GET", url).prepare()
        account.auth.authenticate_request(prepared)
        prepared.url = url.replace("x=1", "x=2")  # changed after signing
        response = requests.Session().send(prepared, timeout=10)
        assert response.status_code == 403
        assert "signature" in response.text.lower()


def test_wrong_aws_secret_is_rejected_with_a_clear_error():
    with StandIn(sigv4_standin()) as server:
        account = account_for(
            server, aws_access_key_id=AWS_KEY_ID, aws_secret_access_key="wrong" * 8
        )
        response = account.session().get(
            server.base_url + "/sellers/v1/marketplaceParticipations", timeout=10
        )
        assert response.status_code == 403


def test_threads_needing_the_same_rdt_share_one_issuance():
    with StandIn(rdt_standin()) as standin:
        account = account_for(standin)
        shipment_id = standin.dataset.mfn_shipment_ids[0]
        url = f"{standin.base_url}/mfn/v0/shipments/{shipment_id}"
        statuses: list[int] = []

        def call() -> None:
            statuses.append(account.session().get(url, timeout=30).status_code)

        threads = [threading.Thread(target=call) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [200] * 4
        assert rdt_requests(standin) == 1
        assert lwa_requests(standin) == 1


# The expiring case renews the STS keys before every signature (an AssumeRole call each):
# it syncs two streams of two APIs, a handful of signatures, not the whole catalog.
STS_STREAMS = {"marketplace_participations", "shipping_tracking"}


@pytest.mark.parametrize(
    "key_life",
    [None, 900],
    ids=["default", "expiring"],
)
def test_sts_role_is_assumed_and_its_temporary_keys_sign(monkeypatch, key_life):
    moto_server = pytest.importorskip("moto.server")
    sts_models = pytest.importorskip("moto.sts.models")
    moto = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    if key_life:
        # Keys that live 15 minutes are inside botocore's renewal window from the start:
        # every signature renews them first, as it would near the end of a long run.
        args = {**auth.ASSUME_ROLE_ARGS, "DurationSeconds": key_life}
        monkeypatch.setattr(auth, "ASSUME_ROLE_ARGS", args)
    signing_keys: set[str] = set()
    try:
        host, port = moto.get_host_and_port()
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://{host}:{port}")

        def issued_secret(access_key_id: str) -> str | None:
            signing_keys.add(access_key_id)
            for backend in sts_models.sts_backends.values():
                for regional in backend.values():
                    for role in regional.assumed_roles:
                        if role.access_key_id == access_key_id:
                            return str(role.secret_access_key)
            return None

        config = StandInConfig(
            seed=11, rate_scale=50.0, require_sigv4=True, aws_secret_lookup=issued_secret
        )
        with StandIn(config) as server:
            output = run_tap(
                tap_config(
                    server,
                    aws_access_key_id="AKIDSOURCEKEY0000001",
                    aws_secret_access_key="source-secret-key-for-moto",
                    role_arn="arn:aws:iam::123456789012:role/SellingPartnerAPIRole",
                    tracking_ids=server.dataset.tracking_labels()[:5],
                ),
                streams=STS_STREAMS,
            )
            assert output.records("marketplace_participations")
            assert output.records("shipping_tracking")
            assert server.stats.snapshot()["sigv4"]["verified"] >= 1
            assert server.stats.snapshot()["sigv4"].get("failed", 0) == 0
    finally:
        moto.stop()
    # Expiring keys were replaced during the run, and every signature still verified.
    assert (len(signing_keys) > 1) == bool(key_life)


def test_revoked_refresh_token_names_the_setting(standin):
    account = account_for(standin, refresh_token="Atzr|revoked-or-unknown")
    with pytest.raises(AuthError, match=r"invalid_grant.*refresh_token"):
        account.auth.lwa.token()


def test_wrong_client_secret_names_the_settings(standin):
    account = account_for(standin, client_secret="not-the-secret")
    with pytest.raises(AuthError, match=r"invalid_client.*client_secret"):
        account.auth.lwa.token()


def test_signer_overwrites_rather_than_appends_headers():
    signer = SigV4Signer(
        access_key_id=AWS_KEY_ID,
        secret_access_key=AWS_SECRET,
        session_token="session-token-value",
        role_arn=None,
        aws_region="us-east-1",
    )
    prepared = requests.Request("GET", "https://example.test/a?b=1").prepare()
    signer.sign(prepared)
    first = prepared.headers["Authorization"]
    signer.sign(prepared)
    assert prepared.headers["Authorization"].count("AWS4-HMAC-SHA256") == 1
    assert prepared.headers["X-Amz-Security-Token"] == "session-token-value"
    assert first.split("Signature=")[0] == prepared.headers["Authorization"].split("Signature=")[0]


def test_an_expired_rdt_is_replaced_by_a_new_one(monkeypatch):
    # The tap's clock passes the RDT's life (the `expiresIn` Amazon gave); the stand-in's
    # own clock has it valid still, so the second RDT comes from the tap's cache expiring,
    # not from a refusal.
    clock = FakeClock()
    rdts_on(clock, monkeypatch)
    with StandIn(rdt_standin()) as standin:
        account = account_for(standin)
        shipment_id = standin.dataset.mfn_shipment_ids[0]
        url = f"{standin.base_url}/mfn/v0/shipments/{shipment_id}"
        session = account.session()
        assert session.get(url, timeout=10).status_code == 200
        clock.now = standin.config.rdt_lifetime - EXPIRY_MARGIN_SECONDS - 1
        assert session.get(url, timeout=10).status_code == 200
        assert rdt_requests(standin) == 1
        clock.now = standin.config.rdt_lifetime  # the RDT's life is over
        assert session.get(url, timeout=10).status_code == 200
        assert rdt_requests(standin) == 2
