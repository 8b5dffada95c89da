"""tap-spapi: settings and streams; the work happens in the modules they name."""

from __future__ import annotations

import copy
import datetime
import sys
from functools import cached_property
from typing import Any

from singer_sdk import Stream, Tap

from tap_spapi.account import Account, AccountSettings, close_all_accounts
from tap_spapi.errors import TapSpapiError
from tap_spapi.output import BatchFlushingWriter, flush_all_writers
from tap_spapi.redact import install_log_redaction, redact, register_secret
from tap_spapi.regions import MARKETPLACE_REGIONS
from tap_spapi.settings import CONFIG_SCHEMA, SECRET_SETTINGS, check_config, parse_start_date
from tap_spapi.streams.inbound import InboundShipmentItemsStream, InboundShipmentsStream
from tap_spapi.streams.outbound import (
    OutboundOrdersStream,
    OutboundPackageTrackingStream,
    OutboundShipmentsStream,
)
from tap_spapi.streams.sellers import MarketplaceParticipationsStream
from tap_spapi.streams.shipping import ShippingCarrierAccountsStream, ShippingTrackingStream

# Streams sync in this order (see `load_streams`), parents before children. The outbound
# chain, bound by its usage plans, goes first so that later streams bound by page
# latency (inbound) are read ahead while it runs, instead of after it.
STREAM_TYPES: list[type[Stream]] = [
    MarketplaceParticipationsStream,
    OutboundOrdersStream,
    OutboundShipmentsStream,
    OutboundPackageTrackingStream,
    InboundShipmentsStream,
    InboundShipmentItemsStream,
    ShippingTrackingStream,
    ShippingCarrierAccountsStream,
]
DEFAULT_HISTORY_DAYS = 30


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
        if raise_errors:
            known = copy.deepcopy(self.config_jsonschema)
            self.append_builtin_config(known)
            check_config(self._config, set(known["properties"]))
        return super()._validate_config(raise_errors=raise_errors)

    @cached_property
    def account(self) -> Account:
        """The selling-partner account of this run, built once and shared by all streams."""
        return Account(AccountSettings.from_config(self.config))

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

    @cached_property
    def marketplace_ids(self) -> list[str]:
        """Setting `marketplace_ids`, else the account's marketplaces within its region."""
        configured = self.config.get("marketplace_ids")
        if configured:
            return list(configured)
        region = self.config.get("region") or "na"
        found: list[str] = []
        for record in self.participations:
            marketplace_id = str((record.get("marketplace") or {}).get("id"))
            participating = (record.get("participation") or {}).get("isParticipating", True)
            if participating and MARKETPLACE_REGIONS.get(marketplace_id, region) == region:
                found.append(marketplace_id)
        self.logger.info("Marketplaces of the account in region %s: %s", region, found)
        return found

    @cached_property
    def participations(self) -> list[dict[str, Any]]:
        """The account's marketplace participations, fetched once per run."""
        return MarketplaceParticipationsStream(tap=self).fetch()

    def start_reading_ahead(self) -> None:
        """Once per run: announce the contexts of every selected read-ahead stream."""
        if self._reading_ahead:
            return
        self._reading_ahead = True
        for stream in self.streams.values():
            if getattr(stream, "read_ahead", False) and stream.selected:
                stream.start_reading()  # type: ignore[attr-defined]

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
        return TapSpapi.cli(args=argv)
    except TapSpapiError as exc:
        print(f"tap-spapi: error: {redact(str(exc))}", file=sys.stderr)
        sys.exit(1)
    finally:
        flush_all_writers()  # records emitted before a failure still reach the target
        close_all_accounts()


install_log_redaction()
