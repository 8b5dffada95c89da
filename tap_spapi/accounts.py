"""The `accounts` setting: which selling-partner accounts a run extracts, and its shard.

Agencies run one SP-API application for many sellers: the application's LWA client
(and AWS keys, if it still signs) is shared, and each seller's authorization is a
refresh token. Without `accounts`, the top-level `refresh_token`/`region`/
`marketplace_ids` describe one account named "default".
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from typing import Any

from tap_spapi.account import AccountSettings
from tap_spapi.errors import SettingError
from tap_spapi.regions import MARKETPLACE_REGIONS, REGIONS

LOGGER = logging.getLogger("tap-spapi")
DEFAULT_ACCOUNT = "default"
# Account names go into every record's key and into state: keep them plain.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ENTRY_FIELDS = {
    "name",
    "refresh_token",
    "region",
    "marketplace_ids",
    "selling_partner_id",
    # Per-account endpoints, like the top-level ones: proxies and the local stand-in.
    "api_url",
    "lwa_token_url",
}
# What every account shares: the application's identity and the run's behaviour.
SHARED_FIELDS = set(AccountSettings.__dataclass_fields__) - ENTRY_FIELDS


def configured_accounts(config: Mapping[str, Any]) -> list[AccountSettings]:
    """Every account the config names, in config order (checked by `check_accounts`)."""
    shared = {k: config[k] for k in SHARED_FIELDS if config.get(k) is not None}
    entries = config.get("accounts") or [_single_account_entry(config)]
    accounts = []
    for entry in entries:
        values = {k: entry[k] for k in ENTRY_FIELDS if entry.get(k) is not None}
        for endpoint in ("api_url", "lwa_token_url", "region"):
            if endpoint not in values and config.get(endpoint) is not None:
                values[endpoint] = config[endpoint]
        values["marketplace_ids"] = tuple(values.get("marketplace_ids") or ())
        accounts.append(AccountSettings(**shared, **values))
    return accounts


def _single_account_entry(config: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": DEFAULT_ACCOUNT,
        "refresh_token": config.get("refresh_token"),
        "marketplace_ids": config.get("marketplace_ids"),
        "selling_partner_id": config.get("selling_partner_id"),
    }


def in_shard(name: str, shard_index: int, shard_count: int) -> bool:
    """Whether account `name` belongs to shard `shard_index` of `shard_count`.

    A hash of the name, not its position: adding or removing an account moves no other
    account to another shard (whose state would then start from nothing).
    """
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shard_count == shard_index


def accounts_of_shard(config: Mapping[str, Any]) -> list[AccountSettings]:
    """The accounts this run extracts: every configured one in this run's shard."""
    index, count = int(config.get("shard_index") or 0), int(config.get("shard_count") or 1)
    return [a for a in configured_accounts(config) if in_shard(a.name, index, count)]


def check_accounts(config: Mapping[str, Any]) -> None:
    """Raise `SettingError` naming `accounts[i].field` for the first bad entry."""
    _check_shard(config)
    entries = config.get("accounts")
    if entries is None:
        if not config.get("refresh_token"):
            raise SettingError("refresh_token", "is required (or list `accounts`)")
        return
    if not isinstance(entries, list) or not entries:
        raise SettingError("accounts", "must be a non-empty list of account objects")
    seen: set[str] = set()
    for position, entry in enumerate(entries):
        where = f"accounts[{position}]"
        if not isinstance(entry, Mapping):
            raise SettingError(where, "must be an object with name and refresh_token")
        _check_entry(where, entry, config)
        if entry["name"] in seen:
            raise SettingError(f"{where}.name", f"{entry['name']!r} is used twice")
        seen.add(entry["name"])


def _check_entry(where: str, entry: Mapping[str, Any], config: Mapping[str, Any]) -> None:
    name = entry.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise SettingError(
            f"{where}.name", "is required: letters, digits, '.', '_' or '-' (64 at most)"
        )
    token = entry.get("refresh_token")
    if not isinstance(token, str) or not token:
        # Never echo the value: it is (or was meant to be) a secret.
        raise SettingError(f"{where}.refresh_token", "is required (a string)")
    region = entry.get("region", config.get("region") or "na")
    if region not in REGIONS:
        raise SettingError(f"{where}.region", f"unknown region {region!r}; use na, eu or fe")
    marketplaces = entry.get("marketplace_ids")
    if marketplaces is not None and (
        not isinstance(marketplaces, list) or not all(isinstance(m, str) for m in marketplaces)
    ):
        raise SettingError(f"{where}.marketplace_ids", "must be a list of marketplace ids")
    for marketplace_id in marketplaces or []:
        home = MARKETPLACE_REGIONS.get(marketplace_id)
        if home is not None and home != region:
            raise SettingError(
                f"{where}.marketplace_ids",
                f"{marketplace_id} belongs to region '{home}', not to '{region}'",
            )
    for text in ("selling_partner_id", "api_url", "lwa_token_url"):
        if entry.get(text) is not None and not isinstance(entry[text], str):
            raise SettingError(f"{where}.{text}", "must be a string")
    for unknown in sorted(set(entry) - ENTRY_FIELDS):
        LOGGER.warning("Ignoring unknown setting '%s.%s'.", where, unknown)


def _check_shard(config: Mapping[str, Any]) -> None:
    count, index = config.get("shard_count", 1), config.get("shard_index", 0)
    for name, value, low in (("shard_count", count, 1), ("shard_index", index, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise SettingError(name, f"must be a whole number of at least {low}, got {value!r}")
    if index >= count:
        raise SettingError("shard_index", f"must be below shard_count ({count}), got {index}")


def account_secrets(config: Mapping[str, Any]) -> list[Any]:
    """Every per-account secret in the config (registered for redaction at start-up)."""
    entries = config.get("accounts")
    if not isinstance(entries, list):
        return []
    return [entry.get("refresh_token") for entry in entries if isinstance(entry, Mapping)]
