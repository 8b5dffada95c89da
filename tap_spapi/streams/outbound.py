"""FBA outbound (Multi-Channel Fulfillment) 2020-07-01 streams: orders, shipments, tracking."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from typing_extensions import override

from tap_spapi.client import SPAPIStream
from tap_spapi.keys import ACCOUNT_KEY
from tap_spapi.streams.tracking import NotesTrackingIdentifiers, seen_identifier
from tap_spapi.windows import instant, isoformat

if TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context

# Buyer PII in MCF records (dropped unless `include_pii`): the order's destination
# address and notification e-mails; the tracking's ship-to address and the name of whoever
# signed for the package.
ORDER_PII = ("destinationAddress", "notificationEmails")
TRACKING_PII = ("shipToAddress", "signedForBy")


class OutboundOrdersStream(SPAPIStream):
    """MCF fulfillment orders changed since the bookmark (listAllFulfillmentOrders).

    `queryStartDate` selects orders whose status changed at or after it, which is what
    `statusUpdatedDate` records, so that field is the replication key. Amazon does not
    promise an order, so the stream is not sorted: singer-sdk keeps the new bookmark
    as a progress marker until the stream completes, and a killed run re-reads from the
    previous bookmark (duplicates, never gaps).
    """

    name = "outbound_orders"
    operation_id = "listAllFulfillmentOrders"
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "sellerFulfillmentOrderId"]
    replication_key = "statusUpdatedDate"
    pii_fields = ORDER_PII
    partitioned_by_account = True
    is_sorted = False
    records_jsonpath = "$.payload.fulfillmentOrders[*]"
    next_token_path = "payload.nextToken"

    # Later accounts' orders (and, through them, their shipments and packages) are read
    # while the first account's sync: each account is paced by its own usage plans.
    read_ahead = True

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """`queryStartDate` = bookmark - lookback; later pages carry only the token."""
        if next_page_token:
            return {"nextToken": next_page_token}
        bookmark = self.get_context_state(context).get("replication_key_value")
        start = instant(bookmark) - self.lookback if bookmark else self.run.default_start
        return {"queryStartDate": isoformat(start)}

    @override
    def get_child_context(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:
        """Shipments are read per changed order."""
        return {
            ACCOUNT_KEY: record[ACCOUNT_KEY],
            "sellerFulfillmentOrderId": record["sellerFulfillmentOrderId"],
        }


class OutboundShipmentsStream(NotesTrackingIdentifiers):
    """Shipments of each changed order (getFulfillmentOrder → fulfillmentShipments).

    Each package's `amazonFulfillmentTrackingNumber` is noted for shipment_tracking.
    """

    name = "outbound_shipments"
    prefetch = True
    operation_id = "getFulfillmentOrder"
    parent_stream_type = OutboundOrdersStream
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "amazonShipmentId"]
    records_jsonpath = "$.payload.fulfillmentShipments[*]"
    state_partitioning_keys: ClassVar[list[str]] = []
    context_keys_on_records = ("sellerFulfillmentOrderId",)  # each shipment names its order

    path_params: ClassVar[dict[str, str]] = {"sellerFulfillmentOrderId": "sellerFulfillmentOrderId"}

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The order's shipments, noting their packages' tracking numbers as emitted."""
        for record in super().get_records(context):
            for package in record.get("fulfillmentShipmentPackage") or []:
                aftn = package.get("amazonFulfillmentTrackingNumber")
                self.note_identifier(record[ACCOUNT_KEY], seen_identifier("aftn", aftn))
            yield record

    @override
    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[dict[str, Any] | None]:
        """One tracking request per package of the shipment."""
        for package in record.get("fulfillmentShipmentPackage") or []:
            yield {
                ACCOUNT_KEY: record[ACCOUNT_KEY],
                "packageNumber": package["packageNumber"],
                "amazonShipmentId": record["amazonShipmentId"],
                "sellerFulfillmentOrderId": record["sellerFulfillmentOrderId"],
            }


class OutboundPackageTrackingStream(SPAPIStream):
    """Tracking of each package of those shipments (getPackageTrackingDetails)."""

    name = "outbound_package_tracking"
    prefetch = True
    operation_id = "getPackageTrackingDetails"
    parent_stream_type = OutboundShipmentsStream
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "packageNumber"]
    pii_fields = TRACKING_PII
    context_keys_on_records = ("amazonShipmentId", "sellerFulfillmentOrderId")
    records_jsonpath = "$.payload"
    state_partitioning_keys: ClassVar[list[str]] = []

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """The package number from the parent shipment."""
        assert context is not None
        return {"packageNumber": context["packageNumber"]}
