"""`tap-spapi-notifications setup`: the destination and the subscriptions Amazon needs to
send the tap's notifications to the seller's SQS queue, made once, kept after."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from spapi_standin import StandIn, StandInConfig
from tap_spapi.config.settings import MCF_2026
from tap_spapi.notifications_setup import (
    AMAZON_NOTIFICATIONS_PRINCIPAL,
    Queue,
    UsageError,
    main,
    selected_streams,
    types_of_streams,
)
from tap_spapi.runtime.inbox import (
    MCF_ORDER_STATUS,
    ORDER_CHANGE,
    PAYLOAD_VERSIONS,
    REPORT_FINISHED,
    STREAM_NOTIFICATION_TYPES,
    TRACKING_CHANGED,
)
from tap_spapi.tap import TapSpapi
from tap_spapi.wire.retries import RetryPolicy
from testkit import REPO, VALID, catalog_selecting, tap_config

if TYPE_CHECKING:
    from collections.abc import Iterator

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:tap-spapi-notifications"
OTHER_ARN = "arn:aws:sqs:us-east-1:123456789012:someone-elses-queue"
# The tap's retries, without their waits: a test never sleeps.
NO_WAITS = RetryPolicy(max_faults=2, first_wait=0.0, max_wait=0.0, jitter=False)


def run_setup(args: list[str]) -> tuple[int, str, str]:
    """`tap-spapi-notifications ARGS` through its entry point, in this process, with the
    tap's retries without their waits: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(args, NO_WAITS)
    return status, out.getvalue(), err.getvalue()


def write(tmp_path: Path, name: str, document: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


# -- which types -------------------------------------------------------------------------


@pytest.mark.parametrize("mcf_api_version", ["2020-07-01", MCF_2026])
def test_every_stream_the_table_names_is_one_of_the_tap_s(mcf_api_version):
    tap = TapSpapi(config={**VALID, "mcf_api_version": mcf_api_version})
    assert set(STREAM_NOTIFICATION_TYPES) <= set(tap.streams)
    assert set(STREAM_NOTIFICATION_TYPES.values()) == set(PAYLOAD_VERSIONS)


def test_the_types_are_those_of_the_streams_the_catalog_selects():
    config = dict(VALID)
    cases = {
        ("outbound_shipments", "inbound_shipments"): [MCF_ORDER_STATUS],
        ("orders", "shipment_tracking_milestones"): [TRACKING_CHANGED, ORDER_CHANGE],
        ("amazon_fulfilled_shipments_data_general",): [REPORT_FINISHED],
        ("inbound_shipments", "marketplace_participations"): [],
    }
    for streams, types in cases.items():
        catalog = catalog_selecting(config, streams)
        assert sorted(selected_streams(catalog)) == sorted(streams)
        assert types_of_streams(selected_streams(catalog)) == types


def test_a_fifo_queue_or_a_malformed_arn_is_refused_in_one_line():
    with pytest.raises(UsageError, match="FIFO queue; Amazon sends notifications to standard"):
        Queue.of_arn(QUEUE_ARN + ".fifo")
    with pytest.raises(UsageError, match="expected arn:aws:sqs:REGION:ACCOUNT:QUEUE_NAME"):
        Queue.of_arn("https://sqs.us-east-1.amazonaws.com/123456789012/q")


def test_the_queue_arn_comes_from_the_queue_url_setting_when_not_given():
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/tap-spapi-notifications"
    assert Queue.of_url(url).arn == QUEUE_ARN
    with pytest.raises(UsageError, match="--queue-arn is required"):
        Queue.of_url("http://127.0.0.1:5000/123456789012/q")  # moto's: no region in it


# -- the policy ---------------------------------------------------------------------------


def test_the_policy_lets_amazon_send_to_the_queue_and_nothing_else():
    status, out, _ = run_setup(["setup", "--print-policy-only", "--queue-arn", QUEUE_ARN])
    policy = json.loads(out)
    assert status == 0
    (statement,) = policy["Statement"]
    assert statement == {
        "Sid": "AllowSellingPartnerApiNotifications",
        "Effect": "Allow",
        "Principal": {"AWS": AMAZON_NOTIFICATIONS_PRINCIPAL},
        "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes"],
        "Resource": QUEUE_ARN,
    }
    assert AMAZON_NOTIFICATIONS_PRINCIPAL == "arn:aws:iam::437568002678:root"
    assert policy["Version"] == "2012-10-17"


