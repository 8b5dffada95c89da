"""No secret reaches stdout or stderr, at DEBUG level, on success or failure."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from spapi_standin import StandIn, StandInConfig
from tap_spapi.wire.redact import MASK, redact, register_secret
from testkit import catalog_selecting, expected_keys, key_of, run_cli, tap_config

if TYPE_CHECKING:
    from pathlib import Path

    from testkit import CliResult

AWS_KEY_ID = "AKIDSENTINEL00000001"
UNAUTHORIZED = {
    "errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied."}]
}
# The secrets tests share one small data set (built once a process): what they check is
# where a secret could show, not how much data goes by.
DATA: dict[str, Any] = {"seed": 12, "size": "tiny"}


@dataclass(frozen=True)
class Secrets:
    """Sentinel secrets new to this process.

    The runs are in-process and the tap's redaction registry is the process's: a value
    an earlier test registered would be masked even where this run forgot to register
    it. Fresh values make each test as strict as a run in a process of its own.
    """

    client_secret: str
    refresh_token: str
    second_refresh_token: str
    aws_secret: str
    aws_session: str

    @classmethod
    def fresh(cls) -> Secrets:
        tag = uuid.uuid4().hex
        return cls(
            client_secret=f"sentinel-client-secret-{tag}",
            refresh_token=f"Atzr|sentinel-refresh-token-{tag}",
            second_refresh_token=f"Atzr|sentinel-second-account-refresh-token-{tag}",
            aws_secret=f"sentinel-aws-secret-access-key-{tag}",
            aws_session=f"sentinel-aws-session-token-{tag}",
        )

    def all(self) -> tuple[str, ...]:
        return (self.client_secret, self.refresh_token, self.second_refresh_token,
                self.aws_secret, self.aws_session)  # fmt: skip

    def signing(self) -> dict[str, str]:
        """The settings that sign every request with the sentinel AWS keys."""
        return {
            "aws_access_key_id": AWS_KEY_ID,
            "aws_secret_access_key": self.aws_secret,
            "aws_session_token": self.aws_session,
        }


@pytest.fixture
def secrets() -> Secrets:
    return Secrets.fresh()


def sentinel_standin(secrets: Secrets, **extra: Any) -> StandInConfig:
    """A stand-in that knows only the sentinel secrets and checks SigV4 signatures."""
    return StandInConfig(
        **DATA,
        rate_scale=50.0,
        client_secret=secrets.client_secret,
        refresh_tokens={secrets.refresh_token, secrets.second_refresh_token},
        require_sigv4=True,
        aws_credentials={AWS_KEY_ID: secrets.aws_secret},
        **extra,
    )


def cli_at_debug(tmp_path: Path, settings: dict[str, Any], streams: set[str]) -> CliResult:
    """`tap-spapi --config … --catalog …` at DEBUG through the command line's entry point
    (what a user sees on stdout and stderr), syncing `streams` only."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps(settings))
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(catalog_selecting(settings, streams)))
    return run_cli(
        ["--config", str(config), "--catalog", str(catalog)], env={"TAP_SPAPI_LOGLEVEL": "DEBUG"}
    )


def assert_no_secret(text: str, secrets: tuple[str, ...]) -> None:
    for secret in secrets:
        assert secret not in text


# Where a secret could show besides the login: SigV4 headers (botocore logs canonical
# requests at DEBUG), a restricted report's RDT and its document's pre-signed link, and
# the messages of the faults injected on these streams' operations.
FAULT_STREAMS = {
    "marketplace_participations",
    "inbound_shipments",
    "flat_file_actionable_order_data_shipping",
}


def test_debug_run_with_faults_leaks_no_secret(tmp_path, secrets):
    with StandIn(sentinel_standin(secrets)) as server:
        # A live 429 carries no x-amzn-RateLimit-Limit, so the retry waits at the model's
        # rate: on getShipments (2/s), not getMarketplaceParticipations (one a minute,
        # beyond the test's max_retry_seconds before the tap has seen a scaled rate).
        server.inject("getShipments", status=429, times=1)
        server.inject("getMarketplaceParticipations", status=500, times=1)
        server.inject("getMarketplaceParticipations", status=403, times=1)  # transient
        settings = tap_config(server, client_secret=secrets.client_secret,
                              refresh_token=secrets.refresh_token, **secrets.signing())  # fmt: skip
        ok = cli_at_debug(tmp_path, settings, FAULT_STREAMS)
        assert ok.returncode == 0, ok.stderr[-2000:]
        server.inject("getMarketplaceParticipations", status=400, times=1)
        failed = cli_at_debug(tmp_path, settings, FAULT_STREAMS)
        assert failed.returncode == 1
        issued = server.issued_tokens()
        rdts = server.stats.count("createRestrictedDataToken")

    assert "DEBUG" in ok.stderr  # the run really logged at DEBUG
    assert issued, "the stand-in issued access tokens"
    assert rdts >= 1, "the restricted report's document asked for an RDT"
    assert_no_secret(ok.stdout + ok.stderr + failed.stdout + failed.stderr,
                     (*secrets.all(), *issued))  # fmt: skip


