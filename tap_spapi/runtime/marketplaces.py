"""The accounts' marketplaces: their participations, fetched once per account and run.

getMarketplaceParticipations allows one request a minute, and several streams need its
answer (marketplace_participations emits it, the streams that query per marketplace
take their marketplaces from it), so the run fetches it once per account (`Marketplaces`,
held by the run as `Run.marketplaces`) and keeps a failure as well as an answer. The
run is reached through `RunAccounts` (the few things of it this needs), so this module
imports nothing of run.py.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol

from tap_spapi.amazon.regions import MARKETPLACE_REGIONS
from tap_spapi.errors import AccountUnavailableError, TapSpapiError
from tap_spapi.runtime.pools import for_each_in_parallel

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable

    from tap_spapi.wire.account import Account

Participations = list[dict[str, Any]]


class RunAccounts(Protocol):
    """What `Marketplaces` needs of the run: its accounts and how many at a time."""

    @property
    def accounts(self) -> dict[str, Account]: ...

    @property
    def parallel_accounts(self) -> int: ...

    @property
    def sequential(self) -> bool: ...

    def account_named(self, name: str | None) -> Account: ...

    def account_failed(self, name: str, error: Exception) -> None: ...


class Marketplaces:
    """The marketplace participations and marketplaces of the run's accounts.

    `fetch_participations` calls getMarketplaceParticipations for one account (it
    belongs to a stream, which the tap knows and the run does not).
    """

    def __init__(
        self,
        run: RunAccounts,
        fetch_participations: Callable[[str], Participations],
        logger: logging.Logger,
    ) -> None:
        self._run = run
        self._fetch_participations = fetch_participations
        self.logger = logger
        self._marketplace_ids: dict[str, list[str]] = {}
        self._participations: dict[str, Participations] = {}
        self._participation_errors: dict[str, TapSpapiError] = {}
        self._participation_locks: dict[str, threading.Lock] = {}
        self._participations_lock = threading.Lock()

    def marketplace_ids_of(self, name: str) -> list[str]:
        """Setting `marketplace_ids` of the account, else its marketplaces in its region.

        Worked out (and logged) once per account and run: report streams ask per window.
        """
        if name not in self._marketplace_ids:
            self._marketplace_ids[name] = self._find_marketplace_ids(name)
        return list(self._marketplace_ids[name])

    def _find_marketplace_ids(self, name: str) -> list[str]:
        account = self._run.account_named(name)
        if account.settings.marketplace_ids:
            return list(account.settings.marketplace_ids)
        region = account.settings.region
        found: list[str] = []
        for record in self.participations_of(name):
            marketplace_id = str((record.get("marketplace") or {}).get("id"))
            participating = (record.get("participation") or {}).get("isParticipating", True)
            if participating and MARKETPLACE_REGIONS.get(marketplace_id, region) == region:
                found.append(marketplace_id)
        self.logger.debug("Marketplaces of account '%s' in region %s: %s", name, region, found)
        return found

    def participations_of(self, name: str) -> Participations:
        """The account's marketplace participations, fetched once per run (1 request/min).

        A failure is kept too: every stream that needs them fails the same way, without
        spending another round of retries on it.
        """
        with self._participations_lock:
            lock = self._participation_locks.setdefault(name, threading.Lock())
        with lock:  # one fetch per account, accounts in parallel
            if name in self._participation_errors:
                raise self._participation_errors[name]
            if name not in self._participations:
                try:
                    self._participations[name] = self._fetch_participations(name)
                except TapSpapiError as exc:
                    self._participation_errors[name] = exc
                    raise
            return self._participations[name]

    def fetch_all_participations(self) -> None:
        """The participations of every account that needs them for its marketplaces,
        `max_parallel_accounts` at a time: one round trip each, not one after another."""
        run = self._run
        if run.sequential:
            return
        needed = [name for name, a in run.accounts.items() if not a.settings.marketplace_ids]

        def fetch(name: str) -> None:
            try:
                self.participations_of(name)
            except AccountUnavailableError as exc:
                run.account_failed(name, exc)
            except TapSpapiError:
                pass  # kept: each stream that needs them fails with it, contained

        for_each_in_parallel(fetch, needed, workers=run.parallel_accounts, name="sellers")
