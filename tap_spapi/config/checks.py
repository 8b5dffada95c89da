"""Start-up checks of the settings: the schema's constraints, then the cross-field rules.

singer-sdk validates the config against the same schema, but its messages echo the
offending values, secrets included. `check_config` runs first and raises one
`SettingError` naming the setting (`accounts[0].refresh_token`), never quoting a value
the schema marks `secret`. Only rules a JSON schema cannot express (half-given AWS
keys, a marketplace of another region, URLs) are written out here, and so are the
settings that would otherwise do nothing without a word: an override of an operation
the tap does not know, an id of an account that is not configured, shards of a single
account (accounts_setting.py), an id file that holds no ids (a warning).
"""

from __future__ import annotations

import difflib
import importlib.util
import logging
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pendulum
from singer_sdk import typing as th

from tap_spapi.amazon.operations import load_catalog
from tap_spapi.amazon.regions import MARKETPLACE_REGIONS
from tap_spapi.config.accounts_setting import DEFAULT_ACCOUNT, account_names, check_accounts
from tap_spapi.config.settings import CONFIG_SCHEMA, PROPERTIES, Settings, parse_start_date
from tap_spapi.errors import MissingExtraError, SettingError

if TYPE_CHECKING:
    from jsonschema import ValidationError

    from tap_spapi.config.shipment_identifiers import ShipmentIdentifier
    from tap_spapi.config.tracking_ids import Listed, TrackedLabel

LOGGER = logging.getLogger("tap-spapi")
AWS_KEY_PAIR = ("aws_access_key_id", "aws_secret_access_key")
# How each JSON type reads in a message ("must be a whole number").
TYPE_WORDS = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
}
# The SDK's validator class, so our checks and its own agree on the draft.
_VALIDATOR = th.DEFAULT_JSONSCHEMA_VALIDATOR(CONFIG_SCHEMA)
_ORDER = {name: position for position, name in enumerate(PROPERTIES)}
# Account names an error lists as the valid ones (an agency may configure hundreds).
MAX_NAMES_SHOWN = 5


def check_config(config: Mapping[str, Any], known_settings: set[str]) -> Settings:
    """Raise `SettingError` for the first problem in `config`; warn of unknown settings.

    `known_settings` includes the SDK's built-in ones (stream maps, flattening, …).
    Returns the typed settings the checks read, with the overrides and the id files
    they parsed (the run uses these, and parses nothing again).
    """
    check_schema(config)
    settings = Settings.from_config(config)
    check_accounts(settings)
    _check_marketplaces_in_region(settings)
    _check_urls(settings)
    _check_aws(settings)
    _check_notifications(settings)
    _check_user_agent(settings.user_agent)
    if settings.start_date:
        _check_start_date_is_past(parse_start_date(settings.start_date))
    _check_rate_limit_overrides(settings)
    _check_listed_ids(settings)
    for name in sorted(set(config) - known_settings):
        LOGGER.warning("Ignoring unknown setting '%s'.", name)
    return settings


def _check_rate_limit_overrides(settings: Settings) -> None:
    """Each override names an operation the tap paces (a typo would leave the real one
    on its default plan), and gives a usable plan (parsed here, once: `rate_limits`)."""
    overrides = settings.rate_limit_overrides or {}
    known = {operation.operation_id for operation in load_catalog()}
    for name in overrides:
        if name not in known:
            raise SettingError(
                "rate_limit_overrides",
                f"{name!r} is not an SP-API operation id the tap knows"
                + _closest(str(name), known, "use an operationId of Amazon's models"),
            )
    _ = settings.rate_limits  # SettingError if a plan is not usable


def _check_listed_ids(settings: Settings) -> None:
    """Labels and tracking identifiers: each entry well formed and of a configured
    account (one of another account would be tracked by nobody); a file with no ids is
    warned of, the same for either setting that names one."""
    listed: list[Listed[TrackedLabel] | Listed[ShipmentIdentifier]] = [
        *settings.listed_labels,
        *settings.listed_identifiers,
    ]
    accounts = account_names(settings)
    if not settings.accounts:
        otherwise = f"without `accounts` the one account is {DEFAULT_ACCOUNT!r}"
    elif len(accounts) <= MAX_NAMES_SHOWN:
        otherwise = "use one of " + ", ".join(repr(name) for name in accounts)
    else:
        otherwise = "use the name of an `accounts` entry"
    for entry in listed:
        account = entry.item.account
        if account is not None and account not in accounts:
            raise SettingError(
                entry.setting,
                f"{entry.where}: account {account!r} is not configured"
                + _closest(account, accounts, otherwise),
            )
    files = {
        "tracking_ids_file": settings.tracking_ids_file,
        "shipment_tracking_ids_file": settings.shipment_tracking_ids_file,
    }
    for setting, path in files.items():
        if path and not any(entry.setting == setting for entry in listed):
            LOGGER.warning(
                "Setting '%s': %s holds no ids; nothing is tracked from it.", setting, path
            )


def _closest(name: str, choices: Collection[str], otherwise: str) -> str:
    """`; did you mean 'x'?` for the choice most like `name`, else `; <otherwise>`."""
    found = difflib.get_close_matches(name, choices, n=1)
    return f"; did you mean {found[0]!r}?" if found else f"; {otherwise}"


