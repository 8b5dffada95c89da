"""`tap-spapi-notifications setup`: have Amazon send the notifications the tap reads to
the seller's SQS queue (setting `notifications_queue_url`, docs/notifications.md).

Amazon's Notifications API has two halves. A *destination* (the queue's ARN) belongs to
the application and to one regional endpoint, and is managed with grantless tokens. A
*subscription* ties one notification type of one selling partner to a destination, and
is asked for with that seller's token. So the command finds or creates the destination
once per endpoint, then per account and notification type reads the subscription and
creates it only if there is none: a second run changes nothing. A subscription to
another destination is someone else's (another tool of the seller's, an older queue) and
is only reported, unless `--replace` moves it here.

Every call goes through the account's SP-API client (wire/client.py: the tap's pacing,
tokens, retry policy and check of answers); SQS itself is not touched, so the command
needs no boto3.
What the queue must allow Amazon to do is printed at the end as a policy to paste.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import re
import sys
from collections import Counter
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from singer_sdk.singerlib.catalog import Catalog
from typing_extensions import override

from tap_spapi.config.accounts_setting import account_secrets, configured_accounts
from tap_spapi.config.checks import check_config
from tap_spapi.config.settings import SECRET_SETTINGS, Settings
from tap_spapi.errors import AccountUnavailableError, EndpointUnreachableError, TapSpapiError
from tap_spapi.runtime.inbox import (
    PAYLOAD_VERSIONS,
    STREAM_NOTIFICATION_TYPES,
)
from tap_spapi.runtime.state_files import checked_config_file, checked_json_file
from tap_spapi.wire.account import Account
from tap_spapi.wire.auth import full_user_agent
from tap_spapi.wire.client import SPAPIClient
from tap_spapi.wire.redact import install_log_redaction, redact, register_secret
from tap_spapi.wire.responses import SPAPIRequestError, amazon_error, decoded_body
from tap_spapi.wire.retries import RetriesExhaustedError, RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    import requests

PROG = "tap-spapi-notifications"

#: Amazon's account that sends every SP-API notification: the queue policy lets it in.
AMAZON_NOTIFICATIONS_PRINCIPAL = "arn:aws:iam::437568002678:root"
QUEUE_ACTIONS = ("sqs:SendMessage", "sqs:GetQueueAttributes")
DESTINATION_PREFIX = "tap-spapi-"

# arn:aws:sqs:REGION:ACCOUNT:NAME, the form Amazon's SqsResource accepts (and other AWS
# partitions, aws-cn, aws-us-gov); a queue name is 1-80 of [A-Za-z0-9_-], ".fifo" ending
# a FIFO queue's.
QUEUE_ARN = re.compile(
    r"^arn:aws(?:-[a-z]+)*:sqs:(?P<region>[a-z0-9-]+):(?P<owner>\d{12}):"
    r"(?P<name>[A-Za-z0-9_-]{1,80}(?:\.fifo)?)$"
)
# https://sqs.REGION.amazonaws.com/ACCOUNT/NAME, the URL `aws sqs create-queue` prints.
QUEUE_URL = re.compile(
    r"^https://sqs\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/(?P<owner>\d{12})/(?P<name>[^/]+)/?$"
)


class UsageError(TapSpapiError):
    """An option of the command is missing or malformed; the message names it."""


class CallError(TapSpapiError):
    """Amazon refused one call, or never answered it, after the tap's retries."""

    def __init__(self, operation_id: str, problem: str, status: int | None = None) -> None:
        self.operation_id = operation_id
        self.status = status
        super().__init__(f"{operation_id}: {problem}")


def _matched(pattern: re.Pattern[str], text: str, problem: str) -> re.Match[str]:
    found = pattern.match(text.strip())
    if found is None:
        raise UsageError(problem)
    return found


# --- which queue, which types ---------------------------------------------------------


