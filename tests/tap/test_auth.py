"""Authenticator against the stand-in: LWA reuse and refresh, grantless, RDT, SigV4, STS."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from spapi_standin import StandIn, StandInConfig
from tap_spapi import auth
from tap_spapi.account import Account
from tap_spapi.accounts import configured_accounts
from tap_spapi.auth import SigV4Signer
from tap_spapi.errors import AuthError
from testkit import run_tap, tap_config

AWS_KEY_ID = "AKIDTAPSPAPITEST0001"
AWS_SECRET = "sentinel-aws-secret-key-0123456789abcdefgh"


def account_for(server: StandIn, **overrides: object) -> Account:
    return Account(configured_accounts(tap_config(server, **overrides))[0])


def lwa_requests(server: StandIn) -> int:
    return int(server.stats.snapshot().get("lwa", {}).get("requests", 0))


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


def test_refreshes_token_once_when_it_expires_mid_run():
    # The stand-in issues tokens that live 2 s; the run outlives several of them.
    with StandIn(StandInConfig(seed=3, token_lifetime=2, rate_scale=50.0)) as server:
        account = account_for(server)
        session = account.session()
        url = server.base_url + "/sellers/v1/marketplaceParticipations"
        import time

        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            assert session.get(url, timeout=10).status_code == 200
            time.sleep(0.2)
        assert 2 <= lwa_requests(server) <= 5


def test_expired_token_rejected_by_amazon_is_refreshed_and_the_request_retried(standin):
    config = tap_config(standin)
    first = run_tap(config)
    assert first.records("marketplace_participations")
    # Amazon expires tokens before `expires_in` says (e.g. revoked sessions): the
    # stand-in forgets every token; the tap sees 403 "expired", refreshes, retries.
    from tap_spapi.streams.sellers import MarketplaceParticipationsStream
    from tap_spapi.tap import TapSpapi

    tap = TapSpapi(config=config)
    stream = tap.streams["marketplace_participations"]
    assert isinstance(stream, MarketplaceParticipationsStream)
    assert stream.fetch("default")
    before = lwa_requests(standin)
    standin.expire_tokens()
    assert stream.fetch("default")
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
    assert standin.stats.snapshot()["createRestrictedDataToken"]["requests"] == 1
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


def test_sigv4_signed_run_is_accepted_by_botocore_verification():
    config = StandInConfig(
        seed=5, rate_scale=50.0, require_sigv4=True, aws_credentials={AWS_KEY_ID: AWS_SECRET}
    )
    with StandIn(config) as server:
        output = run_tap(
            tap_config(server, aws_access_key_id=AWS_KEY_ID, aws_secret_access_key=AWS_SECRET)
        )
        assert output.records("marketplace_participations")
        assert server.stats.snapshot()["sigv4"]["verified"] >= 1
        assert server.stats.snapshot()["sigv4"].get("failed", 0) == 0


def test_tampered_sigv4_request_is_rejected():
    config = StandInConfig(
        seed=5, rate_scale=50.0, require_sigv4=True, aws_credentials={AWS_KEY_ID: AWS_SECRET}
    )
    with StandIn(config) as server:
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
    config = StandInConfig(
        seed=5, rate_scale=50.0, require_sigv4=True, aws_credentials={AWS_KEY_ID: AWS_SECRET}
    )
    with StandIn(config) as server:
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
        assert standin.stats.snapshot()["createRestrictedDataToken"]["requests"] == 1
        assert lwa_requests(standin) == 1


# The expiring case renews the STS keys before every signature: over two minutes.
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
            seed=5, rate_scale=50.0, require_sigv4=True, aws_secret_lookup=issued_secret
        )
        with StandIn(config) as server:
            output = run_tap(
                tap_config(
                    server,
                    aws_access_key_id="AKIDSOURCEKEY0000001",
                    aws_secret_access_key="source-secret-key-for-moto",
                    role_arn="arn:aws:iam::123456789012:role/SellingPartnerAPIRole",
                    tracking_ids=server.dataset.tracking_labels()[:5],
                )
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


def test_an_expired_rdt_is_replaced_by_a_new_one():
    config = StandInConfig(
        seed=11, rate_scale=2.0, rate_overrides={"getShipment": (2.0, 4)}, rdt_lifetime=1
    )
    with StandIn(config) as standin:
        account = account_for(standin)
        shipment_id = standin.dataset.mfn_shipment_ids[0]
        url = f"{standin.base_url}/mfn/v0/shipments/{shipment_id}"
        session = account.session()
        assert session.get(url, timeout=10).status_code == 200
        time.sleep(1.5)  # the RDT's one-second life is over
        assert session.get(url, timeout=10).status_code == 200
        assert standin.stats.snapshot()["createRestrictedDataToken"]["requests"] == 2