# -- settings ----------------------------------------------------------------------------


def test_a_bad_setting_is_one_line_naming_it_and_no_secret(tmp_path):
    config = write(tmp_path, "config.json", {**VALID, "region": "mars"})
    status, _, err = run_setup(["setup", "--config", config, "--queue-arn", QUEUE_ARN])
    assert status == 1
    assert err.startswith("tap-spapi-notifications: error: setting 'region': unknown region")
    assert len(err.strip().splitlines()) == 1
    assert VALID["client_secret"] not in err and VALID["refresh_token"] not in err


def test_a_config_that_is_no_json_or_a_missing_catalog_is_one_line(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    config = str(tmp_path / "config.json")
    status, _, err = run_setup(["setup", "--config", config, "--queue-arn", QUEUE_ARN])
    assert status == 1
    assert err.startswith("tap-spapi-notifications: error: --config") and "not JSON" in err
    assert len(err.strip().splitlines()) == 1
    valid = write(tmp_path, "valid.json", VALID)
    missing = str(tmp_path / "missing.json")
    setup = ["setup", "--config", valid, "--catalog", missing, "--queue-arn", QUEUE_ARN]
    status, _, err = run_setup(setup)
    assert (status, err) == (
        1,
        f"tap-spapi-notifications: error: --catalog {missing}: cannot be read "
        "(No such file or directory)\n",
    )


# -- the docs ------------------------------------------------------------------------------


def test_the_docs_table_is_the_module_s():
    text = (REPO / "docs" / "notifications.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([A-Z_]+)` \| ([\w.-]+) \| (.+) \|$", text, flags=re.MULTILINE)
    assert [(kind, version) for kind, version, _ in rows] == list(PAYLOAD_VERSIONS.items())
    for kind, _, streams in rows:
        named = set(re.findall(r"`(\w+)`", streams))
        served = {stream for stream, served in STREAM_NOTIFICATION_TYPES.items() if served == kind}
        assert named <= served and (named == served or kind == REPORT_FINISHED), kind


# -- against the stand-in ------------------------------------------------------------------

FIRST, SECOND = "Atzr|first-seller", "Atzr|second-seller"
UNAUTHORIZED = {
    "errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied."}]
}


@pytest.fixture
def server() -> Iterator[StandIn]:
    """A stand-in of two sellers, Amazon's plans x50 (the command's calls never wait)."""
    with StandIn(
        StandInConfig(seed=7, size="tiny", rate_scale=50.0, refresh_tokens={FIRST, SECOND})
    ) as standin:
        yield standin


def two_accounts(server: StandIn, tmp_path: Path) -> str:
    """A config file of two accounts at `server`."""
    accounts = [
        {"name": name, "refresh_token": token, "api_url": server.base_url}
        for name, token in (("first", FIRST), ("second", SECOND))
    ]
    config = {**tap_config(server), "accounts": accounts}
    del config["refresh_token"]
    return write(tmp_path, "config.json", config)


def created(server: StandIn) -> tuple[int, int]:
    """(createDestination, createSubscription) requests the stand-in answered."""
    return server.stats.count("createDestination"), server.stats.count("createSubscription")


