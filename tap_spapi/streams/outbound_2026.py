"""MCF through FBA Outbound 2026-07-04 (`mcf_api_version: 2026-07-04`).

listOrders pages hold each changed order with its `lineItems` and (`shipments=INCLUDE`)
its `shipments`, packages and tracking numbers included: `outbound_orders`,
`outbound_order_items` and `outbound_shipments` come from those pages, and no order
costs a request of its own (2020-07-01 asks getFulfillmentOrder once per changed order),
but those FULFILLMENT_ORDER_STATUS notified this run: one getOrder each, read first.
The streams keep 2020-07-01's names and keys: 2026-07-04's `orderId` is the seller's
fulfillment order id (2020-07-01's `sellerFulfillmentOrderId`, copied under that name),
a line item's `lineItemId` is 2020-07-01's `sellerFulfillmentOrderItemId`. The columns
are the 2026-07-04 model's.

The 2026-07-04 model has no returns, no return authorizations, and no integer
`packageNumber` for getPackageTrackingDetails: those three streams are skipped with a
warning when selected (`NotIn2026Stream`).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from typing_extensions import override

from tap_spapi.config.settings import MCF_2026
from tap_spapi.keys import ACCOUNT_KEY
from tap_spapi.streams import outbound as v2020
from tap_spapi.streams.base.embedded import EmbeddedListStream
from tap_spapi.streams.base.notified import notified_bodies
from tap_spapi.streams.base.stream import SCHEMAS, SchemaWithoutUnwantedPII, SPAPIStream
from tap_spapi.streams.base.windows import isoformat
from tap_spapi.streams.tracking import NotesTrackingIdentifiers, seen_identifier

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk import Stream
    from singer_sdk.helpers.types import Context

ORDER_ID = "sellerFulfillmentOrderId"
# Buyer PII of a 2026-07-04 order: `destination` holds the delivery address (name,
# phone, e-mail), the buyer's delivery notes and drop-off location (a neighbour's name
# and house number). A package's proof of delivery names who received it (and links a
# photo of the door); its drop-off location is the buyer's again.
ORDER_PII = ("destination",)
SHIPMENT_PII = ("packages.tracking.proofOfDelivery", "packages.tracking.dropOffLocation")
# One order by its id (the notified ones).
GET_ORDER = "fulfillmentOutbound_2026-07-04.getOrder"


def schema_2026(stream: str) -> SchemaWithoutUnwantedPII:
    """The stream's 2026-07-04 schema (`<stream>_2026.json`, generated from the model)."""
    return SchemaWithoutUnwantedPII(SCHEMAS, key=f"{stream}_2026")


