"""One extraction run: its accounts, worker pools, clock, failures and marketplaces.

`TapSpapi` keeps what singer-sdk gives a tap (settings, discovery, stream order,
invocation); what one run of it opens, learns and has to answer for at the end lives
here. Streams reach it through `SPAPIStream.run`, typed, instead of through the tap's
attributes; the run knows no stream class (the tap hands it the two things it needs from
streams as callables), so the import arrows run tap -> streams -> run only.
"""

from __future__ import annotations

import datetime
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from tap_spapi.amazon.operations import load_catalog
from tap_spapi.config.accounts_setting import accounts_of_shard
from tap_spapi.config.settings import Settings, parse_start_date
from tap_spapi.errors import TapSpapiError
from tap_spapi.runtime.failures import RunFailures, summary
from tap_spapi.runtime.marketplaces import Marketplaces
from tap_spapi.runtime.pools import Prefetcher, ReadAhead
from tap_spapi.runtime.shared_bodies import SharedBodies
from tap_spapi.wire.account import Account
from tap_spapi.wire.client import SPAPIClient
from tap_spapi.wire.retries import RetryPolicy
from tap_spapi.wire.transport import AccountRouter, ThreadSessions, paced_session

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable

    from tap_spapi.runtime.inbox import Inbox
    from tap_spapi.runtime.marketplaces import Participations

DEFAULT_HISTORY_DAYS = 30
# Readers of later top-level contexts: enough to overlap the latency-bound pages of one
# stream (inbound, one page at a time per window) with the plan-bound chain of another;
# with several accounts, one per account in flight (`max_parallel_accounts`).
READ_AHEAD_THREADS = 2
# A gathered warning names this many of its items (Run.gather).
GATHERED_EXAMPLES = 3


def utc_now() -> datetime.datetime:
    """The wall clock: what the run starts at and a state file is checked against (one
    function, so that a test sets the day the tap believes it is)."""
    return datetime.datetime.now(datetime.UTC)


@dataclass
class _Gathered:
    """How many items one gathered warning is about, and the first few."""

    count: int = 0
    examples: list[str] = field(default_factory=list)


