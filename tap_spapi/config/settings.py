"""The tap's settings: their JSON schema (the public contract) and a typed view of them.

Each setting is spelled once, here: its type, default and constraints (`minimum`,
`pattern`, `enum`, `secret`). The start-up checks (checks.py), the typed
`Settings`, the per-account settings (accounts_setting.py) and the test of meltano.yml all
read this schema instead of repeating it.
"""

from __future__ import annotations

import dataclasses
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pendulum
from singer_sdk import typing as th

from tap_spapi.amazon.regions import REGIONS
from tap_spapi.config import shipment_identifiers, tracking_ids
from tap_spapi.errors import SettingError
from tap_spapi.version import DEFAULT_USER_AGENT
from tap_spapi.wire.pacing import parse_rate_limit_overrides

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tap_spapi.config.shipment_identifiers import ShipmentIdentifier
    from tap_spapi.config.tracking_ids import Listed, TrackedLabel
    from tap_spapi.wire.pacing import UsagePlan

MAX_USER_AGENT_LENGTH = 500
# What `full_user_agent` appends (`(Language=Python/3.11; Platform=Linux)` and room).
USER_AGENT_SUFFIX_ROOM = 60
# Account names go into every record's key and into state: keep them plain.
ACCOUNT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
ACCOUNT_NAME_RULE = "letters, digits, '.', '_' or '-' (64 at most)"
# FBA Outbound versions the MCF streams can read, the default first.
MCF_API_VERSIONS = ("2020-07-01", "2026-07-04")
MCF_2026 = MCF_API_VERSIONS[1]

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "client_id",
        th.StringType(min_length=1),
        required=True,
        description="LWA client id of your SP-API application (amzn1.application-oa2-client.…).",
    ),
    th.Property(
        "client_secret",
        th.StringType(min_length=1),
        required=True,
        secret=True,
        description="LWA client secret of your SP-API application.",
    ),
    th.Property(
        "refresh_token",
        th.StringType,
        secret=True,
        description=(
            "LWA refresh token the selling partner issued to your application (Atzr|…). "
            "Required unless `accounts` is set."
        ),
    ),
    th.Property(
        "selling_partner_id",
        th.StringType,
        description="The seller (merchant) id of the account, copied into every record.",
    ),
    th.Property(
        "accounts",
        th.ArrayType(
            th.ObjectType(
                th.Property(
                    "name",
                    th.StringType(pattern=ACCOUNT_NAME_PATTERN),
                    required=True,
                    description=ACCOUNT_NAME_RULE,
                ),
                th.Property(
                    "refresh_token", th.StringType(min_length=1), required=True, secret=True
                ),
                th.Property("region", th.StringType, allowed_values=sorted(REGIONS)),
                th.Property("marketplace_ids", th.ArrayType(th.StringType)),
                th.Property("selling_partner_id", th.StringType),
                # Per-account endpoints, like the top-level ones: proxies and the stand-in.
                th.Property("api_url", th.StringType),
                th.Property("lwa_token_url", th.StringType),
            )
        ),
        description=(
            "Several selling-partner accounts authorized to the same application: "
            '[{"name": "acme-us", "refresh_token": "Atzr|…", "region": "na", '
            '"marketplace_ids": [...], "selling_partner_id": "A1…"}]. `name` goes into every '
            "record and key; region defaults to `region`, marketplaces to the account's own. "
            "Replaces the top-level refresh_token, marketplace_ids and selling_partner_id."
        ),
    ),
    th.Property(
        "max_parallel_accounts",
        th.IntegerType(minimum=1),
        default=4,
        description=(
            "Accounts extracted at the same time, each paced to its own usage plans (the "
            "tap always reads at least one account ahead of the one it writes)."
        ),
    ),
    th.Property(
        "shard_index",
        th.IntegerType(minimum=0),
        default=0,
        description="This run's shard, 0 to shard_count - 1 (see `shard_count`).",
    ),
    th.Property(
        "shard_count",
        th.IntegerType(minimum=1),
        default=1,
        description=(
            "Split `accounts` into this many stable shards (by a hash of the name) and "
            "extract only shard `shard_index`: one job per shard on separate machines."
        ),
    ),
    th.Property(
        "region",
        th.StringType,
        default="na",
        allowed_values=sorted(REGIONS),
        description="SP-API region of the account: na, eu or fe.",
    ),
    th.Property(
        "marketplace_ids",
        th.ArrayType(th.StringType),
        description=(
            'Marketplaces to extract, e.g. ["ATVPDKIKX0DER"]. Default: every marketplace '
            "the account participates in within `region`, from the Sellers API."
        ),
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        description=(
            "ISO 8601 date-time; incremental streams start here on the first run. "
            "Default: 30 days before the run."
        ),
    ),
    th.Property(
        "sandbox",
        th.BooleanType,
        default=False,
        description="Call Amazon's sandbox hosts instead of production.",
    ),
    th.Property(
        "api_url",
        th.StringType,
        description="Override of the SP-API base URL, e.g. a local stand-in or a proxy.",
    ),
    th.Property(
        "lwa_token_url",
        th.StringType,
        description="Override of the Login with Amazon token endpoint.",
    ),
    th.Property(
        "aws_access_key_id",
        th.StringType,
        description=(
            "AWS access key for SigV4 signing. Amazon stopped requiring SigV4 on 2 Oct 2023; "
            "leave empty unless your application still signs. Needs `tap-spapi[aws]`."
        ),
    ),
    th.Property(
        "aws_secret_access_key",
        th.StringType,
        secret=True,
        description="AWS secret key paired with `aws_access_key_id`.",
    ),
    th.Property(
        "aws_session_token",
        th.StringType,
        secret=True,
        description="AWS session token, when the keys are temporary.",
    ),
    th.Property(
        "role_arn",
        th.StringType,
        description=(
            "IAM role to assume with STS before signing (the AWS keys must be allowed to "
            "assume it). Temporary keys are cached and renewed before they expire."
        ),
    ),
    th.Property(
        "user_agent",
        # Amazon takes 500 characters; the tap appends its `(Language=…; Platform=…)`.
        th.StringType(max_length=MAX_USER_AGENT_LENGTH - USER_AGENT_SUFFIX_ROOM),
        default=DEFAULT_USER_AGENT,
        description=(
            "Your application's AppId/Version. The tap appends "
            "`(Language=Python/x.y; Platform=…)` as Amazon asks; 500 characters at most."
        ),
    ),
    th.Property(
        "request_timeout",
        th.IntegerType(minimum=1),
        default=60,
        description="Seconds to wait for Amazon to answer one request before retrying it.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0),
        default=8,
        description=(
            "Retries per request after a 5xx, a dropped connection or a body that is not "
            "JSON. 429s are not counted: they are bounded by max_retry_seconds."
        ),
    ),
    th.Property(
        "max_retry_seconds",
        th.IntegerType(minimum=1),
        default=900,
        description=(
            "Give up retrying one request after this many seconds (waits for a usage-plan "
            "token count too, so keep it above one refill of the slowest operation). Each "
            "consecutive 429 waits longer: one refill of the plan, doubling up to four, with "
            "jitter."
        ),
    ),
    th.Property(
        "max_concurrency",
        th.IntegerType(minimum=1),
        default=16,
        description=(
            "Per-id requests (shipment items, order details, package and shipment tracking) "
            "in flight at once per account. Pacing to the usage plan still applies. 1 runs "
            "sequentially: one request at a time, no worker threads."
        ),
    ),
    th.Property(
        "strict",
        th.BooleanType,
        default=False,
        description=(
            "Exit non-zero when a stream was skipped because the application lacks its "
            "SP-API role (403 Unauthorized all run for a stream that never succeeded for "
            "the account, in this run or an earlier one). Off: the stream is skipped with a "
            "warning and the run succeeds; its bookmarks stay, so the data comes once the "
            "role is granted. A stream that succeeded before and is refused all run fails "
            "the run either way. Any other failure always exits non-zero."
        ),
    ),
    th.Property(
        "log_metrics",
        th.BooleanType,
        default=False,
        description=(
            "Log singer-sdk's METRIC lines (each request's duration, request and record "
            "counts per stream and context) at INFO. Off: they are left out, so a "
            "successful run's log stays short."
        ),
    ),
    th.Property(
        "notifications_queue_url",
        th.StringType,
        description=(
            "URL of the standard SQS queue Amazon sends the seller's notifications to "
            "(`tap-spapi-notifications setup` subscribes; docs/notifications.md). The tap "
            "reads it once per run and emits a notified tracking without a request, "
            "polling only what notifications do not cover. Empty: off, everything is "
            "polled. Needs the `notifications` extra (boto3); AWS credentials come from "
            "botocore's usual chain (environment, profile, instance role)."
        ),
    ),
    th.Property(
        "notifications_region",
        th.StringType,
        description="AWS region of the queue; taken from `notifications_queue_url` when absent.",
    ),
    th.Property(
        "notifications_endpoint_url",
        th.StringType,
        description="SQS endpoint for SQS-compatible servers and tests (e.g. moto's server).",
    ),
    th.Property(
        "notifications_poll_hours",
        th.IntegerType(minimum=0),
        default=24,
        description=(
            "How often an identifier that notifications cover is still asked from Amazon "
            "(the backstop for a lost or late notification): once per this many hours, "
            "spread evenly over the runs. 0: every run, as without notifications."
        ),
    ),
    th.Property(
        "include_pii",
        th.BooleanType,
        default=False,
        description=(
            "Keep buyer names, addresses, phone numbers, e-mails and gift messages (MCF "
            "destination addresses, tracking ship-to addresses and signatures, orders' buyer "
            "and recipient). Off: they are dropped."
        ),
    ),
    th.Property(
        "lookback_window",
        th.IntegerType(minimum=0),
        default=180,
        description=(
            "Minutes before the bookmark that each incremental run asks for again, to "
            "catch updates Amazon records late."
        ),
    ),
    th.Property(
        "report_wait_minutes",
        th.IntegerType(minimum=0),
        default=120,
        description=(
            "How long to wait for Amazon to build one report before the stream stops for "
            "that account until the next run (which reuses the report once it is done)."
        ),
    ),
    th.Property(
        "tracking_ids",
        th.ArrayType(
            th.ObjectType(
                th.Property("tracking_id", th.StringType, required=True),
                th.Property("carrier_id", th.StringType, required=True),
            )
        ),
        description=(
            'Amazon Shipping labels to track, [{"tracking_id": …, "carrier_id": …}]: '
            "Amazon Shipping has no operation that lists shipments."
        ),
    ),
    th.Property(
        "tracking_ids_file",
        th.StringType,
        description=(
            "A CSV (header tracking_id,carrier_id, optionally account) or JSON Lines file of "
            "more labels to track."
        ),
    ),
    th.Property(
        "shipment_tracking_ids",
        th.ArrayType(
            th.ObjectType(
                th.Property("type", th.StringType, required=True),
                th.Property("value", th.StringType, required=True),
                th.Property("carrier_code", th.StringType),
                th.Property("account", th.StringType),
            )
        ),
        description=(
            "Identifiers for the Tracking API (shipment_tracking), besides those the tap "
            'sees itself, [{"type": …, "value": …}]: type is one of aftn, acsin, '
            "containerNumber, houseBillOfLadingNumber, id, carrierTracking (then "
            "carrier_code too, e.g. UPS)."
        ),
    ),
    th.Property(
        "shipment_tracking_ids_file",
        th.StringType,
        description=(
            "A CSV (header type,value, optionally carrier_code and account) or JSON Lines "
            "file of more identifiers for the Tracking API."
        ),
    ),
    th.Property(
        "shipping_business_id",
        th.StringType,
        description=(
            "Amazon Shipping business (x-amzn-shipping-business-id header), e.g. "
            "AmazonShipping_US; Amazon's default is AmazonShipping_UK."
        ),
    ),
    th.Property(
        "mcf_api_version",
        th.StringType(allowed_values=list(MCF_API_VERSIONS)),
        default=MCF_API_VERSIONS[0],
        description=(
            "FBA Outbound (MCF) version the outbound streams read. 2020-07-01: "
            "listAllFulfillmentOrders, then one getFulfillmentOrder per changed order "
            "(shipments, items, returns, return authorizations) and getPackageTrackingDetails "
            "per package. 2026-07-04: listOrders pages with each order's shipments and items "
            "(no request per order), the 2026-07-04 columns; it has no returns, return "
            "authorizations or package tracking, so those streams are skipped with a warning."
        ),
    ),
    th.Property(
        "rate_limit_overrides",
        th.ObjectType(additional_properties=True),
        description=(
            "Per operation id, the usage plan to pace to instead of Amazon's default, e.g. "
            '{"getShipments": {"rate": 5, "burst": 40}}. An override also wins over the '
            "x-amzn-RateLimit-Limit header (use it to leave room for other apps)."
        ),
    ),
).to_dict()