class McfOrdersStream(SPAPIStream):
    """MCF orders changed since the bookmark, with their items and shipments (listOrders).

    `updatedAfter` = bookmark - `lookback_window` (else the run's default start); later
    pages repeat it with `pageToken`, as the model asks. The bookmark is the order's
    `statusUpdateTime` ("the date and time that the status of the fulfillment order
    last changed"); Amazon promises no order, so the SDK commits it when the stream
    completes (a killed run reads from the previous one: duplicates, never gaps).
    """

    name = "outbound_orders"
    operation_id = "listOrders"
    schema = schema_2026("outbound_orders")
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, ORDER_ID]
    query_keys = (ACCOUNT_KEY, "orderId")  # ORDER_ID is copied from it in post_process
    replication_key = "statusUpdateTime"
    is_sorted = False
    after_a_kill = "the next run reads again from the last bookmark: duplicates, never gaps"
    pii_fields = ORDER_PII
    partitioned_by_account = True
    records_jsonpath = "$.orders[*]"
    next_token_path = "pagination.nextToken"

    @cached_property
    @override
    def required_fields(self) -> list[str]:
        """`orderId` is what the key is copied from; an order whose status never
        changed may lack `statusUpdateTime` (optional in the model): `receiveTime` then."""
        return ["orderId", "receiveTime"]

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """The query, repeated with the token on later pages; shipments only when read."""
        start = self.bookmarks.start_after(
            self.get_context_state(context).get("replication_key_value")
        )
        params = {"updatedAfter": isoformat(start), "shipments": self._shipments()}
        if next_page_token:
            params["pageToken"] = next_page_token
        return params

    def _shipments(self) -> str:
        """listOrders' and getOrder's `shipments`: included only when the stream is read."""
        shipments = any(
            isinstance(child, McfShipmentsStream) and child.selected for child in self.child_streams
        )
        return "INCLUDE" if shipments else "EXCLUDE"

    @override
    def request_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """First the orders FULFILLMENT_ORDER_STATUS notified this run, then the listing's
        without those (each order once a run, its items and shipments too).

        Every record passes `post_process`, so a notified order's lists go to the child
        streams as a page's do; the listing's copy is dropped before it, so its lists are
        never held. The listing's copy is no newer than the notified answer it follows:
        a newer status comes with a notification of its own.
        """
        emitted: set[str] = set()  # the notified orders': the run's memory is theirs
        if context is not None:
            yield from self._notified_orders(context, emitted)
        for record in super().request_records(context):
            if record["orderId"] in emitted:
                continue  # out already, from its notification this run
            yield record

    def _notified_orders(self, context: Context, emitted: set[str]) -> Iterator[dict[str, Any]]:
        """The notified orders, one getOrder each, whether or not the listing shows them
        yet (Amazon's listing lags its notifications). An order Amazon refuses is left to
        the listing, the backstop."""
        account = self.account_for(context)
        ids = self._notified_ids(account.name)
        params = {"shipments": self._shipments()}
        for _, body in notified_bodies(
            self, context, ids, GET_ORDER, "orderId", params=params, backstop="listOrders"
        ):
            order = (body or {}).get("order")
            # records.in_body reads listOrders' shape: the one order as its page of one.
            for record in self.records.in_body({"orders": [order] if order else []}, account):
                emitted.add(record["orderId"])
                yield record

    def _notified_ids(self, account: str) -> list[str]:
        """The orders the account's FULFILLMENT_ORDER_STATUS notifications name, each once
        in the order notified (the seller's fulfillment order id: 2026-07-04's `orderId`).
        Read when the account's orders are, in its sync: no read-ahead thread asks."""
        inbox = self.run.inbox
        return [] if inbox is None else inbox.mcf_orders(account)

    @override
    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        """2020-07-01's key names; the items and shipments go to their streams; buyer PII
        dropped unless `include_pii`."""
        row[ORDER_ID] = row["orderId"]
        if row.get(self.replication_key) is None:
            row[self.replication_key] = row["receiveTime"]
        for child in self.child_streams:
            if isinstance(child, EmbeddedListStream):
                child.keep(row)
        for child_type in (McfOrderItemsStream, McfShipmentsStream):
            row.pop(child_type.embedded_field, None)
        return super().post_process(row, context)

    @override
    def get_child_context(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:
        """Items and shipments belong to one order."""
        return {ACCOUNT_KEY: record[ACCOUNT_KEY], ORDER_ID: record[ORDER_ID]}


# The lists of each listOrders order, emitted as streams of their own: the parent's
# pages (no request here), each row keyed by its order's id.
class McfShipmentsStream(EmbeddedListStream, NotesTrackingIdentifiers):
    """Shipments of each changed order (`shipments`, with packages and tracking numbers).

    Each package's Amazon tracking number (2020-07-01's `amazonFulfillmentTrackingNumber`)
    is noted for shipment_tracking, as the 2020-07-01 stream does.
    """

    name = "outbound_shipments"
    operation_id = "listOrders"
    parent_stream_type = McfOrdersStream
    parent_key = ORDER_ID
    derived_keys = (ORDER_ID,)
    schema = schema_2026("outbound_shipments")
    primary_keys: ClassVar[list[str]] = v2020.OutboundShipmentsStream.primary_keys
    pii_fields = SHIPMENT_PII
    embedded_field = "shipments"

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """The order's shipments, noting their packages' Amazon tracking numbers."""
        for record in super().get_records(context):
            for package in record.get("packages") or []:
                amazon = (package.get("tracking") or {}).get("amazon") or {}
                aftn = seen_identifier("aftn", amazon.get("trackingNumber"))
                self.note_identifier(record[ACCOUNT_KEY], aftn)
            yield record


class McfOrderItemsStream(EmbeddedListStream):
    """Items of each changed order (`lineItems`)."""

    name = "outbound_order_items"
    operation_id = "listOrders"
    parent_stream_type = McfOrdersStream
    parent_key = ORDER_ID
    derived_keys = (ORDER_ID,)
    schema = schema_2026("outbound_order_items")
    primary_keys: ClassVar[list[str]] = v2020.OutboundOrderItemsStream.primary_keys
    embedded_field = "lineItems"

    @override
    def row_keys(self, row: dict[str, Any]) -> dict[str, Any]:
        """2020-07-01's item key: the seller's item id, 2026-07-04's `lineItemId`."""
        return {"sellerFulfillmentOrderItemId": row.get("lineItemId")}


class NotIn2026Stream(SPAPIStream):
    """A 2020-07-01 stream 2026-07-04 has no data for: selected, it says so once."""

    #: What 2026-07-04 lacks, for the warning.
    missing: ClassVar[str]

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Nothing: one warning naming the stream, the setting and why."""
        self.logger.warning(
            "%s is skipped: mcf_api_version is %s, and FBA Outbound %s has %s; only "
            "2020-07-01 has it (set mcf_api_version to 2020-07-01 to read this stream)",
            self.name,
            MCF_2026,
            MCF_2026,
            self.missing,
        )
        return ()


class NoReturnsStream(NotIn2026Stream):
    name = v2020.OutboundReturnsStream.name
    operation_id = v2020.OutboundReturnsStream.operation_id
    primary_keys: ClassVar[list[str]] = v2020.OutboundReturnsStream.primary_keys
    pii_fields = v2020.OutboundReturnsStream.pii_fields
    missing = "no returns (getFulfillmentOrder's returnItems)"


class NoReturnAuthorizationsStream(NotIn2026Stream):
    name = v2020.OutboundReturnAuthorizationsStream.name
    operation_id = v2020.OutboundReturnAuthorizationsStream.operation_id
    primary_keys: ClassVar[list[str]] = v2020.OutboundReturnAuthorizationsStream.primary_keys
    missing = "no return authorizations (getFulfillmentOrder's returnAuthorizations)"


class NoPackageTrackingStream(NotIn2026Stream):
    name = v2020.OutboundPackageTrackingStream.name
    operation_id = v2020.OutboundPackageTrackingStream.operation_id
    primary_keys: ClassVar[list[str]] = v2020.OutboundPackageTrackingStream.primary_keys
    pii_fields = v2020.OutboundPackageTrackingStream.pii_fields
    missing = (
        "no package events and no integer packageNumber for getPackageTrackingDetails "
        "(its packages have a string packageId)"
    )


#: The stream type that replaces each 2020-07-01 one with `mcf_api_version: 2026-07-04`.
MCF_2026_TYPES: dict[type[Stream], type[Stream]] = {
    v2020.OutboundOrdersStream: McfOrdersStream,
    v2020.OutboundShipmentsStream: McfShipmentsStream,
    v2020.OutboundPackageTrackingStream: NoPackageTrackingStream,
    v2020.OutboundOrderItemsStream: McfOrderItemsStream,
    v2020.OutboundReturnsStream: NoReturnsStream,
    v2020.OutboundReturnAuthorizationsStream: NoReturnAuthorizationsStream,
}