@dataclass(frozen=True)
class Queue:
    """The seller's SQS queue, by its ARN."""

    arn: str
    name: str

    @classmethod
    def of_arn(cls, arn: str) -> Queue:
        """The queue of `--queue-arn`, refused with a one-line reason if Amazon would."""
        expected = f"--queue-arn: expected arn:aws:sqs:REGION:ACCOUNT:QUEUE_NAME, got {arn!r}"
        found = _matched(QUEUE_ARN, arn, expected)
        if found["name"].endswith(".fifo"):
            raise UsageError(
                f"--queue-arn: {found['name']} is a FIFO queue; Amazon sends notifications "
                "to standard queues only (docs/notifications.md)"
            )
        return cls(arn=arn.strip(), name=found["name"])

    @classmethod
    def of_url(cls, url: str) -> Queue:
        """The queue of an AWS SQS queue URL (the `notifications_queue_url` setting)."""
        unknown = (
            f"--queue-arn is required: notifications_queue_url {url!r} is not an AWS queue "
            "URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME) to derive it from"
        )
        found = _matched(QUEUE_URL, url, unknown)
        return cls.of_arn(f"arn:aws:sqs:{found['region']}:{found['owner']}:{found['name']}")

    @property
    def destination_name(self) -> str:
        """The name a destination this command creates for the queue gets."""
        return DESTINATION_PREFIX + self.name

    def policy(self) -> dict[str, Any]:
        """The queue policy that lets Amazon's notifications account send to the queue."""
        return {
            "Version": "2012-10-17",
            "Id": f"{DESTINATION_PREFIX}notifications",
            "Statement": [
                {
                    "Sid": "AllowSellingPartnerApiNotifications",
                    "Effect": "Allow",
                    "Principal": {"AWS": AMAZON_NOTIFICATIONS_PRINCIPAL},
                    "Action": list(QUEUE_ACTIONS),
                    "Resource": self.arn,
                }
            ],
        }


def selected_streams(catalog: dict[str, Any]) -> list[str]:
    """The streams a Singer catalog selects, by singer-sdk's own rule (the tap's)."""
    entries = Catalog.from_dict(catalog).values()
    return [entry.tap_stream_id for entry in entries if entry.metadata.resolve_selection()[()]]


def types_of_streams(streams: Iterable[str]) -> list[str]:
    """The notification types that serve `streams`, in `PAYLOAD_VERSIONS` order."""
    wanted = {
        STREAM_NOTIFICATION_TYPES[name] for name in streams if name in STREAM_NOTIFICATION_TYPES
    }
    return [kind for kind in PAYLOAD_VERSIONS if kind in wanted]


# --- one call ----------------------------------------------------------------------------

#: What the client's retries and checks call this command's requests.
WHERE = "setup"


class SetupClient(SPAPIClient):
    """The account's SP-API client, taking a success with no body (a DELETE's) as one."""

    @override
    def check(self, response: requests.Response, where: str, operation_id: str) -> None:
        if response.status_code < HTTPStatus.BAD_REQUEST and not response.content:
            return
        super().check(response, where, operation_id)


def call(
    client: SPAPIClient,
    operation_id: str,
    *,
    path_values: Mapping[str, str] | None = None,
    body: Mapping[str, Any] | None = None,
) -> Any:
    """One SP-API call through `client` (paced, with the seller's or a grantless token as
    the catalog says, retried by the tap's policy): its decoded body (None if it has
    none), or `CallError` with Amazon's code, message and request id."""
    try:
        prepared = client.request(
            operation_id,
            path_values=dict(path_values or {}),
            body=dict(body) if body is not None else None,
        )
        response = client.send(prepared, where=WHERE, operation_id=operation_id)
    except (SPAPIRequestError, RetriesExhaustedError, EndpointUnreachableError) as exc:
        raise _call_error(operation_id, exc) from exc
    return decoded_body(response) if response.content else None


def _call_error(operation_id: str, exc: Exception) -> CallError:
    """What a call the client gave up on says: Amazon's last answer, or that it never
    answered (the client's own message names the tap's stream, not this command)."""
    failure = exc if isinstance(exc, SPAPIRequestError) else exc.__cause__
    response: requests.Response | None = getattr(failure, "response", None)
    if response is None:
        problem = f"no answer ({type(failure).__name__}) after the tap's retries"
        return CallError(operation_id, problem)
    error = amazon_error(response)
    return CallError(operation_id, redact(error.describe()), error.status)


def quiet_logger() -> logging.Logger:
    """The clients' logger: a retry is not a line of the command's output."""
    logger = logging.getLogger(PROG)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger


# --- the setup ----------------------------------------------------------------------------

Action = Literal["subscribed", "kept", "elsewhere", "replaced", "failed"]


