"""The `accounts` setting: which selling-partner accounts a run extracts, and its shard.

Agencies run one SP-API application for many sellers: the application's LWA client
(and AWS keys, if it still signs) is shared, and each seller's authorization is a
refresh token. Without `accounts`, the top-level `refresh_token`/`region`/
`marketplace_ids` describe one account named "default".

Each account's `AccountSettings` holds its own values and the run's `Settings` by
reference (`shared`): what the accounts share is read there, not copied per account.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from tap_spapi.amazon.regions import MARKETPLACE_REGIONS
from tap_spapi.config.settings import ACCOUNT_ENTRY, Settings
from tap_spapi.errors import SettingError
from tap_spapi.wire.account import AccountSettings

LOGGER = logging.getLogger("tap-spapi")
DEFAULT_ACCOUNT = "default"
#: What one `accounts` entry may set (the schema's; everything else is shared).
ENTRY_FIELDS = frozenset(ACCOUNT_ENTRY)


def configured_accounts(settings: Settings) -> list[AccountSettings]:
    """Every account the settings name, in config order (checked by `check_accounts`)."""
    entries = settings.accounts or [_single_account_entry(settings)]
    return [_account(settings, entry) for entry in entries]


def _account(settings: Settings, entry: Mapping[str, Any]) -> AccountSettings:
    """One entry's settings; endpoints and region it does not set are the top-level ones."""
    return AccountSettings(
        shared=settings,
        name=entry["name"],
        refresh_token=entry["refresh_token"],
        region=entry.get("region") or settings.region,
        marketplace_ids=tuple(entry.get("marketplace_ids") or ()),
        selling_partner_id=entry.get("selling_partner_id"),
        api_url=entry.get("api_url") or settings.api_url,
        lwa_token_url=entry.get("lwa_token_url") or settings.lwa_token_url,
    )


def _single_account_entry(settings: Settings) -> dict[str, Any]:
    return {
        "name": DEFAULT_ACCOUNT,
        "refresh_token": settings.refresh_token,
        "marketplace_ids": settings.marketplace_ids,
        "selling_partner_id": settings.selling_partner_id,
    }


def account_names(settings: Settings) -> list[str]:
    """The names of the configured accounts, in config order (`default` for the
    top-level one); the first is the account of an id that names none."""
    if not settings.accounts:
        return [DEFAULT_ACCOUNT]
    return [str(entry["name"]) for entry in settings.accounts]


def in_shard(name: str, shard_index: int, shard_count: int) -> bool:
    """Whether account `name` belongs to shard `shard_index` of `shard_count`.

    A hash of the name, not its position: adding or removing an account moves no other
    account to another shard (whose state would then start from nothing).
    """
    return shard_key(name) % shard_count == shard_index


def shard_key(name: str) -> int:
    """The number account `name`'s shard is that modulo the shard count."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def accounts_of_shard(settings: Settings) -> list[AccountSettings]:
    """The accounts this run extracts: every configured one in this run's shard."""
    index, count = settings.shard_index, settings.shard_count
    return [a for a in configured_accounts(settings) if in_shard(a.name, index, count)]


def check_accounts(settings: Settings) -> None:
    """The rules of `accounts` a schema cannot state (its types and patterns are checked
    against CONFIG_SCHEMA first): raise `SettingError` naming `accounts[i].field`."""
    if settings.shard_index >= settings.shard_count:
        raise SettingError(
            "shard_index",
            f"must be below shard_count ({settings.shard_count}), got {settings.shard_index}",
        )
    if settings.accounts is None:
        if not settings.refresh_token:
            raise SettingError("refresh_token", "is required (or list `accounts`)")
        if settings.shard_count > 1:
            # Shards split `accounts`: one account lands in one shard, and the other
            # jobs would succeed having extracted nothing, every run.
            raise SettingError(
                "shard_count",
                f"{settings.shard_count} shards split `accounts`, which is not set: the "
                "single top-level account cannot be sharded; list the accounts in "
                "`accounts`, or set shard_count to 1",
            )
        return
    if not settings.accounts:
        raise SettingError("accounts", "must be a non-empty list of account objects")
    seen: set[str] = set()
    for position, entry in enumerate(settings.accounts):
        where = f"accounts[{position}]"
        _check_entry(where, entry, settings.region)
        if entry["name"] in seen:
            raise SettingError(f"{where}.name", f"{entry['name']!r} is used twice")
        seen.add(entry["name"])


def _check_entry(where: str, entry: Mapping[str, Any], default_region: str) -> None:
    region = entry.get("region") or default_region
    for marketplace_id in entry.get("marketplace_ids") or []:
        home = MARKETPLACE_REGIONS.get(marketplace_id)
        if home is not None and home != region:
            raise SettingError(
                f"{where}.marketplace_ids",
                f"{marketplace_id} belongs to region '{home}', not to '{region}'",
            )
    for unknown in sorted(set(entry) - ENTRY_FIELDS):
        LOGGER.warning("Ignoring unknown setting '%s.%s'.", where, unknown)


def account_secrets(config: Mapping[str, Any]) -> list[Any]:
    """Every per-account secret in the config (registered for redaction at start-up)."""
    entries = config.get("accounts")
    if not isinstance(entries, list):
        return []
    return [entry.get("refresh_token") for entry in entries if isinstance(entry, Mapping)]