def test_the_first_run_subscribes_every_account_and_the_second_changes_nothing(server, tmp_path):
    setup = ["setup", "--config", two_accounts(server, tmp_path), "--queue-arn", QUEUE_ARN]
    status, out, err = run_setup(setup)
    assert (status, err) == (0, "")
    assert created(server) == (1, 8)  # one destination, 2 accounts x 4 types
    for account, kind in itertools.product(("first", "second"), PAYLOAD_VERSIONS):
        assert f"account '{account}' {kind}: subscribed (subscription " in out
    assert ": created" in out and "8 subscribed" in out

    status, out, err = run_setup(setup)
    assert (status, err) == (0, "")
    assert created(server) == (1, 8)  # nothing more
    assert ": found" in out and "8 already subscribed" in out
    assert server.stats.count("getSubscription") == 16


def subscribed_elsewhere(server: StandIn, tmp_path: Path) -> list[str]:
    """Both accounts subscribed to ORDER_CHANGE at another queue; the setup for this one."""
    config = two_accounts(server, tmp_path)
    kind = ["--types", ORDER_CHANGE]
    assert run_setup(["setup", "--config", config, "--queue-arn", OTHER_ARN, *kind])[0] == 0
    return ["setup", "--config", config, "--queue-arn", QUEUE_ARN, *kind]


def test_a_subscription_to_another_queue_is_reported_and_left_as_it_is(server, tmp_path):
    setup = subscribed_elsewhere(server, tmp_path)
    status, out, err = run_setup(setup)
    assert (status, err) == (0, "")
    assert out.count("not to this queue's") == 2 and "left as it is (--replace" in out
    assert server.stats.count("deleteSubscriptionById") == 0
    assert created(server) == (2, 2)  # this queue's destination, no subscription


def test_replace_moves_a_subscription_from_another_queue_to_this_one(server, tmp_path):
    replace = [*subscribed_elsewhere(server, tmp_path), "--replace"]
    status, out, err = run_setup(replace)
    assert (status, err) == (0, "") and out.count("replacing subscription") == 2
    assert server.stats.count("deleteSubscriptionById") == 2 and created(server) == (2, 4)
    status, out, _ = run_setup(replace)  # replaced once: kept after
    assert status == 0 and out.count(": already subscribed") == 2 and created(server) == (2, 4)


# What the first account's line says, after the account and the first type.
REFUSALS = {
    "403": "getSubscription: HTTP 403 Unauthorized: Access to requested resource is denied. "
    "[x-amzn-RequestId: ",
    "revoked token": "Login with Amazon refused the token request: invalid_grant",
}


@pytest.mark.parametrize("refusal", sorted(REFUSALS))
def test_an_account_refused_is_one_line_and_the_other_is_subscribed(refusal, server, tmp_path):
    config = json.loads(Path(two_accounts(server, tmp_path)).read_text())
    if refusal == "403":  # the first getSubscription (the first account's) and its retries
        server.inject("getSubscription", status=403, times=4, body=UNAUTHORIZED)
    else:
        config["accounts"][0]["refresh_token"] = "Atzr|revoked-by-the-seller"
    setup = ["setup", "--config", write(tmp_path, "config.json", config), "--queue-arn", QUEUE_ARN]
    status, out, err = run_setup(setup)
    (line,) = err.splitlines()
    assert status == 1 and line.startswith(
        "tap-spapi-notifications: error: account 'first' SHIPMENT_TRACKING_MILESTONE_CHANGED: "
        + REFUSALS[refusal]
    )
    assert "[x-amzn-RequestId: none]" not in line
    assert out.count("account 'second'") == 4 and "account 'first'" not in out
    assert "1 account(s) failed" in out and '"Principal"' in out  # the policy all the same
    assert created(server) == (1, 4)
    assert "Atzr|" not in out + err and server.config.client_secret not in out + err


