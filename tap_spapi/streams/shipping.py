"""Amazon Shipping v2 streams: label tracking and carrier accounts."""

from __future__ import annotations

from math import inf
from typing import TYPE_CHECKING, Any, ClassVar

from typing_extensions import override

from tap_spapi.config.accounts_setting import account_names
from tap_spapi.keys import ACCOUNT_KEY
from tap_spapi.runtime.state import FINAL_STATUS, PerIdentifierLayout
from tap_spapi.streams.base.stream import SPAPIStream
from tap_spapi.streams.base.windows import instant

if TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context

# `summary.status` values after which a tracking never changes again, from the model's
# Status enum. Undeliverable is left out on purpose: the model's event codes continue
# with ReturnInitiated after it (the parcel goes back to the sender, tracked under
# `alternateLegTrackingId`), so it is still worth polling.
FINAL_STATUSES = frozenset({"Delivered", "Lost", "Rejected", "PickupCancelled"})
SHIPPING_BUSINESS_HEADER = "x-amzn-shipping-business-id"
# 0.1.0 kept a state partition per label (state.migrated reads it).
LABELS_LAYOUT = PerIdentifierLayout(
    stream="shipping_tracking",
    kind_key="carrierId",
    value_key="trackingId",
    final_key=FINAL_STATUS,
    finals=FINAL_STATUSES,
    noun="label",
)


class ShippingStream(SPAPIStream):
    """Shipping v2 calls carry the shipping business header when one is configured."""

    @property
    @override
    def http_headers(self) -> dict[str, Any]:
        """Base headers plus `x-amzn-shipping-business-id` (setting `shipping_business_id`)."""
        headers = super().http_headers
        if self.run.settings.shipping_business_id:
            headers[SHIPPING_BUSINESS_HEADER] = self.run.settings.shipping_business_id
        return headers


class ShippingTrackingStream(ShippingStream):
    """Tracking of Amazon Shipping labels (getTracking), one state partition per account.

    Amazon Shipping cannot list shipments, so labels come from the settings
    `tracking_ids` and `tracking_ids_file`. `latestEventTime` (the newest
    `eventHistory[].eventTime`) is added as the replication key: a label is emitted again
    only when it has a newer event, and a label whose status is final is not requested
    again at all. The state holds the listed labels only (state.IdentifierBook, by
    carrier and tracking id): a label no longer listed leaves it.
    """

    name = "shipping_tracking"
    prefetch = True
    fetches_early = True
    operation_id = "getTracking"
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "trackingId"]
    replication_key = "latestEventTime"
    after_a_kill = "each label's newest event is noted as it is emitted (IdentifierBook)"
    # latestEventTime is computed from the events; trackingId is the label's own when
    # Amazon sends a payload of nulls (post_process).
    derived_keys = ("latestEventTime", "trackingId")
    records_jsonpath = "$.payload"
    state_partitioning_keys: ClassVar[list[str]] = [ACCOUNT_KEY]

    @property
    @override
    def partitions(self) -> list[dict[str, Any]]:
        """One partition per configured label not final, under the account it belongs to.

        A label that names no account belongs to the first configured account; a label
        of an account outside this run's shard is left to that shard.
        """
        settings = self.run.settings
        first = account_names(settings)[0]
        listed: dict[str, set[tuple[str, str]]] = {name: set() for name in self.run.accounts}
        contexts = []
        for label in settings.labels:
            account = label.account or first
            if account in listed:
                listed[account].add((label.carrier_id, label.tracking_id))
                contexts.append({ACCOUNT_KEY: account, **label.as_context()})
        for account, labels in listed.items():
            self.bookmarks.book(account).forget(final_before=inf, open_before=inf, listed=labels)
        return [context for context in contexts if self.wants(context)]

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """The label's tracking and carrier ids."""
        assert context is not None
        return {"trackingId": context["trackingId"], "carrierId": context["carrierId"]}

    @override
    def wants(self, context: Context | None) -> bool:
        """Labels whose status was final in an earlier run are not requested again."""
        if not context:
            return True
        return not self.bookmarks.book(context[ACCOUNT_KEY]).is_final(
            context["carrierId"], context["trackingId"]
        )

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Records of the label; its newest event (final or not) kept once emitted."""
        if context is None:
            # No partitions: the SDK syncs once without a context when no label is set.
            self.logger.info("No tracking_ids or tracking_ids_file configured; nothing to track")
            return
        book = self.bookmarks.book(context[ACCOUNT_KEY])
        for record in super().get_records(context):
            status = (record.get("summary") or {}).get("status")
            yield record
            # After the yield the SDK has written the record, so the state cannot
            # hide a record that never reached the output.
            self.bookmarks.keep(book, context["carrierId"], context["trackingId"], record,
                       final=status in FINAL_STATUSES)  # fmt: skip

    @override
    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        """Add the carrier and the newest event time; drop labels with nothing new.

        Live Amazon sometimes answers a label with every field null but the echoed
        `trackingId` (selling-partner-api-models #4923): nothing to load and no event
        time to bookmark, and a record of nulls would overwrite what a merge target
        already holds. A payload without status, events or dates, whatever ids it
        echoes, is dropped with a warning naming the label, which is asked again next
        run.
        """
        status = (row.get("summary") or {}).get("status")
        if not status and not row.get("eventHistory") and not row.get("promisedDeliveryDate"):
            label = f"{(context or {}).get('trackingId')}/{(context or {}).get('carrierId')}"
            self.logger.debug("getTracking returned an empty payload for %s", label)
            self.run.gather(
                "getTracking returned an empty payload (no status, events or dates) for {} "
                "labels; nothing loaded for them, they are asked again next run "
                "(selling-partner-api-models #4923). Tracking id/carrier",
                label,
            )
            return None
        assert context is not None
        row["trackingId"] = row.get("trackingId") or context["trackingId"]
        row["carrierId"] = context["carrierId"]
        times = [event.get("eventTime") for event in row.get("eventHistory") or []]
        row[self.replication_key] = max((t for t in times if t), default=None)
        latest = row[self.replication_key]
        known = self.bookmarks.book(context[ACCOUNT_KEY]).latest(
            context["carrierId"], context["trackingId"]
        )
        if known and latest and instant(latest).timestamp() < known + 1:
            return None  # nothing after the newest event loaded (to the second)
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
