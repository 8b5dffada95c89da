"""tap-spapi: settings and streams; the work happens in the modules they name."""

from __future__ import annotations

import copy
import datetime
import logging
import sys
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any

from singer_sdk import Stream, Tap
from typing_extensions import override

from tap_spapi.config.accounts_setting import account_names, account_secrets
from tap_spapi.config.checks import check_config
from tap_spapi.config.settings import CONFIG_SCHEMA, MCF_2026, SECRET_SETTINGS, Settings
from tap_spapi.errors import TapSpapiError
from tap_spapi.runtime import entry_point
from tap_spapi.runtime import run as run_module
from tap_spapi.runtime.output import BatchFlushingWriter
from tap_spapi.runtime.progress import closing_lines, sdk_lines_once
from tap_spapi.runtime.run import Run
from tap_spapi.runtime.state import (
    READ_WITHOUT_OUTPUT,
    SUCCEEDED_FOR,
    PacedStateWriter,
    forget_final_shipments,
    grace_start,
    migrated,
    succeeded_accounts,
)
from tap_spapi.runtime.state_files import (
    check_state,
    checked_config_file,
    checked_json_file,
    unknown_accounts,
    unwrapped_state,
)
from tap_spapi.streams.awd import AWD_STREAM_TYPES
from tap_spapi.streams.base.stream import SPAPIStream
from tap_spapi.streams.inbound import InboundShipmentItemsStream, InboundShipmentsStream
from tap_spapi.streams.inbound_plans import INBOUND_PLAN_STREAM_TYPES
from tap_spapi.streams.notifications import NOTIFICATIONS_STREAM, NotificationsStream
from tap_spapi.streams.orders import ORDER_STREAM_TYPES
from tap_spapi.streams.outbound import (
    OutboundOrderItemsStream,
    OutboundOrdersStream,
    OutboundPackageTrackingStream,
    OutboundReturnAuthorizationsStream,
    OutboundReturnsStream,
    OutboundShipmentsStream,
)
from tap_spapi.streams.outbound_2026 import MCF_2026_TYPES
from tap_spapi.streams.reports.stream import REPORT_STREAM_TYPES
from tap_spapi.streams.sellers import MarketplaceParticipationsStream, fetch_participations
from tap_spapi.streams.shipping import (
    LABELS_LAYOUT,
    ShippingCarrierAccountsStream,
    ShippingTrackingStream,
)
from tap_spapi.streams.tracking import TRACKING_LAYOUT, TRACKING_STREAM_TYPES
from tap_spapi.version import __version__
from tap_spapi.wire.auth import full_user_agent
from tap_spapi.wire.redact import install_log_redaction, redact, register_secret

if TYPE_CHECKING:
    from tap_spapi.runtime.inbox import Inbox

# Streams sync in this order (see `streams`), parents before children (singer-sdk syncs
# a child with its parent). The outbound chain, bound by its usage plans, goes first so
# that later streams bound by page latency (inbound) are read ahead while it runs,
# instead of after it. Records go out stream by stream: a stream that waits on a slow
# usage plan holds back the output of every stream after it, fetched or not, so the
# slowest plans sync last (`tests/unit/test_stream_order.py`).
STREAM_TYPES: list[type[Stream]] = [
    MarketplaceParticipationsStream,
    OutboundOrdersStream,
    OutboundShipmentsStream,
    OutboundPackageTrackingStream,
    OutboundOrderItemsStream,
    OutboundReturnsStream,
    OutboundReturnAuthorizationsStream,
    InboundShipmentsStream,
    InboundShipmentItemsStream,
    *INBOUND_PLAN_STREAM_TYPES,
    # After the streams whose records carry the identifiers it tracks.
    *TRACKING_STREAM_TYPES,
    ShippingTrackingStream,
    ShippingCarrierAccountsStream,
    # Amazon Warehousing and Distribution: plans of 1 to 2 requests a second.
    *AWD_STREAM_TYPES,
    # Their first reports are requested when the run starts (see
    # ReportStream._request_ahead), and Amazon builds them while the streams above sync.
    *REPORT_STREAM_TYPES,
    # Last: searchOrders' plan is the slowest (0.0056/s: once its burst of 20 is spent, a
    # page every three minutes, more under 429s). Synced earlier, it would hold back the
    # output of every later stream, fetched and held in memory meanwhile, lost to a kill.
    *ORDER_STREAM_TYPES,
    # After every stream a notification feeds: it records the ids as processed.
    NotificationsStream,
]
# Streams that need the accounts' marketplace participations.
PARTICIPATION_USERS = ("marketplace_participations", "inbound_shipments")