def test_a_catalog_subscribes_the_types_of_its_selected_streams_only(server, tmp_path):
    config = tap_config(server)
    catalog = write(tmp_path, "catalog.json", catalog_selecting(config, ["orders"]))
    setup = ["setup", "--config", write(tmp_path, "config.json", config), "--catalog", catalog]
    status, out, _ = run_setup([*setup, "--queue-arn", QUEUE_ARN])
    assert status == 0 and created(server) == (1, 1)
    assert "account 'default' ORDER_CHANGE: subscribed" in out
    # --types overrides the catalog.
    status, out, _ = run_setup([*setup, "--queue-arn", QUEUE_ARN, "--types", REPORT_FINISHED])
    assert status == 0 and created(server) == (1, 2)
    assert "account 'default' REPORT_PROCESSING_FINISHED: subscribed" in out
    # A catalog of streams no notification serves: nothing to do, and nothing asked.
    requests_before = server.stats.snapshot()
    inbound = write(tmp_path, "inbound.json", catalog_selecting(config, ["inbound_shipments"]))
    setup[-1] = inbound
    status, out, _ = run_setup([*setup, "--queue-arn", QUEUE_ARN])
    assert (status, out) == (
        0,
        "No selected stream is served by notifications: nothing to subscribe.\n",
    )
    assert server.stats.snapshot() == requests_before


def test_a_409_from_create_reads_the_subscription_again(server, tmp_path):
    config = write(tmp_path, "config.json", tap_config(server))
    setup = ["setup", "--config", config, "--queue-arn", QUEUE_ARN, "--types", ORDER_CHANGE]
    assert run_setup(setup)[0] == 0
    # A read that does not see it yet (another client made it a moment ago): the create
    # is refused with 409, and the subscription read again is kept.
    server.inject("getSubscription", status=404, times=1)
    status, out, err = run_setup(setup)
    assert (status, err) == (0, "")
    assert "account 'default' ORDER_CHANGE: already subscribed (subscription " in out
    assert server.stats.count("createSubscription", "409") == 1 and created(server) == (1, 2)


def test_a_subscription_of_this_queue_at_another_payload_version_is_reported(server, tmp_path):
    config = write(tmp_path, "config.json", tap_config(server))
    setup = ["setup", "--config", config, "--queue-arn", QUEUE_ARN, "--types", REPORT_FINISHED]
    _, out, _ = run_setup(setup)
    (destination,) = re.findall(r"destination (\S+) sends to", out)
    old = {"subscriptionId": "old", "payloadVersion": "1.0", "destinationId": destination}
    server.inject("getSubscription", status=200, body={"payload": old})
    status, out, err = run_setup(setup)
    assert (status, err) == (0, "")
    assert (
        "account 'default' REPORT_PROCESSING_FINISHED: subscription old sends payload 1.0, "
        "the tap reads 2020-09-04: left as it is (--replace replaces it)"
    ) in out


# The docs' commands (docs/notifications.md), run as written by the console scripts.
DOCS_POLICY = "tap-spapi-notifications setup --print-policy-only --queue-arn arn:aws:sqs:us-east-1:123456789012:tap-spapi-notifications"  # noqa: E501
DOCS_SETUP = "tap-spapi-notifications setup --config config.json --queue-arn arn:aws:sqs:us-east-1:123456789012:tap-spapi-notifications"  # noqa: E501


def test_the_console_script_runs_the_docs_commands(server, tmp_path):
    write(tmp_path, "config.json", tap_config(server))
    scripts = Path(sys.executable).parent  # the console scripts of this environment
    env = {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"}

    def shell(command: str) -> subprocess.CompletedProcess[str]:
        run = {"cwd": tmp_path, "env": env, "capture_output": True, "text": True}
        return subprocess.run(["bash", "-c", command], timeout=120, check=False, **run)

    policy = shell(DOCS_POLICY)
    assert policy.returncode == 0, policy.stderr
    assert json.loads(policy.stdout)["Statement"][0]["Resource"] == QUEUE_ARN
    setup = shell(DOCS_SETUP)
    assert setup.returncode == 0, setup.stderr
    assert setup.stdout.count("account 'default'") == 4 and created(server) == (1, 4)