@dataclass(frozen=True)
class Outcome:
    """What the command found or did for one account and notification type."""

    account: str
    notification_type: str
    action: Action
    line: str


@dataclass
class Setup:
    """Destinations per endpoint, then subscriptions per account and type."""

    queue: Queue
    types: Sequence[str]
    policy: RetryPolicy
    user_agent: str
    replace: bool = False
    say: Callable[[str], None] = print
    complain: Callable[[str], None] = print

    def run(self, accounts: Sequence[Account]) -> list[Outcome]:
        """Every account's subscriptions, endpoint by endpoint, in config order."""
        outcomes: list[Outcome] = []
        by_endpoint: dict[str, list[Account]] = {}
        for account in accounts:
            by_endpoint.setdefault(account.base_url, []).append(account)
        for endpoint, members in by_endpoint.items():
            clients = [self.client(account) for account in members]
            try:
                destination = self._destination(clients[0], endpoint)
            except TapSpapiError as exc:
                outcomes += [self._failed(account.name, "", exc) for account in members]
                continue
            for client in clients:
                outcomes += self._subscribe(client, destination)
        return outcomes

    def client(self, account: Account) -> SPAPIClient:
        """`account`'s SP-API client, as a run makes it (`Run.client`)."""
        return SetupClient(
            account, user_agent=self.user_agent, policy=self.policy, logger=quiet_logger()
        )

    def _destination(self, client: SPAPIClient, endpoint: str) -> str:
        """The id of the queue's destination at `endpoint`, created if there is none."""
        found, action = self._listed_destination(client), "found"
        if found is None:
            found, action = self._created_destination(client)
        self.say(f"{endpoint}: destination {found} sends to {self.queue.arn}: {action}")
        return found

    def _created_destination(self, client: SPAPIClient) -> tuple[str, str]:
        """createDestination's id and "created" (or, after a 409, the one another client
        created meanwhile, and "found": Amazon keeps one destination per queue ARN)."""
        body = {
            "name": self.queue.destination_name,
            "resourceSpecification": {"sqs": {"arn": self.queue.arn}},
        }
        try:
            created = call(client, "createDestination", body=body)
        except CallError as exc:
            found = self._listed_destination(client) if exc.status == 409 else None
            if found is not None:
                return found, "found"
            # Amazon's guide grants the queue policy first: a queue Amazon may not write
            # to is the likely reason, and what the user can do about it.
            raise CallError(
                "createDestination",
                f"{str(exc).removeprefix('createDestination: ')}; the queue's access policy "
                f"must let Amazon send first (`{PROG} setup --print-policy-only`)",
                exc.status,
            ) from exc
        return str(created["payload"]["destinationId"]), "created"

    def _listed_destination(self, client: SPAPIClient) -> str | None:
        """The id of the application's destination for the queue (getDestinations)."""
        listed = call(client, "getDestinations") or {}
        for destination in listed.get("payload") or []:
            arn = ((destination.get("resource") or {}).get("sqs") or {}).get("arn")
            if arn == self.queue.arn:
                return str(destination["destinationId"])
        return None

    def _subscribe(self, client: SPAPIClient, destination: str) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for kind in self.types:
            try:
                outcomes.append(self._subscription(client, kind, destination))
            except TapSpapiError as exc:
                outcomes.append(self._failed(client.account.name, kind, exc))
                refused = isinstance(exc, CallError) and exc.status in {401, 403}
                if refused or isinstance(exc, AccountUnavailableError):
                    break  # the seller's token or role: the other types would fail alike
        return outcomes

    def _subscription(self, client: SPAPIClient, kind: str, destination: str) -> Outcome:
        """Find, keep, create or (`--replace`) move one subscription."""
        name, version = client.account.name, PAYLOAD_VERSIONS[kind]
        existing = self._existing(client, kind)
        if existing is None:
            created = self._create(client, kind, destination)
            if created is not None:
                return self._done(name, kind, "subscribed", f"subscribed {_ids(created)}")
            # 409: one exists after all (made meanwhile, or not yet visible to the read).
            existing = self._existing(client, kind)
            if existing is None:
                raise CallError(
                    "createSubscription", "409 Conflict, yet getSubscription finds none"
                )
        ident, elsewhere = existing.get("subscriptionId"), existing.get("destinationId")
        if elsewhere != destination:
            differs = f"sends to destination {elsewhere}, not to this queue's ({destination})"
        elif existing.get("payloadVersion") != version:
            differs = f"sends payload {existing.get('payloadVersion')}, the tap reads {version}"
        else:
            return self._done(name, kind, "kept", f"already subscribed {_ids(existing)}")
        if not self.replace:
            said = f"subscription {ident} {differs}: left as it is (--replace replaces it)"
            return self._done(name, kind, "elsewhere", said)
        call(
            client,
            "deleteSubscriptionById",
            path_values={"notificationType": kind, "subscriptionId": str(ident)},
        )
        created = self._create(client, kind, destination)
        if created is None:
            raise CallError("createSubscription", "409 Conflict right after deleteSubscriptionById")
        said = f"subscribed {_ids(created)}, replacing subscription {ident}, which {differs}"
        return self._done(name, kind, "replaced", said)

    def _existing(self, client: SPAPIClient, kind: str) -> dict[str, Any] | None:
        """The account's subscription to `kind` (None: 404, there is none)."""
        try:
            body = call(client, "getSubscription", path_values={"notificationType": kind})
        except CallError as exc:
            if exc.status == 404:
                return None
            raise
        payload = (body or {}).get("payload")
        return payload if isinstance(payload, dict) and payload.get("subscriptionId") else None

    def _create(self, client: SPAPIClient, kind: str, destination: str) -> dict[str, Any] | None:
        """The subscription created (None: 409, one exists already)."""
        body = {"payloadVersion": PAYLOAD_VERSIONS[kind], "destinationId": destination}
        try:
            created = call(
                client,
                "createSubscription",
                path_values={"notificationType": kind},
                body=body,
            )
        except CallError as exc:
            if exc.status == 409:
                return None
            raise
        payload: dict[str, Any] = created["payload"]
        return payload

    def _done(self, account: str, kind: str, action: Action, said: str) -> Outcome:
        line = f"account '{account}' {kind}: {said}"
        self.say(line)
        return Outcome(account, kind, action, line)

    def _failed(self, account: str, kind: str, exc: Exception) -> Outcome:
        what = f"account '{account}' {kind}".rstrip()
        line = redact(f"{what}: {exc}")
        self.complain(f"{PROG}: error: {line}")
        return Outcome(account, kind, "failed", line)


