"""The report types the tap reads, and what their flat files hold.

Amazon's API models describe how to request a report, not what is in it: the columns
come from Amazon's "... reports attributes" pages (named at each entry), and the limits
and flags from its "Report Type Values" pages. The stand-in keeps its own transcription
(`spapi_standin/report_fixtures.py`) and tests/test_cross_check.py fails when the two
disagree. Where two Amazon sources name a column differently, the entry's `aliases`
read both names into one column. A column Amazon adds later is kept as a
string and named in a warning (see streams/reports/documents.py), so a change on Amazon's side
never drops data. Adding a report type is one `ReportType(...)` entry below, then
`scripts/generate_from_models.py` to write its schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["string", "integer", "number", "date-time", "boolean"]


def snake_case(column: str) -> str:
    """`amazon-order-id` / `Quantity Shipped` -> `amazon_order_id` / `quantity_shipped`."""
    return re.sub(r"[^0-9a-z]+", "_", column.strip().lower()).strip("_")


@dataclass(frozen=True)
class ReportType:
    """One report type: its columns as Amazon names them, keys, PII and limits."""

    report_type: str
    description: str
    #: Column header as Amazon writes it -> its type. Unlisted columns are strings.
    columns: dict[str, Kind]
    #: Columns (snake_case) that identify a row; with `account` they are the stream's key.
    keys: tuple[str, ...]
    #: Columns (snake_case) holding buyer PII: dropped unless `include_pii` is on.
    pii: tuple[str, ...] = ()
    #: The document needs a Restricted Data Token (Amazon's "restricted report types").
    restricted: bool = False
    #: Longest `dataStartTime`..`dataEndTime` range one report may cover, where Amazon
    #: documents one (the page is named at the entry). None: Amazon documents no limit,
    #: so the stream finds the longest range Amazon accepts (see streams/reports.py).
    max_window_days: int | None = None
    #: A snapshot of the present (e.g. orders still to ship): no data range, no bookmark;
    #: every run reads one fresh report.
    snapshot: bool = False
    #: The SP-API role Amazon requires for the report type (named when it is missing).
    role: str = "Amazon Fulfillment"
    #: Another source's name for a column -> the name in `columns` (both read as one).
    aliases: dict[str, str] = field(default_factory=dict)

    @property
    def stream_name(self) -> str:
        """The report type in snake_case without `GET_`."""
        return snake_case(self.report_type.removeprefix("GET_"))

    @property
    def kinds(self) -> dict[str, Kind]:
        """snake_case column -> type."""
        return {snake_case(name): kind for name, kind in self.columns.items()}

    def column_of(self, header: str) -> str:
        """The record field (snake_case) of a document's header cell, aliases resolved."""
        return snake_case(self.aliases.get(header.strip(), header))


STR: Kind = "string"
INT: Kind = "integer"
NUM: Kind = "number"
TIME: Kind = "date-time"
BOOL: Kind = "boolean"
BUYER = ("buyer_email", "buyer_name", "buyer_phone_number", "recipient_name")
SHIP_TO = ("ship_address_1", "ship_address_2", "ship_address_3", "ship_phone_number")
BILL_TO = ("bill_address_1", "bill_address_2", "bill_address_3")

# The recipient's columns, in the order both order-level reports write them.
SHIP_TO_COLUMNS: dict[str, Kind] = {
    "recipient-name": STR,
    "ship-address-1": STR,
    "ship-address-2": STR,
    "ship-address-3": STR,
    "ship-city": STR,
    "ship-state": STR,
    "ship-postal-code": STR,
    "ship-country": STR,
}

