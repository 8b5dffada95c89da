"""The report documents the stand-in writes: Amazon's header lines, flags and limits.

Amazon's API models describe how to request a report, not what its document holds, so
these entries are transcribed from Amazon's pages, named at each entry: the columns
from the "... reports attributes" pages, restricted flags, roles and range limits from
the "Report Type Values" pages. They are the stand-in's own reading, kept apart from the
tap's `report_types.py` on purpose: tests/test_cross_check.py compares the two and fails
on any difference, so a wrong column is seen instead of shared by both sides.

Where Amazon's sources name a column differently, the header here uses the name that
the tap must also accept (see `ALTERNATIVE_NAMES`), so the end-to-end tests read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["string", "integer", "number", "date-time", "boolean"]


@dataclass(frozen=True)
class ReportFixture:
    """One report type as the stand-in builds its documents."""

    report_type: str
    #: Where the columns and flags were transcribed from.
    source: str
    #: The header line, in Amazon's order, with the form of each column's values.
    columns: dict[str, Kind]
    #: Columns whose values together tell one row from another (unique per row here).
    identity: tuple[str, ...]
    #: Columns holding buyer PII (the stand-in plants sentinels in them).
    pii: tuple[str, ...] = ()
    #: getReportDocument needs a Restricted Data Token.
    restricted: bool = False
    #: Longest dataStartTime..dataEndTime range Amazon documents for the type (None: none
    #: documented; StandInConfig.report_longest_range_days can still set one).
    max_window_days: int | None = None
    #: A snapshot of the present: rows ignore the requested range.
    snapshot: bool = False
    #: The column whose date places a row in a range.
    date_column: str = ""


STR: Kind = "string"
INT: Kind = "integer"
NUM: Kind = "number"
TIME: Kind = "date-time"
BOOL: Kind = "boolean"

RECIPIENT: dict[str, Kind] = {
    "recipient-name": STR,
    "ship-address-1": STR,
    "ship-address-2": STR,
    "ship-address-3": STR,
    "ship-city": STR,
    "ship-state": STR,
    "ship-postal-code": STR,
    "ship-country": STR,
}
RECIPIENT_PII = ("recipient-name", "ship-address-1", "ship-address-2", "ship-address-3")

FIXTURES: tuple[ReportFixture, ...] = (
    ReportFixture(
        "GET_AMAZON_FULFILLED_SHIPMENTS_DATA_GENERAL",
        '"FBA Sales reports attributes"; Seller Central help 200453120 ("Amazon Fulfilled '
        'Shipments Report"); "up to one month of data in a single report": "Fulfillment by '
        'Amazon (FBA) Reports"',
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
            **RECIPIENT,
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
        identity=("amazon-order-id", "shipment-id", "shipment-item-id"),
        pii=(
            "buyer-email",
            "buyer-name",
            "buyer-phone-number",
            *RECIPIENT_PII,
            "ship-phone-number",
            "bill-address-1",
            "bill-address-2",
            "bill-address-3",
        ),
        max_window_days=30,
        date_column="shipment-date",
    ),
    ReportFixture(
        "GET_FBA_FULFILLMENT_REMOVAL_SHIPMENT_DETAIL_DATA",
        '"FBA Removals reports attributes" (first column `request-date`); Seller Central '
        "help 200989100 calls it `removal-date`, which the documents here use",
        {
            "removal-date": TIME,
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
        identity=("order-id", "shipment-date", "fnsku", "disposition", "tracking-number"),
        date_column="shipment-date",
    ),
    ReportFixture(
        "GET_FBA_FULFILLMENT_CUSTOMER_SHIPMENT_REPLACEMENT_DATA",
        '"FBA Customer Concessions reports attributes"',
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
        identity=("replacement-amazon-order-id", "original-amazon-order-id", "sku"),
        date_column="shipment-date",
    ),
    ReportFixture(
        "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA",
        '"FBA Customer Concessions reports attributes"',
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
        identity=("order-id", "sku", "return-date", "license-plate-number"),
        date_column="return-date",
    ),
    ReportFixture(
        "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE",
        'Returns reports ("Manage Returns" flat file), headers as its documents write '
        "them; some documents name `Merchant RMA ID` `Seller RMA ID`, which these use. "
        "A range without returns ends CANCELLED (selling-partner-api-models #2292, #2668; "
        "live.empty_reports_cancelled)",
        {
            "Order ID": STR,
            "Order date": STR,
            "Return request date": STR,
            "Return request status": STR,
            "Amazon RMA ID": STR,
            "Seller RMA ID": STR,
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
        identity=("Order ID", "Amazon RMA ID", "Merchant SKU"),
        date_column="Return request date",
    ),
    ReportFixture(
        "GET_FBA_FULFILLMENT_REMOVAL_ORDER_DETAIL_DATA",
        'Seller Central help 200989110 ("Removal Order Detail report", download headers)',
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
        identity=("order-id", "fnsku", "disposition"),
        date_column="request-date",
    ),
    ReportFixture(
        "GET_LEDGER_DETAIL_VIEW_DATA",
        '"Inventory Ledger Report - Detailed View" (Report Type Values, FBA inventory '
        "reports), columns as its documents write them",
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
        identity=(
            "Date",
            "FNSKU",
            "MSKU",
            "Event Type",
            "Reference ID",
            "Fulfillment Center",
            "Disposition",
            "Reason",
            "Country",
        ),
        date_column="Date",
    ),
    ReportFixture(
        "GET_FLAT_FILE_ACTIONABLE_ORDER_DATA_SHIPPING",
        '"Order reports attributes"; restricted (an RDT for getReportDocument) and the '
        'Direct to Consumer Shipping (Restricted) role: "Order Reports" (Report Type Values)',
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
            **RECIPIENT,
            "is-business-order": BOOL,
            "purchase-order-number": STR,
            "price-designation": STR,
            "is-prime": BOOL,
        },
        identity=("order-id", "order-item-id"),
        pii=("buyer-email", "buyer-phone-number", *RECIPIENT_PII),
        restricted=True,
        snapshot=True,
        date_column="purchase-date",
    ),
)

#: Report type -> {column of these documents: the other source's name for it}.
ALTERNATIVE_NAMES: dict[str, dict[str, str]] = {
    "GET_FBA_FULFILLMENT_REMOVAL_SHIPMENT_DETAIL_DATA": {"removal-date": "request-date"},
    "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE": {"Seller RMA ID": "Merchant RMA ID"},
}

BY_TYPE = {fixture.report_type: fixture for fixture in FIXTURES}