def _ids(subscription: Mapping[str, Any]) -> str:
    return (
        f"(subscription {subscription.get('subscriptionId')}, "
        f"payload {subscription.get('payloadVersion')})"
    )


# How the summary counts each action.
_SUMMARY_WORDS: dict[Action, str] = {
    "subscribed": "subscribed",
    "replaced": "replaced",
    "kept": "already subscribed",
    "elsewhere": "left as they were",
}


def summary(outcomes: Sequence[Outcome]) -> str:
    """One line: how many subscriptions of how many accounts ended how."""
    accounts = len({outcome.account for outcome in outcomes})
    counts = Counter(outcome.action for outcome in outcomes)
    failed = len({outcome.account for outcome in outcomes if outcome.action == "failed"})
    parts = [f"{counts[action]} {words}" for action, words in _SUMMARY_WORDS.items()]
    line = f"{accounts} account(s), subscriptions: {', '.join(parts)}"
    return line + (f"; {failed} account(s) failed" if failed else "")


# --- the command line --------------------------------------------------------------------


def checked_config(path: Path) -> dict[str, Any]:
    """The tap's config file, checked as the tap checks it (one `SettingError` line)."""
    config = checked_config_file(str(path))
    for name in SECRET_SETTINGS:
        register_secret(config.get(name))
    for secret in account_secrets(config):
        register_secret(secret)
    from tap_spapi.tap import TapSpapi  # the tap's settings and the SDK's built-in ones

    known = copy.deepcopy(TapSpapi.config_jsonschema)
    TapSpapi.append_builtin_config(known)
    # The queue URL's own check wants boto3, for the tap's reader; this command sends
    # nothing to SQS, so it runs without the `notifications` extra.
    check_config(
        {name: value for name, value in config.items() if name != "notifications_queue_url"},
        set(known["properties"]),
    )
    return config


def retry_policy(settings: Settings) -> RetryPolicy:
    """The tap's request policy: `max_retries` faults, `max_retry_seconds` in all."""
    return RetryPolicy(max_faults=settings.max_retries, max_seconds=settings.max_retry_seconds)