def test_bad_refresh_token_error_does_not_echo_it(tmp_path, secrets):
    with StandIn(StandInConfig(**DATA)) as server:
        settings = tap_config(server, refresh_token=secrets.refresh_token)
        result = cli_at_debug(tmp_path, settings, {"marketplace_participations"})
    assert result.returncode == 1
    assert "invalid_grant" in result.stderr
    assert secrets.refresh_token not in result.stdout + result.stderr


# Every fault the tap survives, each on a list operation (pages read in turn) and on a
# per-id one (read by worker threads). Four at most on an operation: queued faults hit
# its next requests, often the retries of one request, whose waits double with each.
SURVIVABLE: tuple[list[int | str], list[int | str]] = (
    [429, 500, "drop", "html"],
    [503, "truncate", "empty", "slow"],
)
FAULTS: dict[str, list[int | str]] = {
    "listAllFulfillmentOrders": SURVIVABLE[0],
    "getShipments": SURVIVABLE[1],
    "getFulfillmentOrder": SURVIVABLE[1],
    "getPackageTrackingDetails": SURVIVABLE[0],
    "getTracking": SURVIVABLE[0],
}
# The streams of those operations; a stream whose role the application lacks is
# skipped, and the run still succeeds.
SURVIVED = ("outbound_orders", "outbound_shipments", "outbound_package_tracking",
            "shipping_tracking", "inbound_shipments", "marketplace_participations")  # fmt: skip
EVERY_FAULT_STREAMS = {*SURVIVED, "shipping_carrier_accounts"}
ACCOUNTS = ("first", "second")
# Amazon's answer to a token it expired early: the tap drops the token and logs in again.
EXPIRED = {
    "errors": [
        {
            "code": "Unauthorized",
            "message": "Access to requested resource is denied.",
            "details": "The access token you provided has expired.",
        }
    ]
}


def test_every_fault_at_debug_leaks_no_secret(tmp_path, secrets):
    """Two accounts, SigV4, tokens renewed mid-run, and each fault the tap survives."""
    # Small pages over overlapping pagination: several list pages, each repeating an order.
    config = sentinel_standin(secrets, overlapping_pages=True, outbound_page_size=5)
    with StandIn(config) as server:
        for operation, faults in FAULTS.items():
            for fault in faults:
                server.inject(operation, status=fault, times=1)
        server.inject("lwa", status=500, times=1)
        server.inject("getCarrierAccounts", status=403, times=100, body=UNAUTHORIZED)
        # Each account's token refused as expired: renewed mid-run, by an injected answer
        # rather than a short lifetime that a fast run would never reach.
        server.inject("getMarketplaceParticipations", status=403, times=2, body=EXPIRED)
        settings = tap_config(
            server,
            client_secret=secrets.client_secret,
            accounts=[
                {"name": name, "refresh_token": token}
                for name, token in zip(
                    ACCOUNTS, (secrets.refresh_token, secrets.second_refresh_token), strict=True
                )
            ],
            tracking_ids=[
                {**label, "account": name}
                for name in ACCOUNTS
                for label in server.dataset.tracking_labels()
            ],
            request_timeout=2,  # past it, the "slow" answer is given up on and retried
            **secrets.signing(),
        )
        settings.pop("refresh_token")
        result = cli_at_debug(tmp_path, settings, EVERY_FAULT_STREAMS)
        issued = server.issued_tokens()
        throttled = server.stats.count("getTracking", "429")
        expected = expected_keys(server.dataset)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "DEBUG" in result.stderr
    assert throttled >= 1, "the faults happened"
    assert "Stream 'shipping_carrier_accounts' skipped for account" in result.stderr
    # Two first tokens and at least one renewed after Amazon called one expired.
    assert len([token for token in issued if token.startswith("Atza|")]) >= 3
    records = [json.loads(line) for line in result.stdout.splitlines() if '"RECORD"' in line]
    for stream in SURVIVED:
        for account in ACCOUNTS:
            keys = {key_of(stream, m["record"]) for m in records
                    if m["stream"] == stream and m["record"]["account"] == account}  # fmt: skip
            assert keys == expected[stream], (stream, account)
    assert_no_secret(result.stdout + result.stderr, (*secrets.all(), *issued))


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
    from tap_spapi.wire import redact as redaction

    before = len(redaction._secrets)
    register_secret("Atza|IwEBIsentinel-access-token-0001")
    register_secret("a-client-secret-not-token-shaped-42")
    assert len(redaction._secrets) == before + 1
    assert redact(
        "Bearer Atza|IwEBIsentinel-access-token-0001 and a-client-secret-not-token-shaped-42"
    ) == (f"Bearer {MASK} and {MASK}")