def _check_user_agent(value: Any) -> None:
    """The User-Agent header is one line of printable text (requests refuses a header
    value with a line break, in a traceback, at the first request)."""
    if isinstance(value, str) and any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise SettingError(
            "user_agent",
            "must be one line of printable text (no line breaks or control characters)",
        )


def check_schema(config: Mapping[str, Any]) -> None:
    """Raise `SettingError` for the first value that breaks CONFIG_SCHEMA's constraints.

    A setting given as null counts as not given (it takes its default), as before the
    schema carried the constraints.
    """
    given = {name: value for name, value in config.items() if value is not None}
    errors = sorted(_VALIDATOR.iter_errors(given), key=_error_order)
    if errors:
        raise _setting_error(errors[0])


def _error_order(error: ValidationError) -> tuple[int, str]:
    """Schema order of the setting, so the first error is the one the old checks named."""
    path = [*error.absolute_path] or _missing(error)[:1]
    first = path[0] if path else ""
    return _ORDER.get(str(first), len(_ORDER)), str(list(error.absolute_path))


def _setting_error(error: ValidationError) -> SettingError:
    path = list(error.absolute_path)
    if error.validator == "required":
        return SettingError(_setting_name([*path, *_missing(error)[:1]]), "is required")
    name, value = _setting_name(path), error.instance
    shown = "a secret value" if _is_secret(path) else repr(value)
    limit = error.validator_value
    if error.validator == "type":
        expected = [kind for kind in _kinds(limit) if kind != "null"]
        words = " or ".join(TYPE_WORDS.get(kind, kind) for kind in expected)
        got = type(value).__name__
        return SettingError(name, f"must be {words}, got {got}" + _unless_secret(path, value))
    if error.validator == "minimum":
        return SettingError(name, f"must be at least {limit}, got {shown}")
    if error.validator == "minLength" and limit == 1:
        return SettingError(name, "is required")
    if error.validator == "maxLength":
        return SettingError(name, f"too long: {len(value)} characters, {limit} at most")
    if error.validator == "enum":
        options = ", ".join(str(option) for option in limit)
        return SettingError(name, f"unknown {path[-1]} {shown}; use one of {options}")
    if error.validator == "pattern":
        rule = error.schema.get("description") or f"a match of {limit}"
        return SettingError(name, f"must be {rule}, got {shown}")
    return SettingError(name, f"breaks the schema's '{error.validator}' rule")


def _missing(error: ValidationError) -> list[str]:
    """The required properties an object lacks (jsonschema reports on the object)."""
    if error.validator != "required" or not isinstance(error.instance, Mapping):
        return []
    return [name for name in error.validator_value if name not in error.instance]


def _kinds(type_value: Any) -> list[str]:
    return [type_value] if isinstance(type_value, str) else list(type_value)


def _unless_secret(path: list[Any], value: Any) -> str:
    """` 'abc'`: the value, so users see what they typed, unless it is a secret."""
    if _is_secret(path) or isinstance(value, Mapping | list):
        return ""
    return f" {value!r}"


def _setting_name(path: list[Any]) -> str:
    """`accounts[0].refresh_token` from the path ['accounts', 0, 'refresh_token']."""
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def _is_secret(path: list[Any]) -> bool:
    """Whether the schema marks the value at `path` (or anything around it) secret."""
    spec: Mapping[str, Any] = CONFIG_SCHEMA
    for part in path:
        if spec.get("secret"):
            return True
        if isinstance(part, int):
            spec = spec.get("items") or {}
        else:
            spec = (spec.get("properties") or {}).get(part) or {}
    return bool(spec.get("secret"))


def _check_marketplaces_in_region(settings: Settings) -> None:
    region = settings.region
    for marketplace_id in settings.marketplace_ids:
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


def _check_urls(settings: Settings) -> None:
    # urlparse, not a schema `pattern`: a regex for "has a host" would be harder to read.
    for name, value in (("api_url", settings.api_url), ("lwa_token_url", settings.lwa_token_url)):
        if value is None:
            continue
        parsed = urlparse(value)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc:
            raise SettingError(name, f"must be an http(s) URL, got {value!r}")


def _check_aws(settings: Settings) -> None:
    given = [name for name in AWS_KEY_PAIR if getattr(settings, name)]
    if len(given) == 1:
        missing = next(name for name in AWS_KEY_PAIR if name not in given)
        raise SettingError(missing, f"is required when '{given[0]}' is set")
    for dependent in ("aws_session_token", "role_arn"):
        if getattr(settings, dependent) and not given:
            raise SettingError(dependent, "needs aws_access_key_id and aws_secret_access_key")
    if given and importlib.util.find_spec("botocore") is None:
        raise MissingExtraError(
            "aws_access_key_id",
            "SigV4 signing needs botocore: pip install 'tap-spapi[aws]'",
        )


def _check_notifications(settings: Settings) -> None:
    queue = settings.notifications_queue_url
    if not queue:
        return
    if not str(queue).startswith(("https://", "http://")):
        raise SettingError("notifications_queue_url", f"must be an SQS queue URL, not {queue!r}")
    if importlib.util.find_spec("boto3") is None:
        raise MissingExtraError(
            "notifications_queue_url",
            "reading the queue needs boto3: pip install 'tap-spapi[notifications]'",
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
