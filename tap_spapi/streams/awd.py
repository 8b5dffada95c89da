"""Amazon Warehousing and Distribution (AWD 2024-05-09): pallets shipped into AWD, the
orders that leave it, and the inventory it stores.

Amazon filters the two listings by `updatedAfter` itself ("updated after a certain time
(inclusive)", the model says), so each run asks from the bookmark minus
`lookback_window`, oldest update first, and the record the bookmark came from comes
again: it is emitted again under the same key (targets merge on it), but its SKU
quantities are not asked again (`AwdInboundShipmentsStream.generate_child_contexts`).
listOutbounds pages hold whole OutboundOrders (the model's `OutboundListing`), so no
order costs a getOutbound of its own. The inventory has no update time: it is a snapshot,
read whole each run.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from typing_extensions import override

from tap_spapi.keys import ACCOUNT_KEY
from tap_spapi.runtime.progress import about, describe_plan
from tap_spapi.streams.base.stream import SPAPIStream
from tap_spapi.streams.base.windows import instant, instant_or_none, isoformat

if TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context

# The largest `maxResults` of each listing, from the model.
MOST_SHIPMENTS, MOST_OUTBOUNDS, MOST_INVENTORY = 200, 100, 200


class AwdChangesStream(SPAPIStream):
    """A listing Amazon filters by `updatedAt` (listInboundShipments, listOutbounds).

    `updatedAfter` = bookmark - `lookback_window` (else the run's default start), the same
    on every page with the page's `nextToken` ("include the same arguments as the call
    that produced the token"), oldest update first. The bookmark is `updatedAt`; the
    stream commits it when it completes, so a killed run reads again from the previous
    bookmark: duplicates, never gaps.
    """

    replication_key = "updatedAt"
    is_sorted = False
    after_a_kill = "the next run reads again from the last bookmark: duplicates, never gaps"
    partitioned_by_account = True
    next_token_path = "nextToken"
    #: The record's id (the key after the account).
    id_field: ClassVar[str]
    #: `maxResults`: the largest page the model allows.
    page_size: ClassVar[int]
    #: Query parameters besides the window and the page.
    query: ClassVar[dict[str, str]] = {}

    @cached_property
    @override
    def required_fields(self) -> list[str]:
        """The id; `updatedAt` is optional in the model (`createdAt` stands in for it)."""
        return [self.id_field]

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """The window, oldest first, the largest page; later pages add the token."""
        assert context is not None
        params: dict[str, Any] = {
            **self.query,
            "updatedAfter": isoformat(self.bookmarks.since(context[ACCOUNT_KEY])),
            "sortOrder": "ASCENDING",
            "maxResults": self.page_size,
        }
        if next_page_token:
            params["nextToken"] = next_page_token
        return params

    #: What each listed record costs besides its page (the items' getInboundShipment).
    per_record: ClassVar[str | None] = None

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The account's pages, after a line saying what they cost."""
        if context is not None:
            self._say_cost(context)
        yield from super().get_records(context)

    def _say_cost(self, context: Context) -> None:
        """The plans of the listing and, per record, of the request each one costs. At
        DEBUG: how many records changed is known only once they are listed."""
        limiter = self.account_for(context).limiter
        costs = [
            f"a request per {self.page_size} records changed since "
            f"{isoformat(self.bookmarks.since(context[ACCOUNT_KEY]))}; "
            f"{describe_plan(self.operation_id, limiter.plan(self.operation_id))}"
        ]
        if self.per_record:
            costs.append(
                f"and a {self.per_record} per changed record; "
                f"{describe_plan(self.per_record, limiter.plan(self.per_record))}: 100 "
                f"records {about(limiter.seconds_for(self.per_record, 100))}"
            )
        self.logger.debug(
            "%s of account '%s': %s", self.name, context[ACCOUNT_KEY], " ".join(costs)
        )

    @override
    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        """`createdAt` as the bookmark of a record never updated. A record with neither
        (Amazon's own listOutbounds example is one) is emitted and moves no bookmark."""
        row[self.replication_key] = row.get(self.replication_key) or row.get("createdAt")
        return super().post_process(row, context)

    def read_before(self, record: dict[str, Any]) -> bool:
        """Whether `record` is the one the bookmark came from, unchanged: `updatedAfter`
        is inclusive, so it comes again every run until something newer changes."""
        bookmark = self.bookmarks.at_start(record[ACCOUNT_KEY])
        updated = instant_or_none(record.get(self.replication_key))
        return bookmark is not None and updated is not None and updated == instant(bookmark)


class AwdInboundShipmentsStream(AwdChangesStream):
    """Inbound shipments into AWD changed since the bookmark (listInboundShipments
    summaries, `sortBy=UPDATED_AT`)."""

    name = "awd_inbound_shipments"
    operation_id = "listInboundShipments"
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "shipmentId"]
    id_field = "shipmentId"
    records_jsonpath = "$.shipments[*]"
    page_size = MOST_SHIPMENTS
    query: ClassVar[dict[str, str]] = {"sortBy": "UPDATED_AT"}
    per_record = "getInboundShipment"

    @override
    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[Context | None]:
        """A shipment's SKU quantities, unless it is the bookmark's record unchanged (its
        quantities were read with it)."""
        if self.read_before(record):
            return
        yield self.get_child_context(record, context)

    @override
    def get_child_context(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:
        """One getInboundShipment per changed shipment."""
        return {
            ACCOUNT_KEY: record[ACCOUNT_KEY],
            "shipmentId": record["shipmentId"],
            "orderId": record.get("orderId"),
        }


class AwdInboundShipmentItemsStream(SPAPIStream):
    """The SKU quantities (expected, received) of each changed inbound shipment
    (getInboundShipment with `skuQuantities=SHOW`)."""

    name = "awd_inbound_shipment_items"
    operation_id = "getInboundShipment"
    parent_stream_type = AwdInboundShipmentsStream
    prefetch = True
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "shipmentId", "sku"]
    derived_keys = ("shipmentId",)
    records_jsonpath = "$.shipmentSkuQuantities[*]"
    context_keys_on_records = ("shipmentId", "orderId")
    path_params: ClassVar[dict[str, str]] = {"shipmentId": "shipmentId"}
    # Bookmarks live with the parent; one state partition per shipment would grow forever.
    state_partitioning_keys: ClassVar[list[str]] = []

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """The quantities are left out unless asked for (the model's default is HIDE)."""
        return {"skuQuantities": "SHOW"}


