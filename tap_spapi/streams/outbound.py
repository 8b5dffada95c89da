"""FBA outbound (Multi-Channel Fulfillment) 2020-07-01 streams: orders, shipments, tracking."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from typing_extensions import override

from tap_spapi.keys import ACCOUNT_KEY
from tap_spapi.runtime.pools import context_key
from tap_spapi.streams.base.fetch_ahead import AheadOfSync
from tap_spapi.streams.base.notified import notified_bodies
from tap_spapi.streams.base.stream import SPAPIStream
from tap_spapi.streams.base.windows import isoformat
from tap_spapi.streams.tracking import NotesTrackingIdentifiers, seen_identifier

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

# Buyer PII in MCF records (dropped unless `include_pii`): the order's destination
# address and notification e-mails; the tracking's ship-to address and the name of whoever
# signed for the package.
ORDER_PII = ("destinationAddress", "notificationEmails")
TRACKING_PII = ("shipToAddress", "signedForBy")
# An item's gift message is "a message to the gift recipient" (the model): personal
# words and names. A return's comment is free text about why the recipient sent it
# back. A return authorization's `returnToAddress` is "the address of the Amazon
# fulfillment center that the return items should be sent to" (the model): no buyer's,
# so it is kept.
ORDER_ITEM_PII = ("giftMessage",)
RETURN_PII = ("returnComment",)
# The siblings that read each order's getFulfillmentOrder answer (shared_bodies.py).
ORDER_DETAIL = "getFulfillmentOrder"


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
    after_a_kill = "the next run reads again from the last bookmark: duplicates, never gaps"
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
        return {"queryStartDate": isoformat(self.bookmarks.start_after(bookmark))}

    @override
    def get_child_context(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:
        """Shipments, items and returns are read per changed order."""
        return {
            ACCOUNT_KEY: record[ACCOUNT_KEY],
            "sellerFulfillmentOrderId": record["sellerFulfillmentOrderId"],
        }

    @override
    def request_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """The orders, once the siblings that share each order's detail are known: first
        those FULFILLMENT_ORDER_STATUS notified this run, then the listing's, without
        the notified ones (one query: each order once, as `_once_per_key` keeps it, and
        the listing's copy is no repeat of Amazon's to warn about). The notified answer
        is the older: a newer status comes with its own notification."""
        readers = tuple(
            child.name
            for child in self.child_streams
            if isinstance(child, OrderDetailStream)
            and (child.selected or child.has_selected_descendents)
        )
        self.run.shared_bodies.expect(ORDER_DETAIL, readers)
        emitted: set[str] = set()  # the notified orders: the run's memory is theirs
        if context is not None:
            yield from self._notified_orders(context, readers, emitted)
        for record in super().request_records(context):
            if record["sellerFulfillmentOrderId"] in emitted:
                continue  # out already, from its notification this run
            yield record

    @cached_property
    @override
    def ahead(self) -> AheadOfSync:
        """Read ahead, once the notified orders are read (`_start_reading`)."""
        return AheadOfSync(self, prefetch=self.prefetch, start=self._start_reading)

    def _start_reading(self) -> None:
        """Read the notified orders here, in the main thread, before the readers' threads
        ask (the run's inbox is opened once); then announce to the readers."""
        _ = self._notified
        self.ahead.announce_to_readers()

    @cached_property
    def _notified(self) -> dict[str, list[str]]:
        """account -> the MCF orders FULFILLMENT_ORDER_STATUS named this run, each once."""
        inbox = self.run.inbox
        if inbox is None:
            return {}
        return {account: inbox.mcf_orders(account) for account in self.run.accounts}

    def _notified_orders(
        self, context: Context, readers: tuple[str, ...], emitted: set[str]
    ) -> Iterator[dict[str, Any]]:
        """The notified orders, each from its getFulfillmentOrder (issue 29).

        They go first, and whether or not the listing shows them yet: Amazon's listing
        lags its notifications. The answer is the one the siblings read (shared_bodies),
        so a notified order costs one request too. An order Amazon refuses is left to
        the listing, the backstop.
        """
        account = self.account_for(context)
        ids = self._notified.get(account.name, ())
        for order_id, body in notified_bodies(
            self, {ACCOUNT_KEY: account.name}, ids, ORDER_DETAIL, "sellerFulfillmentOrderId",
            backstop="listAllFulfillmentOrders",
        ):  # fmt: skip
            child = {ACCOUNT_KEY: account.name, "sellerFulfillmentOrderId": order_id}
            order = ((body or {}).get("payload") or {}).get("fulfillmentOrder")
            if order:
                self._hold_for_siblings(child, body, readers)
            # records.in_body reads the listing's shape: the one order as its page of one.
            page = {"payload": {"fulfillmentOrders": [order] if order else []}}
            for record in self.records.in_body(page, account):
                emitted.add(order_id)
                yield record

    def _hold_for_siblings(self, child: Context, body: Any, readers: tuple[str, ...]) -> None:
        """Hand a notified order's answer to the siblings that read it (those still
        reading the account, as they count themselves), as if one of them fetched it."""
        account = child[ACCOUNT_KEY]
        reading = [r for r in readers if not self.run.failures.abandoned(r, account)]
        if reading:
            key = context_key(ORDER_DETAIL, child)
            self.run.shared_bodies.take(
                ORDER_DETAIL, key, self.name, lambda: body, [self.name, *reading]
            )


class OrderDetailStream(SPAPIStream):
    """A list of each changed order's getFulfillmentOrder answer, as a stream of its own.

    Shipments, items, returns and return authorizations come in the same answer, so the
    selected ones share one request per order (shared_bodies.py): the first announces
    and fetches it, the others read the body it got.
    """

    prefetch = True
    operation_id = "getFulfillmentOrder"
    parent_stream_type = OutboundOrdersStream
    state_partitioning_keys: ClassVar[list[str]] = []
    context_keys_on_records = ("sellerFulfillmentOrderId",)  # each record names its order
    path_params: ClassVar[dict[str, str]] = {"sellerFulfillmentOrderId": "sellerFulfillmentOrderId"}

    @cached_property
    @override
    def ahead(self) -> AheadOfSync:
        """Only the first selected sibling fetches ahead; the others read its body."""
        return AheadOfSync(self, prefetch=self.prefetch, announces=self._announces)

    def _announces(self, context: Context | None) -> bool:
        readers = self.run.shared_bodies.readers(ORDER_DETAIL)
        return (not readers or readers[0] == self.name) and self.wants(context)

    @override
    def request_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """This stream's records of the order's answer, fetched once for all siblings."""
        assert context is not None
        account = self.account_for(context)
        readers = [
            name
            for name in self.run.shared_bodies.readers(ORDER_DETAIL)
            if not self.run.failures.abandoned(name, account.name)
        ]
        path_values = {"sellerFulfillmentOrderId": context["sellerFulfillmentOrderId"]}
        body = self.run.shared_bodies.take(
            ORDER_DETAIL,
            context_key(ORDER_DETAIL, context),
            self.name,
            lambda: self.client(context).call(
                self.operation_id, where=self.name, path_values=path_values
            ),
            readers,
        )
        yield from self.records.in_body(body, account)


class OutboundShipmentsStream(OrderDetailStream, NotesTrackingIdentifiers):
    """Shipments of each changed order (getFulfillmentOrder → fulfillmentShipments).

    Each package's `amazonFulfillmentTrackingNumber` is noted for shipment_tracking.
    """

    name = "outbound_shipments"
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "amazonShipmentId"]
    records_jsonpath = "$.payload.fulfillmentShipments[*]"

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