PROPERTIES: Mapping[str, Mapping[str, Any]] = CONFIG_SCHEMA["properties"]
#: Every default the schema declares (singer-sdk fills the same ones into `Tap.config`).
DEFAULTS: Mapping[str, Any] = {
    name: spec["default"] for name, spec in PROPERTIES.items() if "default" in spec
}
SECRET_SETTINGS = tuple(name for name, spec in PROPERTIES.items() if spec.get("secret"))
#: The fields of one `accounts` entry.
ACCOUNT_ENTRY: Mapping[str, Mapping[str, Any]] = PROPERTIES["accounts"]["items"]["properties"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """The settings of a run, typed, with the schema's defaults filled in.

    Built once by `check_config` from a config that passed the schema, checked, and kept
    by the tap for the whole run (`TapSpapi.settings`, `Run.settings`); no field has a
    default of its own (a test checks the fields are the schema's properties). What a
    setting holds beyond its JSON (usage plans, the labels and identifiers of a file) is
    parsed once, when first asked for: the start-up checks ask, and the run uses their
    answer (the properties below).
    """

    client_id: str
    client_secret: str
    refresh_token: str | None
    selling_partner_id: str | None
    accounts: list[Mapping[str, Any]] | None
    max_parallel_accounts: int
    shard_index: int
    shard_count: int
    region: str
    marketplace_ids: tuple[str, ...]
    start_date: str | None
    sandbox: bool
    api_url: str | None
    lwa_token_url: str | None
    aws_access_key_id: str | None
    aws_secret_access_key: str | None
    aws_session_token: str | None
    role_arn: str | None
    user_agent: str
    request_timeout: int
    max_retries: int
    max_retry_seconds: int
    max_concurrency: int
    strict: bool
    log_metrics: bool
    notifications_queue_url: str | None
    notifications_region: str | None
    notifications_endpoint_url: str | None
    notifications_poll_hours: int
    include_pii: bool
    lookback_window: int
    report_wait_minutes: int
    tracking_ids: list[Mapping[str, Any]] | None
    tracking_ids_file: str | None
    shipment_tracking_ids: list[Mapping[str, Any]] | None
    shipment_tracking_ids_file: str | None
    shipping_business_id: str | None
    mcf_api_version: str
    rate_limit_overrides: Mapping[str, Any] | None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """The typed view of `config`: a setting given as null takes its default too."""
        values: dict[str, Any] = {
            name: config[name] if config.get(name) is not None else DEFAULTS.get(name)
            for name in (field.name for field in dataclasses.fields(cls))
        }
        values["marketplace_ids"] = tuple(values["marketplace_ids"] or ())
        return cls(**values)

    @property
    def sequential(self) -> bool:
        """`max_concurrency: 1`: one request at a time, all in the main thread."""
        return self.max_concurrency <= 1

    @cached_property
    def rate_limits(self) -> Mapping[str, UsagePlan]:
        """`rate_limit_overrides` parsed: the usage plan to pace each named operation to
        (every account of the run shares this one mapping)."""
        try:
            return parse_rate_limit_overrides(self.rate_limit_overrides or {})
        except ValueError as exc:
            raise SettingError("rate_limit_overrides", str(exc)) from None

    @cached_property
    def listed_labels(self) -> list[Listed[TrackedLabel]]:
        """The labels of `tracking_ids` and of the file `tracking_ids_file` names, in
        their order, each with where it is listed (for the start-up checks)."""
        return tracking_ids.listed_labels(self.tracking_ids, self.tracking_ids_file)

    @cached_property
    def labels(self) -> list[TrackedLabel]:
        """The Amazon Shipping labels to track, without duplicates, in a stable order."""
        return sorted({entry.item for entry in self.listed_labels})

    @cached_property
    def listed_identifiers(self) -> list[Listed[ShipmentIdentifier]]:
        """The identifiers of `shipment_tracking_ids` and of the file
        `shipment_tracking_ids_file` names, in their order, each with where it is listed."""
        return shipment_identifiers.listed_identifiers(
            self.shipment_tracking_ids, self.shipment_tracking_ids_file
        )

    @cached_property
    def identifiers(self) -> list[ShipmentIdentifier]:
        """The Tracking API identifiers users list, without duplicates, in a stable order."""
        return sorted({entry.item for entry in self.listed_identifiers})


def parse_start_date(value: str) -> pendulum.DateTime:
    """Parse `start_date`, naming the setting when it is not an ISO 8601 date-time."""
    try:
        parsed = pendulum.parse(value)
    except (ValueError, pendulum.parsing.exceptions.ParserError):
        raise SettingError("start_date", f"not an ISO 8601 date-time: {value!r}") from None
    if isinstance(parsed, pendulum.Date) and not isinstance(parsed, pendulum.DateTime):
        parsed = pendulum.datetime(parsed.year, parsed.month, parsed.day)
    if not isinstance(parsed, pendulum.DateTime):
        raise SettingError("start_date", f"not an ISO 8601 date-time: {value!r}")
    return parsed