class AwdOutboundOrdersStream(AwdChangesStream):
    """Outbound orders out of AWD changed since the bookmark (listOutbounds: whole
    orders, their shipments and products included).

    A shipment's `destinationAddress` is where the seller sends the goods, a wholesale
    customer or a store that may be a person's name and phone: dropped unless
    `include_pii`.
    """

    name = "awd_outbound_orders"
    operation_id = "listOutbounds"
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "orderId"]
    id_field = "orderId"
    records_jsonpath = "$.outboundOrders[*]"
    page_size = MOST_OUTBOUNDS
    pii_fields = ("outboundShipments.destinationAddress",)


class AwdInventoryStream(SPAPIStream):
    """What AWD stores, per SKU (listInventory with `details=SHOW`): a snapshot each run.

    The summaries have no update time to filter or bookmark by. A page Amazon answers
    with the token it was asked with (selling-partner-api-models #4713) is asked again by
    the paginator, and its SKUs, already emitted, are not emitted again (every stream's
    check for a record twice within one query).
    """

    name = "awd_inventory"
    operation_id = "listInventory"
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "sku"]
    records_jsonpath = "$.inventory[*]"
    next_token_path = "nextToken"
    partitioned_by_account = True

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """Details on, SKU order, the largest page; later pages add the token."""
        params: dict[str, Any] = {
            "details": "SHOW",
            "sortOrder": "ASCENDING",
            "maxResults": MOST_INVENTORY,
        }
        if next_page_token:
            params["nextToken"] = next_page_token
        return params


AWD_STREAM_TYPES = (
    AwdInboundShipmentsStream,
    AwdInboundShipmentItemsStream,
    AwdOutboundOrdersStream,
    AwdInventoryStream,
)