def keyed_within_order(field: str) -> list[str]:
    """The key of a list whose ids are unique within one order only (the order's id is
    copied from the context: `WITHIN_ORDER`, the lists' `derived_keys`)."""
    return [ACCOUNT_KEY, "sellerFulfillmentOrderId", field]


WITHIN_ORDER = ("sellerFulfillmentOrderId",)


class OutboundOrderItemsStream(OrderDetailStream):
    """Items of each changed order (getFulfillmentOrder → fulfillmentOrderItems)."""

    name = "outbound_order_items"
    derived_keys = WITHIN_ORDER
    primary_keys: ClassVar[list[str]] = keyed_within_order("sellerFulfillmentOrderItemId")
    pii_fields = ORDER_ITEM_PII
    records_jsonpath = "$.payload.fulfillmentOrderItems[*]"


class OutboundReturnsStream(OrderDetailStream):
    """Items Amazon accepted for return (getFulfillmentOrder → returnItems): status,
    dates, Amazon's and the seller's return reasons, condition, fulfillment center."""

    name = "outbound_returns"
    derived_keys = WITHIN_ORDER
    primary_keys: ClassVar[list[str]] = keyed_within_order("sellerReturnItemId")
    pii_fields = RETURN_PII
    records_jsonpath = "$.payload.returnItems[*]"


class OutboundReturnAuthorizationsStream(OrderDetailStream):
    """Return authorizations of each changed order (getFulfillmentOrder →
    returnAuthorizations): the RMA id, its fulfillment center and page."""

    name = "outbound_return_authorizations"
    derived_keys = WITHIN_ORDER
    primary_keys: ClassVar[list[str]] = keyed_within_order("returnAuthorizationId")
    records_jsonpath = "$.payload.returnAuthorizations[*]"
