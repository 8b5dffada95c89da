"""tap-spapi: settings and streams; the work happens in the modules they name."""

from __future__ import annotations

import copy
import datetime
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import IO, Any

from singer_sdk import Stream, Tap

from tap_spapi.account import Account, close_all_accounts
from tap_spapi.accounts import account_secrets, accounts_of_shard, configured_accounts
from tap_spapi.auth import full_user_agent
from tap_spapi.concurrency import Prefetcher, ReadAhead
from tap_spapi.errors import AccountUnavailableError, TapSpapiError
from tap_spapi.failures import RUN_FAILURES, RunFailures, summary
from tap_spapi.operations import load_catalog
from tap_spapi.output import BatchFlushingWriter, flush_all_writers
from tap_spapi.redact import install_log_redaction, redact, register_secret
from tap_spapi.regions import MARKETPLACE_REGIONS
from tap_spapi.settings import CONFIG_SCHEMA, SECRET_SETTINGS, check_config, parse_start_date
from tap_spapi.state_files import (
    check_state,
    checked_config_file,
    checked_json_file,
    unknown_accounts,
    unwrapped_state,
)
from tap_spapi.streams.inbound import InboundShipmentItemsStream, InboundShipmentsStream
from tap_spapi.streams.orders import ORDER_STREAM_TYPES
from tap_spapi.streams.outbound import (
    OutboundOrdersStream,
    OutboundPackageTrackingStream,
    OutboundShipmentsStream,
)
from tap_spapi.streams.reports import REPORT_STREAM_TYPES
from tap_spapi.streams.sellers import MarketplaceParticipationsStream
from tap_spapi.streams.shipping import ShippingCarrierAccountsStream, ShippingTrackingStream
from tap_spapi.transport import AccountRouter

# Streams sync in this order (see `load_streams`), parents before children. The outbound
# chain, bound by its usage plans, goes first so that later streams bound by page
# latency (inbound) are read ahead while it runs, instead of after it.
STREAM_TYPES: list[type[Stream]] = [
    MarketplaceParticipationsStream,
    *ORDER_STREAM_TYPES,  # bound by searchOrders' plan: the others are read ahead meanwhile
    OutboundOrdersStream,
    OutboundShipmentsStream,
    OutboundPackageTrackingStream,
    InboundShipmentsStream,
    InboundShipmentItemsStream,
    ShippingTrackingStream,
    ShippingCarrierAccountsStream,
    # Last: their first reports are requested when the run starts (see
    # ReportStream.start_reading), and Amazon builds them while the streams above sync.
    *REPORT_STREAM_TYPES,
]
DEFAULT_HISTORY_DAYS = 30
# Readers of later top-level contexts: enough to overlap the latency-bound pages of one
# stream (inbound, one page at a time per window) with the plan-bound chain of another;
# with several accounts, one per account in flight (`max_parallel_accounts`).
READ_AHEAD_THREADS = 2
DEFAULT_USER_AGENT = "tap-spapi/0.1.0"
# Streams that need the accounts' marketplace participations.
PARTICIPATION_USERS = ("marketplace_participations", "inbound_shipments")


