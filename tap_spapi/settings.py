"""The tap's settings: their JSON schema (the public contract) and start-up checks.

singer-sdk validates the config against the JSON schema too, but its messages echo
the offending values, secrets included, and it cannot express rules that span
settings (half-given AWS keys, a marketplace of another region). `check_config` runs
first and raises one `SettingError` naming the setting, never quoting a secret.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import pendulum
from singer_sdk import typing as th

from tap_spapi import tracking_ids
from tap_spapi.accounts import check_accounts
from tap_spapi.errors import MissingExtraError, SettingError
from tap_spapi.pacing import parse_rate_limit_overrides
from tap_spapi.regions import MARKETPLACE_REGIONS, REGIONS

LOGGER = logging.getLogger("tap-spapi")

SECRET_SETTINGS = (
    "client_secret",
    "refresh_token",
    "aws_secret_access_key",
    "aws_session_token",
)
AWS_KEY_PAIR = ("aws_access_key_id", "aws_secret_access_key")
MAX_USER_AGENT_LENGTH = 500

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "client_id",
        th.StringType,
        required=True,
        description="LWA client id of your SP-API application (amzn1.application-oa2-client.…).",
    ),
    th.Property(
        "client_secret",
        th.StringType,
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
                th.Property("name", th.StringType, required=True),
                th.Property("refresh_token", th.StringType, required=True, secret=True),
                th.Property("region", th.StringType),
                th.Property("marketplace_ids", th.ArrayType(th.StringType)),
                th.Property("selling_partner_id", th.StringType),
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
        th.IntegerType,
        default=4,
        description=(
            "Accounts extracted at the same time, each paced to its own usage plans (the "
            "tap always reads at least one account ahead of the one it writes)."
        ),
    ),
    th.Property(
        "shard_index",
        th.IntegerType,
        default=0,
        description="This run's shard, 0 to shard_count - 1 (see `shard_count`).",
    ),
    th.Property(
        "shard_count",
        th.IntegerType,
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
        th.StringType,
        default="tap-spapi/0.1.0",
        description=(
            "Your application's AppId/Version. The tap appends "
            "`(Language=Python/x.y; Platform=…)` as Amazon asks; 500 characters at most."
        ),
    ),
    th.Property(
        "request_timeout",
        th.IntegerType,
        default=60,
        description="Seconds to wait for Amazon to answer one request before retrying it.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType,
        default=8,
        description=(
            "Retries per request after a 5xx, a dropped connection or a body that is not "
            "JSON. 429s are not counted: they are bounded by max_retry_seconds."
        ),
    ),
    th.Property(
        "max_retry_seconds",
        th.IntegerType,
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
        th.IntegerType,
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
            "SP-API role (403 Unauthorized from an operation that never succeeded in the "
            "run). Off: the stream is skipped with a warning and the run succeeds; its "
            "bookmarks stay, so the data comes once the role is granted. Any other failure "
            "always exits non-zero."
        ),
    ),
    th.Property(
        "include_pii",
        th.BooleanType,
        default=False,
        description=(
            "Keep buyer names, addresses, phone numbers and e-mails (MCF destination "
            "addresses, tracking ship-to addresses and signatures). Off: they are dropped."
        ),
    ),
    th.Property(
        "lookback_window",
        th.IntegerType,
        default=180,
        description=(
            "Minutes before the bookmark that each incremental run asks for again, to "
            "catch updates Amazon records late."
        ),
    ),
    th.Property(
        "report_wait_minutes",
        th.IntegerType,
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
        "shipping_business_id",
        th.StringType,
        description=(
            "Amazon Shipping business (x-amzn-shipping-business-id header), e.g. "
            "AmazonShipping_US; Amazon's default is AmazonShipping_UK."
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

_AT_LEAST_ONE = {"request_timeout", "max_retry_seconds", "max_concurrency", "max_parallel_accounts"}
_STRING_SETTINGS = (
    "client_id",
    "region",
    "start_date",
    "api_url",
    "lwa_token_url",
    "aws_access_key_id",
    "role_arn",
    "user_agent",
    "tracking_ids_file",
    "shipping_business_id",
    "selling_partner_id",
    *SECRET_SETTINGS,
)
_POSITIVE_INT_SETTINGS = (
    "request_timeout",
    "max_retries",
    "max_retry_seconds",
    "max_concurrency",
    "max_parallel_accounts",
    "lookback_window",
    "report_wait_minutes",
)


def check_config(config: Mapping[str, Any], known_settings: set[str]) -> None:
    """Raise `SettingError` for the first problem in `config`; warn of unknown settings.

    `known_settings` includes the SDK's built-in ones (stream maps, flattening, …).
    """
    _check_types(config)
    check_accounts(config)
    _check_region_and_marketplaces(config)
    _check_urls(config)
    _check_aws(config)
    if config.get("start_date"):
        _check_start_date_is_past(parse_start_date(config["start_date"]))
    if len(config.get("user_agent") or "") > MAX_USER_AGENT_LENGTH - 60:
        raise SettingError("user_agent", "too long: Amazon accepts 500 characters in all")
    try:
        parse_rate_limit_overrides(config.get("rate_limit_overrides") or {})
    except ValueError as exc:
        raise SettingError("rate_limit_overrides", str(exc)) from None
    tracking_ids.from_setting(config.get("tracking_ids"))
    if config.get("tracking_ids_file"):
        tracking_ids.from_file(config["tracking_ids_file"])
    for name in sorted(set(config) - known_settings):
        LOGGER.warning("Ignoring unknown setting '%s'.", name)


def _check_types(config: Mapping[str, Any]) -> None:
    for name in _STRING_SETTINGS:
        value = config.get(name)
        if value is not None and not isinstance(value, str):
            # Never echo the value: it may be a secret typed into the wrong field.
            raise SettingError(name, f"must be a string, got {type(value).__name__}")
    for name in _POSITIVE_INT_SETTINGS:
        value = config.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise SettingError(name, f"must be a whole number, got {value!r}")
        if value is not None and value < (1 if name in _AT_LEAST_ONE else 0):
            raise SettingError(
                name, f"must be at least {1 if name in _AT_LEAST_ONE else 0}, got {value!r}"
            )
    for name in ("sandbox", "include_pii", "strict"):
        if config.get(name) is not None and not isinstance(config[name], bool):
            raise SettingError(name, "must be true or false")
    ids = config.get("marketplace_ids")
    if ids is not None and (
        not isinstance(ids, list) or not all(isinstance(item, str) for item in ids)
    ):
        raise SettingError("marketplace_ids", "must be a list of marketplace id strings")
    overrides = config.get("rate_limit_overrides")
    if overrides is not None and not isinstance(overrides, Mapping):
        raise SettingError("rate_limit_overrides", "must be an object keyed by operation id")
    for name in ("client_id", "client_secret"):
        if not config.get(name):
            raise SettingError(name, "is required")


def _check_region_and_marketplaces(config: Mapping[str, Any]) -> None:
    region = config.get("region") or "na"
    if region not in REGIONS:
        raise SettingError("region", f"unknown region {region!r}; use one of na, eu, fe")
    for marketplace_id in config.get("marketplace_ids") or []:
        home = MARKETPLACE_REGIONS.get(marketplace_id)
        if home is None:
            LOGGER.warning(
                "Setting 'marketplace_ids': %s is not a marketplace id the tap knows; "
                "passing it to Amazon as given.",
                marketplace_id,
            )
        elif home != region:
            raise SettingError(
                "marketplace_ids",
                f"{marketplace_id} belongs to region '{home}', not to region '{region}'",
            )


def _check_urls(config: Mapping[str, Any]) -> None:
    for name in ("api_url", "lwa_token_url"):
        value = config.get(name)
        if value is None:
            continue
        parsed = urlparse(value)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc:
            raise SettingError(name, f"must be an http(s) URL, got {value!r}")


def _check_aws(config: Mapping[str, Any]) -> None:
    given = [name for name in AWS_KEY_PAIR if config.get(name)]
    if len(given) == 1:
        missing = next(name for name in AWS_KEY_PAIR if name not in given)
        raise SettingError(missing, f"is required when '{given[0]}' is set")
    for dependent in ("aws_session_token", "role_arn"):
        if config.get(dependent) and not given:
            raise SettingError(dependent, "needs aws_access_key_id and aws_secret_access_key")
    if given and importlib.util.find_spec("botocore") is None:
        raise MissingExtraError(
            "aws_access_key_id",
            "SigV4 signing needs botocore: pip install 'tap-spapi[aws]'",
        )


def _check_start_date_is_past(start: pendulum.DateTime) -> None:
    if start.tzinfo is None:
        start = start.replace(tzinfo=pendulum.UTC)
    if start > pendulum.now("UTC"):
        # Every incremental stream would ask Amazon for nothing and move no bookmark.
        raise SettingError(
            "start_date",
            f"{start.isoformat()} is in the future; the run would extract nothing",
        )


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