class Run:
    """What one tap run opened and found: accounts, pools, clock, failures, marketplaces.

    Everything is created when first asked for, so discovery and `--about` open nothing.
    `fetch_participations` calls getMarketplaceParticipations for one account (for
    `marketplaces`: marketplaces.py); `start_reading` announces the read-ahead streams'
    contexts (both belong to streams, which the tap knows and the run does not).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        user_agent: str,
        fetch_participations: Callable[[str], Participations],
        start_reading: Callable[[], None],
        logger: logging.Logger,
        open_inbox: Callable[[], Inbox | None] = lambda: None,
    ) -> None:
        #: The typed settings (the tap's, parsed once).
        self.settings = settings
        self.user_agent = user_agent
        self.logger = logger
        self._start_reading = start_reading
        self._open_inbox = open_inbox
        self._inbox_lock = threading.Lock()
        self._reading_ahead = False
        #: The accounts' participations and marketplaces, each fetched once per run.
        self.marketplaces = Marketplaces(self, fetch_participations, logger)

    # --- accounts ---------------------------------------------------------------------

    @cached_property
    def accounts(self) -> dict[str, Account]:
        """The accounts of this run's shard, by name, in config order."""
        chosen = accounts_of_shard(self.settings)
        if not chosen:
            self.logger.warning(
                "Shard %s of %s holds none of the configured accounts; nothing to extract.",
                self.settings.shard_index,
                self.settings.shard_count,
            )
        catalog = load_catalog()
        return {settings.name: Account(settings, catalog) for settings in chosen}

    def account_named(self, name: str | None) -> Account:
        """The account called `name` (every context carries one)."""
        try:
            return self.accounts[name or ""]
        except KeyError:
            raise TapSpapiError(f"no account named {name!r} in this run") from None

    def client(self, name: str) -> SPAPIClient:
        """The SP-API client of the account called `name` (one per account and run)."""
        client = self._clients.get(name)
        if client is None:
            client = self._clients.setdefault(
                name,
                SPAPIClient(
                    self.account_named(name),
                    user_agent=self.user_agent,
                    policy=self.retry_policy,
                    logger=self.logger,
                ),
            )
        return client

    @cached_property
    def _clients(self) -> dict[str, SPAPIClient]:
        return {}

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        """The one retry policy of SP-API calls (settings `max_retries`, `max_retry_seconds`)."""
        return RetryPolicy(
            max_faults=self.settings.max_retries, max_seconds=self.settings.max_retry_seconds
        )

    @cached_property
    def sessions(self) -> ThreadSessions:
        """A session per thread that sends each request through its account's pacing,
        auth and connections (the streams' own requests)."""
        routes = {name: account.adapter for name, account in self.accounts.items()}
        router = AccountRouter(routes)
        return ThreadSessions(lambda: paced_session(router))

    # --- worker pools -----------------------------------------------------------------

    @property
    def parallel_accounts(self) -> int:
        """Accounts in flight at once: `max_parallel_accounts`, at most every account."""
        return max(1, min(self.settings.max_parallel_accounts, len(self.accounts)))

    @property
    def sequential(self) -> bool:
        """`max_concurrency: 1`: one request at a time, all in the main thread."""
        return self.settings.sequential

    @cached_property
    def prefetcher(self) -> Prefetcher:
        """Workers for per-id requests: `max_concurrency` per account in flight."""
        per_account = self.settings.max_concurrency
        return Prefetcher(0 if self.sequential else per_account * self.parallel_accounts)

    @cached_property
    def read_ahead(self) -> ReadAhead:
        """Readers of top-level contexts ahead of the sync: one per account in flight."""
        threads = max(READ_AHEAD_THREADS, self.parallel_accounts)
        return ReadAhead(0 if self.sequential else threads)

    @cached_property
    def shared_bodies(self) -> SharedBodies:
        """Responses several sibling streams read (getFulfillmentOrder: shared_bodies.py)."""
        return SharedBodies()

    def start_reading_ahead(self) -> None:
        """Once per run, when the first stream syncs: the participations every account
        needs for its marketplaces, then the read-ahead streams' contexts announced."""
        if self._reading_ahead:
            return
        self._reading_ahead = True
        self._start_reading()

    @property
    def inbox(self) -> Inbox | None:
        """The notifications read from the SQS queue this run (None: the queue is off);
        opened once, when a stream first asks (inbox.py), whichever thread asks."""
        with self._inbox_lock:
            if not self._inbox_opened:
                self._inbox = self._open_inbox()
                self._inbox_opened = True
            return self._inbox

    _inbox: Inbox | None = None
    _inbox_opened = False

    def close(self) -> None:
        """Wake requests waiting for a token and stop the pools' threads (idempotent).

        Only what was opened: a run that never needed its accounts opens none here. The
        queue's messages this run kept are made visible again (`Inbox.release`).
        """
        if self._inbox is not None:
            try:
                self._inbox.release()
            except Exception as exc:  # botocore's errors: the messages come back anyway
                self.logger.warning(
                    "The queue's messages this run read stay hidden until their visibility "
                    "timeout ends (making them visible again failed: %s).",
                    exc,
                )
        for account in self.__dict__.get("accounts", {}).values():
            account.close()
        for pool in ("prefetcher", "read_ahead"):
            if pool in self.__dict__:
                self.__dict__[pool].close()

    def first_time(self, what: str) -> bool:
        """True the first time `what` is asked about this run: a note said once per run,
        not once per stream or account."""
        with self._said_lock:
            if what in self._said:
                return False
            self._said.add(what)
            return True

    @cached_property
    def _said(self) -> set[str]:
        return set()

    def gather(self, warning: str, item: str) -> None:
        """One more `item` (a label, a plan) that `warning` is about: the run says it once,
        at its end, with how many and the first few (`gathered`), not once per item.
        Constant memory however many items come."""
        with self._said_lock:
            seen = self._gathered.setdefault(warning, _Gathered())
            seen.count += 1
            if len(seen.examples) < GATHERED_EXAMPLES:
                seen.examples.append(item)

    def gathered(self) -> list[str]:
        """The gathered warnings, each a line: `warning` with its `{}` filled in by the
        number of items, then the first few (`: a, b, c, ...`)."""
        lines = []
        for warning, seen in self._gathered.items():
            more = ", ..." if seen.count > len(seen.examples) else ""
            lines.append(f"{warning.format(f'{seen.count:,}')}: {', '.join(seen.examples)}{more}")
        return lines

    @cached_property
    def _gathered(self) -> dict[str, _Gathered]:
        return {}

    _said_lock = threading.Lock()

    def operations_used(self) -> dict[str, dict[str, float]]:
        """Requests and 429s per operation, all accounts of the run added up."""
        operations: dict[str, dict[str, float]] = {}
        for account in self.__dict__.get("accounts", {}).values():
            for name, used in account.limiter.snapshot().items():
                total = operations.setdefault(name, {"requests": 0.0, "throttled": 0.0})
                total["requests"] += used["requests"]
                total["throttled"] += used["throttled"]
        return operations

    # --- clock ------------------------------------------------------------------------

    @cached_property
    def run_started_at(self) -> datetime.datetime:
        """Fixed once per run: the upper bound of every query window of this run."""
        return utc_now().replace(microsecond=0)

    @cached_property
    def started_second(self) -> int:
        """`run_started_at` in epoch seconds, as the state keeps its times (state.py)."""
        return int(self.run_started_at.timestamp())

    @cached_property
    def default_start(self) -> datetime.datetime:
        """Setting `start_date`, else 30 days before the run."""
        if self.settings.start_date:
            return parse_start_date(self.settings.start_date)
        return self.run_started_at - datetime.timedelta(days=DEFAULT_HISTORY_DAYS)

    # --- failures ---------------------------------------------------------------------

    @cached_property
    def failures(self) -> RunFailures:
        """What failed this run: accounts, streams of an account, per-id contexts."""
        return RunFailures(strict=self.settings.strict)

    def account_failed(self, name: str, error: Exception) -> None:
        """Remember that `name` cannot be extracted; its other contexts are skipped."""
        self.failures.account_failed(name, error)

    @property
    def exit_status(self) -> int:
        """1 when anything this run was to extract failed (see failures.py), else 0."""
        return 1 if self.failures.reported else 0

    def final_lines(self) -> list[str]:
        """The last lines of the run on stderr: one per failure, then a summary."""
        reported = self.failures.reported
        lines = [f"{what}: {message}" for what, message in reported.items()]
        if len(reported) > 1:  # one failure is its own summary
            lines.append(summary(reported))
        return lines

    # --- marketplaces -----------------------------------------------------------------

    def marketplace_ids_of(self, name: str) -> list[str]:
        """The account's marketplaces, worked out once per run (`Marketplaces`)."""
        return self.marketplaces.marketplace_ids_of(name)