REPORT_TYPES: tuple[ReportType, ...] = (
    # Columns: "FBA Sales reports attributes" and Seller Central help 200453120 ("Amazon
    # Fulfilled Shipments Report"); "up to one month of data": "Fulfillment by Amazon
    # (FBA) Reports".
    ReportType(
        "GET_AMAZON_FULFILLED_SHIPMENTS_DATA_GENERAL",
        "FBA Amazon-fulfilled shipments: one row per shipped item, with carrier, "
        "tracking number, ship and estimated arrival dates.",
        {
            "amazon-order-id": STR,
            "merchant-order-id": STR,
            "shipment-id": STR,
            "shipment-item-id": STR,
            "amazon-order-item-id": STR,
            "merchant-order-item-id": STR,
            "purchase-date": TIME,
            "payments-date": TIME,
            "shipment-date": TIME,
            "reporting-date": TIME,
            "buyer-email": STR,
            "buyer-name": STR,
            "buyer-phone-number": STR,
            "sku": STR,
            "product-name": STR,
            "quantity-shipped": INT,
            "currency": STR,
            "item-price": NUM,
            "item-tax": NUM,
            "shipping-price": NUM,
            "shipping-tax": NUM,
            "gift-wrap-price": NUM,
            "gift-wrap-tax": NUM,
            "ship-service-level": STR,
            **SHIP_TO_COLUMNS,
            "ship-phone-number": STR,
            "bill-address-1": STR,
            "bill-address-2": STR,
            "bill-address-3": STR,
            "bill-city": STR,
            "bill-state": STR,
            "bill-postal-code": STR,
            "bill-country": STR,
            "item-promotion-discount": NUM,
            "ship-promotion-discount": NUM,
            "carrier": STR,
            "tracking-number": STR,
            "estimated-arrival-date": TIME,
            "fulfillment-center-id": STR,
            "fulfillment-channel": STR,
            "sales-channel": STR,
        },
        keys=("amazon_order_id", "shipment_id", "shipment_item_id"),
        pii=(*BUYER, *SHIP_TO, *BILL_TO),
        # "You can request up to one month of data in a single report": Amazon's
        # "Fulfillment by Amazon (FBA) Reports" page (Report Type Values). The other
        # types below document no limit.
        max_window_days=30,
    ),
    # Columns: "FBA Removals reports attributes". Seller Central help 200989100 names the
    # first column `removal-date`; both names load as `request_date`.
    ReportType(
        "GET_FBA_FULFILLMENT_REMOVAL_SHIPMENT_DETAIL_DATA",
        "Shipments of FBA removal orders (returns to the seller and disposals).",
        {
            "request-date": TIME,
            "order-id": STR,
            "shipment-date": TIME,
            "sku": STR,
            "fnsku": STR,
            "disposition": STR,
            "shipped-quantity": INT,
            "carrier": STR,
            "tracking-number": STR,
            "removal-order-type": STR,
        },
        # One removal order ships in several parcels, and a SKU's sellable and
        # unsellable units are separate rows.
        keys=("order_id", "shipment_date", "fnsku", "disposition", "tracking_number"),
        aliases={"removal-date": "request-date"},
    ),
    # Columns: "FBA Customer Concessions reports attributes" (the key is
    # `replacement-amazon-order-id` there; `replacement-customer-order-id` is only in a
    # third-party connector's schema).
    ReportType(
        "GET_FBA_FULFILLMENT_CUSTOMER_SHIPMENT_REPLACEMENT_DATA",
        "Free replacement shipments Amazon sent to customers.",
        {
            "shipment-date": TIME,
            "sku": STR,
            "asin": STR,
            "fulfillment-center-id": STR,
            "original-fulfillment-center-id": STR,
            "quantity": INT,
            "replacement-reason-code": STR,
            "replacement-amazon-order-id": STR,
            "original-amazon-order-id": STR,
        },
        keys=("replacement_amazon_order_id", "original_amazon_order_id", "sku"),
    ),
    # Columns: "FBA Customer Concessions reports attributes".
    ReportType(
        "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA",
        "Customer returns received at Amazon's fulfillment centres.",
        {
            "return-date": TIME,
            "order-id": STR,
            "sku": STR,
            "asin": STR,
            "fnsku": STR,
            "product-name": STR,
            "quantity": INT,
            "fulfillment-center-id": STR,
            "detailed-disposition": STR,
            "reason": STR,
            "status": STR,
            "license-plate-number": STR,
            "customer-comments": STR,
        },
        # The license plate number identifies the returned unit; one order may return
        # the same SKU on several dates.
        keys=("order_id", "sku", "return_date", "license_plate_number"),
    ),
    # Columns: the "Returns reports" section of Amazon's report attributes (the flat file
    # of Seller Central's Manage Returns), as real documents write them: headers with
    # spaces and capitals, e.g. `Return request date`. Some documents say `Seller RMA ID`
    # for `Merchant RMA ID`; both load as `merchant_rma_id`. Dates stay strings: their
    # form differs by marketplace (`12-Aug-2026`, ISO), and a wrong guess would move a
    # day. A range without returns ends CANCELLED (selling-partner-api-models #2292,
    # #2668): an empty window (streams/reports.py), not an error.
    ReportType(
        "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE",
        "Returns of seller-fulfilled orders by return request date: RMA, return carrier "
        "and tracking id, label cost and payer, reason, resolution, refund.",
        {
            "Order ID": STR,
            "Order date": STR,
            "Return request date": STR,
            "Return request status": STR,
            "Amazon RMA ID": STR,
            "Merchant RMA ID": STR,
            "Label type": STR,
            "Label cost": NUM,
            "Currency code": STR,
            "Return carrier": STR,
            "Tracking ID": STR,
            "Label to be paid by": STR,
            "A-to-Z Claim": STR,
            "Is prime": STR,
            "ASIN": STR,
            "Merchant SKU": STR,
            "Item Name": STR,
            "Return quantity": INT,
            "Return Reason": STR,
            "In policy": STR,
            "Return type": STR,
            "Resolution": STR,
            "Invoice number": STR,
            "Return delivery date": STR,
            "Order Amount": NUM,
            "Order quantity": INT,
            "SafeT Action reason": STR,
            "SafeT claim id": STR,
            "SafeT claim state": STR,
            "SafeT claim creation time": STR,
            "SafeT claim reimbursement amount": NUM,
            "Refunded Amount": NUM,
        },
        keys=("order_id", "amazon_rma_id", "merchant_sku"),
        aliases={"Seller RMA ID": "Merchant RMA ID"},
    ),
    # Columns: Seller Central help 200989110 ("Removal Order Detail report", download
    # headers); "FBA Removal Order Detail Report" in Report Type Values (FBA). Rows are
    # placed by `request-date`: a later status change of an order requested before the
    # window is read again only within `lookback_window`.
    ReportType(
        "GET_FBA_FULFILLMENT_REMOVAL_ORDER_DETAIL_DATA",
        "FBA removal orders and their items: type (return or disposal), status, and "
        "requested, cancelled, disposed, shipped and in-process quantities, removal fee.",
        {
            "request-date": TIME,
            "order-id": STR,
            "order-type": STR,
            "order-status": STR,
            "last-updated-date": TIME,
            "sku": STR,
            "fnsku": STR,
            "disposition": STR,
            "requested-quantity": INT,
            "cancelled-quantity": INT,
            "disposed-quantity": INT,
            "shipped-quantity": INT,
            "in-process-quantity": INT,
            "removal-fee": NUM,
            "currency": STR,
        },
        keys=("order_id", "fnsku", "disposition"),
    ),
    # Columns: "Inventory Ledger Report - Detailed View" (Report Type Values, FBA
    # inventory reports; columns as its documents write them). Every inventory event:
    # `Event Type` Receipts rows carry the FBA shipment id in `Reference ID`, which
    # inbound v0 has no receipt for. `Date` stays a string: US documents write
    # MM/DD/YYYY, which a day-first reading would turn into another date.
    ReportType(
        "GET_LEDGER_DETAIL_VIEW_DATA",
        "FBA inventory events (receipts per FBA shipment, customer shipments and returns, "
        "transfers, adjustments, removals) with quantity, fulfillment center, disposition "
        "and reason.",
        {
            "Date": STR,
            "FNSKU": STR,
            "ASIN": STR,
            "MSKU": STR,
            "Title": STR,
            "Event Type": STR,
            "Reference ID": STR,
            "Quantity": INT,
            "Fulfillment Center": STR,
            "Disposition": STR,
            "Reason": STR,
            "Country": STR,
            "Reconciled Quantity": INT,
            "Unreconciled Quantity": INT,
        },
        # No id column: an event is its day, item, type, reference, place, disposition
        # and reason together (Amazon adds up the units of identical events).
        keys=(
            "date",
            "fnsku",
            "msku",
            "event_type",
            "reference_id",
            "fulfillment_center",
            "disposition",
            "reason",
            "country",
        ),
    ),
    # Columns: "Order reports attributes"; restricted and role: "Order Reports" (Report
    # Type Values). That page lists neither `buyer-name` nor `ship-phone-number`: they
    # stay in `pii`, so a document that carries them still has them dropped.
    ReportType(
        "GET_FLAT_FILE_ACTIONABLE_ORDER_DATA_SHIPPING",
        "Merchant-fulfilled orders still to ship (a snapshot of the present). A "
        "restricted report: its document needs a Restricted Data Token.",
        {
            "order-id": STR,
            "order-item-id": STR,
            "purchase-date": TIME,
            "payments-date": TIME,
            "reporting-date": TIME,
            "promise-date": TIME,
            "days-past-promise": INT,
            "buyer-email": STR,
            "buyer-phone-number": STR,
            "sku": STR,
            "product-name": STR,
            "quantity-purchased": INT,
            "quantity-shipped": INT,
            "quantity-to-ship": INT,
            "ship-service-level": STR,
            **SHIP_TO_COLUMNS,
            "is-business-order": BOOL,
            "purchase-order-number": STR,
            "price-designation": STR,
            "is-prime": BOOL,
        },
        keys=("order_id", "order_item_id"),
        pii=(*BUYER, *SHIP_TO),
        restricted=True,
        snapshot=True,
        role="Direct-to-Consumer Shipping (Restricted)",
    ),
)

BY_STREAM = {report.stream_name: report for report in REPORT_TYPES}
BY_TYPE = {report.report_type: report for report in REPORT_TYPES}