class TapSpapi(Tap):
    """Singer tap for Amazon Selling Partner API shipping and fulfillment data."""

    name = "tap-spapi"
    # A copy: the SDK appends its built-in settings (stream maps, …) to this dict.
    config_jsonschema = copy.deepcopy(CONFIG_SCHEMA)
    # msgspec serialises records about 1.5x faster than the default writer.
    message_writer_class = BatchFlushingWriter

    #: The settings `check_config` built and checked (None until then, or unchecked).
    _checked_settings: Settings | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Before the config is read: the secrets it registers are scrubbed from every log
        # line, whether the tap runs from `main`, singer-sdk's `TapSpapi.cli` or code.
        install_log_redaction()
        entry_point.register(self)  # first: a tap that fails to start is finished too
        super().__init__(*args, **kwargs)
        if not self.settings.log_metrics:  # singer-sdk set it to the log level just now
            self.metrics_logger.setLevel(logging.WARNING)
        # singer-sdk's StateWriter formats, compares and copies the whole state on every
        # bookmark; ours hands it to the writer by reference (state.py). `sync_all` and
        # the SIGTERM handler use `_state_writer` itself, the streams `state_writer`.
        if isinstance(self.message_writer, BatchFlushingWriter):
            self._state_writer = PacedStateWriter(self.message_writer)
        # The catalog is applied and the state loaded: which streams are read for others.
        self._read_for_others()

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Our checks first: they name the setting and never echo a secret."""
        for name in SECRET_SETTINGS:
            register_secret(self._config.get(name))
        for secret in account_secrets(self._config):
            register_secret(secret)
        if raise_errors:
            known = copy.deepcopy(self.config_jsonschema)
            self.append_builtin_config(known)
            self._checked_settings = check_config(self._config, set(known["properties"]))
        return super()._validate_config(raise_errors=raise_errors)

    @classmethod
    @override
    def get_plugin_version(cls) -> str:
        """`--version` and `--about`: the version of version.py (the package metadata)."""
        return __version__

    @cached_property
    def settings(self) -> Settings:
        """The config, typed, with the schema's defaults: the settings the checks built,
        with what they parsed (overrides, id files), else (unchecked) parsed here."""
        return self._checked_settings or Settings.from_config(self.config)

    def finish_entry_point(self) -> Run | None:
        """The command line's end of this tap, whether it succeeded or not: the records
        and STATE its writer holds written out, its warnings about many items and its
        closing lines said (after a sync), its run's threads stopped. Its run, if it
        started one (None: it failed before, or only described itself)."""
        self.finish_output()
        run: Run | None = self.__dict__.get("run")
        if run is None:
            return None
        for line in run.gathered():  # warnings about many items, one line each
            run.logger.warning(line)
        writer = getattr(self, "message_writer", None)
        if isinstance(writer, BatchFlushingWriter) and writer.streams:  # a sync's
            for line in closing_lines(writer.streams, run.operations_used()):
                run.logger.info(line)
        run.close()
        return run

    def finish_output(self) -> None:
        """Write out the records and the newest STATE the writer still holds (the end
        of a run; the command line does it for its writers in `main`)."""
        writer = getattr(self, "message_writer", None)  # none if the tap failed to start
        if isinstance(writer, BatchFlushingWriter):
            writer.finish()

    @cached_property
    def run(self) -> Run:
        """This run: accounts, pools, clock, failures, marketplaces (see run.py)."""
        return Run(
            self.settings,
            user_agent=self.spapi_user_agent,
            fetch_participations=lambda name: fetch_participations(self.run.client(name)),
            start_reading=self._start_reading_ahead,
            logger=self.logger,
            open_inbox=self._open_inbox,
        )

    def _open_inbox(self) -> Inbox | None:
        stream = self.streams.get(NOTIFICATIONS_STREAM)
        return stream.open_inbox() if isinstance(stream, NotificationsStream) else None

    @cached_property
    def spapi_user_agent(self) -> str:
        """`AppId/Version (Language=…; Platform=…)` (setting `user_agent`)."""
        return full_user_agent(self.settings.user_agent)

    @classmethod
    @override
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
    @override
    def cb_config(cls, ctx: Any, param: Any, value: tuple[str, ...]) -> Any:
        """singer-sdk's `--config` parsing, after checking each file is there and is JSON
        (the SDK shows a traceback for a missing file or bad JSON)."""
        for path in value:
            if path != "ENV":
                checked_config_file(path)
        return super().cb_config(ctx, param, value)

    @override
    def load_state(self, state: dict[str, Any]) -> None:
        """singer-sdk's state loading, for a state in any form we understand (see
        state_files.py), refusing what it would trip over or bookmarks from the future
        (they skip data), migrating 0.1.0's (state.py), and warning of state the
        configured accounts do not own."""
        state = unwrapped_state(state)
        now = run_module.utc_now()
        check_state(state, now)
        # 0.1.0's state (a partition per identifier and label) is read as today's.
        migrated(state, (TRACKING_LAYOUT, LABELS_LAYOUT), now, self.logger.warning)
        lookback = datetime.timedelta(minutes=self.settings.lookback_window)
        forget_final_shipments(state, grace_start(now, lookback))
        configured = set(account_names(self.settings))
        for name, streams in sorted(unknown_accounts(state, configured).items()):
            self.logger.warning(
                "State of stream(s) %s belongs to account '%s', which is not configured; "
                "it is kept but not used (renamed account?).",
                ", ".join(sorted(streams)),
                name,
            )
        super().load_state(state)

    def _read_for_others(self) -> None:
        """Decide which unselected streams this run reads for the selected ones.

        singer-sdk reads a selected child's unselected parents without emitting them, but
        keeps no bookmark for them: every run would read their whole history again. They,
        and the streams a selected stream `needs` (shipment_tracking: the shipments that
        carry its identifiers), are read with their bookmarks kept and marked; a stream
        selected later whose bookmarks are so marked starts afresh, so that what was
        never emitted is read and emitted once. The accounts it succeeded for stay
        known (a 403 from them is no missing role: containment.py).
        """
        read_for_others = self._streams_read_for_others()
        bookmarks = self.state.setdefault("bookmarks", {})
        for name, stream in self.streams.items():
            stream_state = bookmarks.get(name)
            if isinstance(stream, SPAPIStream):
                stream.read_for_others = name in read_for_others
            if name in read_for_others:
                bookmarks.setdefault(name, {})[READ_WITHOUT_OUTPUT] = True
            elif (
                stream.selected
                and isinstance(stream_state, dict)
                and stream_state.get(READ_WITHOUT_OUTPUT)
            ):
                self.logger.info(
                    "Stream '%s' was read before for other streams only, never emitted: "
                    "it is read from the start this time.",
                    name,
                )
                succeeded = succeeded_accounts(stream_state)
                stream_state.clear()
                if succeeded:
                    stream_state[SUCCEEDED_FOR] = sorted(succeeded)

    def _streams_read_for_others(self) -> frozenset[str]:
        by_type = {type(stream): stream for stream in self.streams.values()}
        wanted: list[Stream] = [
            stream
            for stream in self.streams.values()
            if isinstance(stream, SPAPIStream) and stream.catalog_selected
        ]
        read: set[str] = set()
        while wanted:
            stream = wanted.pop()
            needed = [
                self.streams[name] for name in getattr(stream, "needs", ()) if name in self.streams
            ]
            parent = by_type.get(stream.parent_stream_type)  # type: ignore[arg-type]
            for other in [*needed, *([parent] if parent is not None else [])]:
                unselected = isinstance(other, SPAPIStream) and not other.catalog_selected
                if unselected and other.name not in read:
                    read.add(other.name)
                    wanted.append(other)
        return frozenset(read)

    def _start_reading_ahead(self) -> None:
        """Announce the contexts of every selected read-ahead stream (the run calls this
        once, when the first stream syncs), after the participations they may need."""
        wanted = [self.streams[name] for name in PARTICIPATION_USERS if name in self.streams]
        if any(stream.selected or stream.has_selected_descendents for stream in wanted):
            self.run.marketplaces.fetch_all_participations()
        for stream in self.streams.values():
            if isinstance(stream, SPAPIStream) and stream.read_ahead and stream.selected:
                stream.ahead.start_reading()
        for stream in self.streams.values():
            if isinstance(stream, SPAPIStream) and stream.fetches_early and stream.selected:
                stream.ahead.fetch_known_early()

    @property
    @override
    def streams(self) -> dict[str, Stream]:
        """The SDK's streams with their parent links, in STREAM_TYPES order.

        singer-sdk sorts streams by name (its `load_streams` is final), which would sync
        the latency-bound inbound streams before the plan-bound outbound chain they are
        meant to overlap with; `sync_all` follows this mapping's order.
        """
        streams = super().streams
        order = {stream_type: index for index, stream_type in enumerate(self.stream_types)}
        if list(streams) != sorted(streams, key=lambda name: order[type(streams[name])]):
            ranked = sorted(streams.values(), key=lambda stream: order[type(stream)])
            self._streams = {stream.name: stream for stream in ranked}
        return self._streams  # type: ignore[return-value]

    @cached_property
    def stream_types(self) -> list[type[Stream]]:
        """STREAM_TYPES, the MCF ones of the `mcf_api_version` the settings name; the
        `notifications` stream only with a queue to read (without one it could only ever
        be an empty table in every warehouse)."""
        types = STREAM_TYPES
        if not self.settings.notifications_queue_url:
            types = [stream_type for stream_type in types if stream_type is not NotificationsStream]
        if self.settings.mcf_api_version != MCF_2026:
            return types
        return [MCF_2026_TYPES.get(stream_type, stream_type) for stream_type in types]

    @override
    def discover_streams(self) -> list[Stream]:
        """One instance of every stream type (singer-sdk's per-context lines said once)."""
        streams = [stream_type(tap=self) for stream_type in self.stream_types]
        sdk = logging.getLogger("singer_sdk")  # where its helpers/_state.py logs
        for logger in (sdk, self.logger, *(stream.logger for stream in streams)):
            sdk_lines_once(logger)
        return streams


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: singer-sdk's CLI, with our errors as one redacted line."""
    install_log_redaction()
    sdk_lines_once(logging.getLogger(TapSpapi.name))  # before it parses the config
    with entry_point.made_while_running() as taps:
        try:
            TapSpapi.cli(args=argv)
        except TapSpapiError as exc:
            print(f"tap-spapi: error: {redact(str(exc))}", file=sys.stderr)
            sys.exit(1)
        except SystemExit as done:
            if done.code not in (0, None):
                raise
        finally:
            runs = [run for tap in taps if (run := tap.finish_entry_point()) is not None]
    # The other accounts finished and their state was written; the run still failed.
    for run in runs:
        for line in run.final_lines():
            print(f"tap-spapi: error: {line}", file=sys.stderr)
    sys.exit(max((run.exit_status for run in runs), default=0))
