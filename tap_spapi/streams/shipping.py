"""Amazon Shipping v2 streams: label tracking and carrier accounts."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from typing_extensions import override

from tap_spapi.accounts import configured_accounts
from tap_spapi.client import SPAPIStream
from tap_spapi.keys import ACCOUNT_KEY
from tap_spapi.state import FINAL_STATUS
from tap_spapi.tracking_ids import configured_labels
from tap_spapi.windows import instant

if TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context

# `summary.status` values after which a tracking never changes again, from the model's
# Status enum. Undeliverable is left out on purpose: the model's event codes continue
# with ReturnInitiated after it (the parcel goes back to the sender, tracked under
# `alternateLegTrackingId`), so it is still worth polling.
FINAL_STATUSES = frozenset({"Delivered", "Lost", "Rejected", "PickupCancelled"})
SHIPPING_BUSINESS_HEADER = "x-amzn-shipping-business-id"


class ShippingStream(SPAPIStream):
    """Shipping v2 calls carry the shipping business header when one is configured."""

    @property
    @override
    def http_headers(self) -> dict[str, Any]:
        """Base headers plus `x-amzn-shipping-business-id` (setting `shipping_business_id`)."""
        headers = super().http_headers
        if self.run.settings.shipping_business_id:
            headers[SHIPPING_BUSINESS_HEADER] = self.config["shipping_business_id"]
        return headers


class ShippingTrackingStream(ShippingStream):
    """Tracking of Amazon Shipping labels (getTracking), one state partition per label.

    Amazon Shipping cannot list shipments, so labels come from the settings
    `tracking_ids` and `tracking_ids_file`. `latestEventTime` (the newest
    `eventHistory[].eventTime`) is added as the replication key: a label is emitted again
    only when it has a newer event, and a label whose status is final is not requested
    again at all.
    """

    name = "shipping_tracking"
    prefetch = True
    operation_id = "getTracking"
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "trackingId"]
    replication_key = "latestEventTime"
    # latestEventTime is computed from the events; trackingId is the label's own when
    # Amazon sends a payload of nulls (post_process).
    derived_keys = ("latestEventTime", "trackingId")
    records_jsonpath = "$.payload"

    @property
    @override
    def partitions(self) -> list[dict[str, Any]]:
        """One partition per configured label, under the account it belongs to.

        A label that names no account belongs to the first configured account; a label
        of an account outside this run's shard is left to that shard.
        """
        first = configured_accounts(self.config)[0].name
        return [
            {ACCOUNT_KEY: label.account or first, **label.as_context()}
            for label in configured_labels(self.config)
            if (label.account or first) in self.run.accounts
        ]

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """The label's tracking and carrier ids."""
        assert context is not None
        return {"trackingId": context["trackingId"], "carrierId": context["carrierId"]}

    @override
    def wants(self, context: Context | None) -> bool:
        """Labels whose status was final in an earlier run are not requested again.

        Any other value in the state (edited by hand, or from a later version) is no
        reason to stop tracking a label: it is requested, with a warning.
        """
        status = self.get_context_state(context).get(FINAL_STATUS)
        if status is not None and status not in FINAL_STATUSES:
            label = (context or {}).get("trackingId")
            if label in self._warned_labels:
                return True
            self._warned_labels.add(label)
            self.logger.warning(
                "State of label %s has %s %r, which is not a final status (%s); tracking it.",
                label,
                FINAL_STATUS,
                status,
                ", ".join(sorted(FINAL_STATUSES)),
            )
            return True
        return not status

    @cached_property
    def _warned_labels(self) -> set[Any]:
        return set()

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Records of the label; mark the label final once its record is emitted."""
        if context is None:
            # No partitions: the SDK syncs once without a context when no label is set.
            self.logger.info("No tracking_ids or tracking_ids_file configured; nothing to track")
            return
        for record in super().get_records(context):
            status = (record.get("summary") or {}).get("status")
            yield record
            # After the yield the SDK has written the record, so the flag cannot
            # hide a record that never reached the output.
            if status in FINAL_STATUSES:
                self.save_bookmark(context, **{FINAL_STATUS: status})

    @override
    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        """Add the carrier and the newest event time; drop labels with nothing new.

        Live Amazon sometimes answers a label with every field null and no events
        (selling-partner-api-models #4923): nothing to load and no event time to
        bookmark, and a record of nulls would overwrite what a merge target already
        holds. Such a payload is dropped with a warning naming the label, which is
        asked again next run.
        """
        if not row.get("trackingId") and not row.get("eventHistory"):
            self.logger.warning(
                "getTracking returned an empty payload (every field null) for tracking id "
                "%s of carrier %s; nothing loaded for it, it is asked again next run.",
                (context or {}).get("trackingId"),
                (context or {}).get("carrierId"),
            )
            return None
        row["trackingId"] = row.get("trackingId") or (context or {}).get("trackingId")
        row["carrierId"] = (context or {}).get("carrierId")
        times = [event.get("eventTime") for event in row.get("eventHistory") or []]
        row[self.replication_key] = max((t for t in times if t), default=None)
        bookmark = self.get_context_state(context).get("replication_key_value")
        latest = row[self.replication_key]
        if bookmark and latest and instant(latest) <= instant(bookmark):
            return None
        return row


class ShippingCarrierAccountsStream(ShippingStream):
    """Carrier accounts linked to the Amazon Shipping account (getCarrierAccounts), full table.

    Both fields of an account are its key; `shipping_business_id` is added as a
    non-key column (target-duckdb 0.8 crashes on a table whose every column is a key).
    """

    name = "shipping_carrier_accounts"
    operation_id = "getCarrierAccounts"
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "carrierId", "accountId"]
    records_jsonpath = "$.activeAccounts[*]"
    partitioned_by_account = True

    @override
    def prepare_request_payload(
        self, context: Context | None, next_page_token: Any
    ) -> dict[str, Any]:
        """The body is required but may be empty (a read despite PUT)."""
        return {}

    @override
    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        """Which shipping business these accounts belong to."""
        row["shipping_business_id"] = self.run.settings.shipping_business_id
        return row