class TapSpapi(Tap):
    """Singer tap for Amazon Selling Partner API shipping and fulfillment data."""

    name = "tap-spapi"
    config_jsonschema = CONFIG_SCHEMA
    # msgspec serialises records about 1.5x faster than the default writer.
    message_writer_class = BatchFlushingWriter

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Our checks first: they name the setting and never echo a secret."""
        for name in SECRET_SETTINGS:
            register_secret(self._config.get(name))
        for secret in account_secrets(self._config):
            register_secret(secret)
        if raise_errors:
            known = copy.deepcopy(self.config_jsonschema)
            self.append_builtin_config(known)
            check_config(self._config, set(known["properties"]))
        return super()._validate_config(raise_errors=raise_errors)

    # --- accounts ---------------------------------------------------------------------

    @cached_property
    def accounts(self) -> dict[str, Account]:
        """The accounts of this run's shard, by name, in config order."""
        chosen = accounts_of_shard(self.config)
        if not chosen:
            self.logger.warning(
                "Shard %s of %s holds none of the configured accounts; nothing to extract.",
                self.config.get("shard_index", 0),
                self.config.get("shard_count", 1),
            )
        catalog = load_catalog()
        return {settings.name: Account(settings, catalog) for settings in chosen}

    def account_named(self, name: str | None) -> Account:
        """The account called `name` (every context carries one)."""
        try:
            return self.accounts[name or ""]
        except KeyError:
            raise TapSpapiError(f"no account named {name!r} in this run") from None

    @cached_property
    def router(self) -> AccountRouter:
        """Sends each request through its account's pacing, auth and connections."""
        return AccountRouter({name: account.adapter for name, account in self.accounts.items()})

    @property
    def parallel_accounts(self) -> int:
        """Accounts in flight at once: `max_parallel_accounts`, at most every account."""
        return max(1, min(int(self.config.get("max_parallel_accounts") or 4), len(self.accounts)))

    @property
    def sequential(self) -> bool:
        """`max_concurrency: 1`: one request at a time, all in the main thread."""
        return int(self.config.get("max_concurrency") or 16) <= 1

    @cached_property
    def prefetcher(self) -> Prefetcher:
        """Workers for per-id requests: `max_concurrency` per account in flight."""
        per_account = int(self.config.get("max_concurrency") or 16)
        return Prefetcher(0 if self.sequential else per_account * self.parallel_accounts)

    @cached_property
    def read_ahead(self) -> ReadAhead:
        """Readers of top-level contexts ahead of the sync: one per account in flight."""
        threads = max(READ_AHEAD_THREADS, self.parallel_accounts)
        return ReadAhead(0 if self.sequential else threads)

    @cached_property
    def spapi_user_agent(self) -> str:
        """`AppId/Version (Language=…; Platform=…)` (setting `user_agent`)."""
        return full_user_agent(self.config.get("user_agent") or DEFAULT_USER_AGENT)

    @cached_property
    def failures(self) -> RunFailures:
        """What failed this run: accounts, streams of an account, per-id contexts."""
        return RunFailures(strict=bool(self.config.get("strict")))

    def account_failed(self, name: str, error: Exception) -> None:
        """Remember that `name` cannot be extracted; its other contexts are skipped."""
        self.failures.account_failed(name, error)

    @property
    def failed_accounts(self) -> dict[str, str]:
        """Accounts that failed this run, with why (the run exits non-zero at the end)."""
        return self.failures.accounts

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: Any = None,
        state: IO[str] | None = None,
        catalog: IO[str] | None = None,
    ) -> None:
        """singer-sdk's command, with `--state`/`--catalog` files that are not JSON named."""
        return super().invoke(
            about=about,
            about_format=about_format,
            config=config,
            state=checked_json_file("--state", state),
            catalog=checked_json_file("--catalog", catalog),
        )

    @classmethod
    def cb_config(cls, ctx: Any, param: Any, value: tuple[str, ...]) -> Any:
        """singer-sdk's `--config` parsing, after checking each file is there and is JSON
        (the SDK shows a traceback for a missing file or bad JSON)."""
        for path in value:
            if path != "ENV":
                checked_config_file(path)
        return super().cb_config(ctx, param, value)

    def load_state(self, state: dict[str, Any]) -> None:
        """singer-sdk's state loading, for a state in any form we understand (see
        state_files.py), refusing what it would trip over or bookmarks from the future
        (they skip data), and warning of state the configured accounts do not own."""
        state = unwrapped_state(state)
        check_state(state, datetime.datetime.now(datetime.UTC))
        configured = {account.name for account in configured_accounts(self.config)}
        for name, streams in sorted(unknown_accounts(state, configured).items()):
            self.logger.warning(
                "State of stream(s) %s belongs to account '%s', which is not configured; "
                "it is kept but not used (renamed account?).",
                ", ".join(sorted(streams)),
                name,
            )
        super().load_state(state)

    @cached_property
    def run_started_at(self) -> datetime.datetime:
        """Fixed once per run: the upper bound of every query window of this run."""
        return datetime.datetime.now(datetime.UTC).replace(microsecond=0)

    @cached_property
    def default_start(self) -> datetime.datetime:
        """Setting `start_date`, else 30 days before the run."""
        if self.config.get("start_date"):
            return parse_start_date(self.config["start_date"])
        return self.run_started_at - datetime.timedelta(days=DEFAULT_HISTORY_DAYS)

    def marketplace_ids_of(self, name: str) -> list[str]:
        """Setting `marketplace_ids` of the account, else its marketplaces in its region.

        Worked out (and logged) once per account and run: report streams ask per window.
        """
        if name not in self._marketplace_ids:
            self._marketplace_ids[name] = self._find_marketplace_ids(name)
        return list(self._marketplace_ids[name])

    @cached_property
    def _marketplace_ids(self) -> dict[str, list[str]]:
        return {}

    def _find_marketplace_ids(self, name: str) -> list[str]:
        account = self.account_named(name)
        if account.settings.marketplace_ids:
            return list(account.settings.marketplace_ids)
        region = account.settings.region
        found: list[str] = []
        for record in self.participations_of(name):
            marketplace_id = str((record.get("marketplace") or {}).get("id"))
            participating = (record.get("participation") or {}).get("isParticipating", True)
            if participating and MARKETPLACE_REGIONS.get(marketplace_id, region) == region:
                found.append(marketplace_id)
        self.logger.info("Marketplaces of account '%s' in region %s: %s", name, region, found)
        return found

    def participations_of(self, name: str) -> list[dict[str, Any]]:
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
                stream = MarketplaceParticipationsStream(tap=self)
                try:
                    self._participations[name] = stream.fetch(name)
                except TapSpapiError as exc:
                    self._participation_errors[name] = exc
                    raise
            return self._participations[name]

    @cached_property
    def _participation_errors(self) -> dict[str, TapSpapiError]:
        return {}

    @cached_property
    def _participations(self) -> dict[str, list[dict[str, Any]]]:
        return {}

    @cached_property
    def _participation_locks(self) -> dict[str, threading.Lock]:
        return {}

    _participations_lock = threading.Lock()

    def start_reading_ahead(self) -> None:
        """Once per run: announce the contexts of every selected read-ahead stream."""
        if self._reading_ahead:
            return
        self._reading_ahead = True
        self._fetch_participations()
        for stream in self.streams.values():
            if getattr(stream, "read_ahead", False) and stream.selected:
                stream.start_reading()  # type: ignore[attr-defined]

    def _fetch_participations(self) -> None:
        """The participations of every account that needs them for its marketplaces,
        `max_parallel_accounts` at a time: one round trip each, not one after another."""
        wanted = [self.streams[name] for name in PARTICIPATION_USERS if name in self.streams]
        if self.sequential or not any(s.selected or s.has_selected_descendents for s in wanted):
            return
        needed = [name for name, a in self.accounts.items() if not a.settings.marketplace_ids]

        def fetch(name: str) -> None:
            try:
                self.participations_of(name)
            except AccountUnavailableError as exc:
                self.account_failed(name, exc)
            except TapSpapiError:
                pass  # kept: each stream that needs them fails with it, contained

        with ThreadPoolExecutor(self.parallel_accounts, thread_name_prefix="sellers") as pool:
            list(pool.map(fetch, needed))

    _reading_ahead = False

    @property
    def streams(self) -> dict[str, Stream]:
        """The SDK's streams with their parent links, in STREAM_TYPES order.

        singer-sdk sorts streams by name (its `load_streams` is final), which would sync
        the latency-bound inbound streams before the plan-bound outbound chain they are
        meant to overlap with; `sync_all` follows this mapping's order.
        """
        streams = super().streams
        order = {stream_type: index for index, stream_type in enumerate(STREAM_TYPES)}
        if list(streams) != sorted(streams, key=lambda name: order[type(streams[name])]):
            ranked = sorted(streams.values(), key=lambda stream: order[type(stream)])
            self._streams = {stream.name: stream for stream in ranked}
        return self._streams  # type: ignore[return-value]

    def discover_streams(self) -> list[Stream]:
        """One instance of every stream type."""
        return [stream_type(tap=self) for stream_type in STREAM_TYPES]


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: singer-sdk's CLI, with our errors as one redacted line."""
    install_log_redaction()
    try:
        TapSpapi.cli(args=argv)
    except TapSpapiError as exc:
        print(f"tap-spapi: error: {redact(str(exc))}", file=sys.stderr)
        sys.exit(1)
    except SystemExit as done:
        if done.code not in (0, None):
            raise
    finally:
        flush_all_writers()  # records emitted before a failure still reach the target
        close_all_accounts()
    # The other accounts finished and their state was written; the run still failed.
    for what, message in RUN_FAILURES.items():
        print(f"tap-spapi: error: {what}: {message}", file=sys.stderr)
    if len(RUN_FAILURES) > 1:  # one failure is its own summary
        print(f"tap-spapi: error: {summary(RUN_FAILURES)}", file=sys.stderr)
    sys.exit(1 if RUN_FAILURES else 0)


install_log_redaction()