def _queue(options: argparse.Namespace, config: Mapping[str, Any] | None) -> Queue:
    if options.queue_arn:
        return Queue.of_arn(options.queue_arn)
    url = (config or {}).get("notifications_queue_url")
    if url:
        return Queue.of_url(str(url))
    raise UsageError("--queue-arn is required (or notifications_queue_url in --config)")


def _types(options: argparse.Namespace) -> list[str]:
    if options.types:
        return [kind for kind in PAYLOAD_VERSIONS if kind in set(options.types)]
    if options.catalog is None:
        return list(PAYLOAD_VERSIONS)
    try:
        with options.catalog.open(encoding="utf-8") as handle:
            checked = checked_json_file("--catalog", handle)
    except OSError as exc:
        raise UsageError(f"--catalog {options.catalog}: cannot be read ({exc.strerror})") from None
    assert checked is not None
    return types_of_streams(selected_streams(json.load(checked)))


def print_policy(queue: Queue) -> None:
    """The queue policy, as JSON to paste."""
    print(json.dumps(queue.policy(), indent=2))


def setup_command(options: argparse.Namespace, policy: RetryPolicy | None = None) -> int:
    """`setup`: its exit status (1 if any account failed)."""
    if options.print_policy_only:
        config = checked_config_file(str(options.config)) if options.config else None
        print_policy(_queue(options, config))
        return 0
    if options.config is None:
        raise UsageError("--config is required (the tap's config file)")
    config = checked_config(options.config)
    queue = _queue(options, config)
    types = _types(options)
    if not types:
        print("No selected stream is served by notifications: nothing to subscribe.")
        return 0
    settings = Settings.from_config(config)
    setup = Setup(
        queue,
        types,
        policy or retry_policy(settings),
        full_user_agent(settings.user_agent),
        replace=options.replace,
        say=print,
        complain=lambda line: print(line, file=sys.stderr),
    )
    accounts = [Account(account) for account in configured_accounts(settings)]
    try:
        outcomes = setup.run(accounts)
    finally:
        for account in accounts:
            account.close()
    print(summary(outcomes))
    print(
        "Amazon sends to the queue once its access policy lets it (the SQS console's "
        "'Access policy', or `aws sqs set-queue-attributes`; docs/notifications.md):"
    )
    print_policy(queue)
    return 1 if any(outcome.action == "failed" for outcome in outcomes) else 0


def parser() -> argparse.ArgumentParser:
    """`tap-spapi-notifications setup ...`."""
    top = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    setup = commands.add_parser(
        "setup",
        help="subscribe the configured accounts' notifications to an SQS queue",
        description=(
            "Find or create the queue's destination, subscribe each account of the config "
            "to the notification types of the selected streams, and print the queue policy "
            "Amazon needs. Idempotent: a second run changes nothing."
        ),
    )
    setup.add_argument("--config", type=Path, help="the tap's config file (JSON)")
    setup.add_argument(
        "--queue-arn",
        help="arn:aws:sqs:REGION:ACCOUNT:NAME of a standard queue "
        "(default: from the config's notifications_queue_url)",
    )
    setup.add_argument(
        "--types",
        nargs="+",
        choices=list(PAYLOAD_VERSIONS),
        metavar="TYPE",
        help=f"notification types to subscribe, of {', '.join(PAYLOAD_VERSIONS)} (default: "
        "those of the streams --catalog selects; without it all four)",
    )
    setup.add_argument(
        "--catalog", type=Path, help="a Singer catalog: the types of its selected streams"
    )
    setup.add_argument(
        "--replace",
        action="store_true",
        help="move subscriptions that go to another destination to this queue",
    )
    setup.add_argument(
        "--print-policy-only",
        action="store_true",
        help="print the queue policy and call nothing",
    )
    return top


def main(argv: list[str] | None = None, policy: RetryPolicy | None = None) -> int:
    """Console entry point: errors as one line (secrets redacted), exit status 1.

    `policy` replaces the one the settings give (tests: the same retries, no waits)."""
    install_log_redaction()
    options = parser().parse_args(argv)
    try:
        return setup_command(options, policy)
    except TapSpapiError as exc:
        print(f"{PROG}: error: {redact(str(exc))}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
