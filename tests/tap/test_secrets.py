"""No secret reaches stdout or stderr, at DEBUG level, on success or failure."""

from __future__ import annotations

import json

import pytest

from spapi_standin import StandIn, StandInConfig
from tap_spapi.redact import MASK, redact, register_secret
from testkit import run_cli, tap_config

CLIENT_SECRET = "sentinel-client-secret-5f1e"
REFRESH_TOKEN = "Atzr|sentinel-refresh-token-77c2"
AWS_KEY_ID = "AKIDSENTINEL00000001"
AWS_SECRET = "sentinel-aws-secret-access-key-9d3b"
AWS_SESSION = "sentinel-aws-session-token-41aa"


def sentinel_standin(seed: int, *refresh_tokens: str, **extra: object) -> StandInConfig:
    """A stand-in that knows only the sentinel secrets and checks SigV4 signatures."""
    return StandInConfig(
        seed=seed,
        rate_scale=50.0,
        client_secret=CLIENT_SECRET,
        refresh_tokens={REFRESH_TOKEN, *refresh_tokens},
        require_sigv4=True,
        aws_credentials={AWS_KEY_ID: AWS_SECRET},
        **extra,  # type: ignore[arg-type]
    )


def test_debug_run_with_faults_leaks_no_secret(tmp_path):
    config = sentinel_standin(9)
    with StandIn(config) as server:
        # A live 429 carries no x-amzn-RateLimit-Limit, so the retry waits at the model's
        # rate: on getShipments (2/s), not getMarketplaceParticipations (one a minute,
        # beyond the test's max_retry_seconds before the tap has seen a scaled rate).
        server.inject("getShipments", status=429, times=1)
        server.inject("getMarketplaceParticipations", status=500, times=1)
        server.inject("getMarketplaceParticipations", status=403, times=1)  # transient
        settings = tap_config(
            server,
            aws_access_key_id=AWS_KEY_ID,
            aws_secret_access_key=AWS_SECRET,
            aws_session_token=AWS_SESSION,
        )
        path = tmp_path / "config.json"
        path.write_text(json.dumps(settings))
        ok = run_cli(["--config", str(path)], env={"TAP_SPAPI_LOGLEVEL": "DEBUG"})
        assert ok.returncode == 0, ok.stderr[-2000:]
        server.inject("getMarketplaceParticipations", status=400, times=1)
        failed = run_cli(["--config", str(path)], env={"TAP_SPAPI_LOGLEVEL": "DEBUG"})
        assert failed.returncode == 1
        issued = server.issued_tokens()

    assert "DEBUG" in ok.stderr  # the run really logged at DEBUG
    assert issued, "the stand-in issued access tokens"
    output = ok.stdout + ok.stderr + failed.stdout + failed.stderr
    for secret in (CLIENT_SECRET, REFRESH_TOKEN, AWS_SECRET, AWS_SESSION, *issued):
        assert secret not in output


def test_bad_refresh_token_error_does_not_echo_it(tmp_path):
    with StandIn(StandInConfig(seed=9)) as server:
        path = tmp_path / "config.json"
        path.write_text(json.dumps(tap_config(server, refresh_token=REFRESH_TOKEN)))
        result = run_cli(["--config", str(path)], env={"TAP_SPAPI_LOGLEVEL": "DEBUG"})
    assert result.returncode == 1
    assert "invalid_grant" in result.stderr
    assert REFRESH_TOKEN not in result.stdout + result.stderr


SECOND_REFRESH_TOKEN = "Atzr|sentinel-second-account-refresh-token-3e91"


def test_every_stream_under_every_fault_at_debug_leaks_no_secret(tmp_path):
    """Two accounts, SigV4, short-lived tokens, and each fault the tap survives."""
    config = sentinel_standin(
        12, SECOND_REFRESH_TOKEN, token_lifetime=2, overlapping_pages=True, outbound_page_size=40
    )
    with StandIn(config) as server:
        faults: list[int | str] = [429, 500, 503, "drop", "truncate", "html", "empty", "slow"]
        for operation in ("listAllFulfillmentOrders", "getPackageTrackingDetails", "getTracking",
                          "getShipments", "getFulfillmentOrder"):  # fmt: skip
            for fault in faults:
                server.inject(operation, status=fault, times=1)
        server.inject("lwa", status=500, times=1)
        server.inject("getCarrierAccounts", status=403, times=100, body=UNAUTHORIZED)
        settings = tap_config(
            server,
            accounts=[
                {"name": "first", "refresh_token": REFRESH_TOKEN},
                {"name": "second", "refresh_token": SECOND_REFRESH_TOKEN},
            ],
            tracking_ids=server.dataset.tracking_labels(),
            aws_access_key_id=AWS_KEY_ID,
            aws_secret_access_key=AWS_SECRET,
            aws_session_token=AWS_SESSION,
            request_timeout=2,
        )
        settings.pop("refresh_token")
        path = tmp_path / "config.json"
        path.write_text(json.dumps(settings))
        result = run_cli(["--config", str(path)], env={"TAP_SPAPI_LOGLEVEL": "DEBUG"}, timeout=300)
        issued = server.issued_tokens()
        throttled = server.stats.count("getTracking", "429")

    assert result.returncode == 0, result.stderr[-3000:]
    assert "DEBUG" in result.stderr
    assert throttled >= 1 and len(issued) >= 4, "the faults and token refreshes happened"
    records = [line for line in result.stdout.splitlines() if '"type":"RECORD"' in line]
    assert len(records) > 500
    output = result.stdout + result.stderr
    for secret in (CLIENT_SECRET, REFRESH_TOKEN, SECOND_REFRESH_TOKEN, AWS_SECRET, AWS_SESSION,
                   *issued):  # fmt: skip
        assert secret not in output


UNAUTHORIZED = {
    "errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied."}]
}


@pytest.mark.parametrize(
    "text",
    [
        # Amazon's S3 link as a DEBUG log quotes it, urllib3's request line, percent-encoded.
        '{"url": "https://tortuga.s3.amazonaws.com/doc?X-Amz-Algorithm=AWS4-HMAC-SHA256'
        "&X-Amz-Credential=AKIDLINK/20261202/us-east-1/s3/aws4_request"
        '&X-Amz-Security-Token=FwoLINKTOKEN&X-Amz-Signature=0f1e2d3c4b5a"}',
        '"GET /doc?X-Amz-Credential=AKIDLINK%2F1&X-Amz-Security-Token=FwoLINKTOKEN'
        '&x-amz-signature=0f1e2d3c4b5a HTTP/1.1" 200 512',
        "next=https%3A%2F%2Fx%2Fdoc%3FX-Amz-Signature%3D0f1e2d3c4b5a%26X-Amz-Credential%3DAKIDLINK",
    ],
)
def test_a_pre_signed_link_is_masked_by_shape_without_being_registered(text):
    scrubbed = redact(text)
    for value in ("0f1e2d3c4b5a", "AKIDLINK", "FwoLINKTOKEN"):
        assert value not in scrubbed
    assert MASK in scrubbed
    assert "x-amz-signature" in scrubbed.lower()  # what was there stays readable


def test_a_token_shaped_secret_is_masked_by_its_shape_and_not_added_to_the_pattern():
    from tap_spapi import redact as redaction

    before = len(redaction._secrets)
    register_secret("Atza|IwEBIsentinel-access-token-0001")
    register_secret("a-client-secret-not-token-shaped-42")
    assert len(redaction._secrets) == before + 1
    assert redact(
        "Bearer Atza|IwEBIsentinel-access-token-0001 and a-client-secret-not-token-shaped-42"
    ) == (f"Bearer {MASK} and {MASK}")
