"""Report rows in the shapes live documents have (issue threads and public parsers):
ragged rows, columns only some marketplaces write, ids with a leading zero, an empty key
cell, blank cells. Parsed by the reader the report streams use."""

from __future__ import annotations

import io
from typing import Any

from tap_spapi.amazon.report_types import BY_TYPE, ReportType
from tap_spapi.streams.reports.documents import TypedRows

RETURNS_BY_DATE = BY_TYPE["GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE"]
FBA_RETURNS = BY_TYPE["GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"]
LEDGER = BY_TYPE["GET_LEDGER_DETAIL_VIEW_DATA"]
FULFILLED = BY_TYPE["GET_AMAZON_FULFILLED_SHIPMENTS_DATA_GENERAL"]


def parsed(
    report: ReportType, header: list[str], *rows: list[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The records of a document with `header` and `rows`, and the unknown columns named."""
    text = "\r\n".join("\t".join(line) for line in (header, *rows)) + "\r\n"
    unknown: list[str] = []
    records = list(TypedRows(report, "test", unknown.extend).rows(io.StringIO(text, newline="")))
    return records, unknown


def test_a_ragged_row_loads_its_cells_under_their_headers_and_the_rest_as_null():
    header = list(RETURNS_BY_DATE.columns)
    assert len(header) == 32
    cells = [f"v{i}" for i in range(27)]
    cells[0], cells[4], cells[17] = "113-0000001-0000001", "Dabc123", "1"  # id, RMA, quantity
    ((record,), unknown) = parsed(RETURNS_BY_DATE, header, cells)
    assert not unknown and len(record) == 32
    assert record["order_id"] == "113-0000001-0000001" and record["amazon_rma_id"] == "Dabc123"
    assert record["return_quantity"] == 1
    assert [record[RETURNS_BY_DATE.column_of(name)] for name in header[27:]] == [None] * 5


def test_columns_only_some_marketplaces_write_are_kept_and_named():
    # The JP documents add `points-granted`; ledger documents of some marketplaces add
    # `Date and Time` and `Store`. Kept as strings; the stream adds them to its schema.
    header = [*LEDGER.columns, "Date and Time", "Store"]
    row = ["12/01/2026", "X001", "B00", "SKU-1", "Title", "Receipts", "FBA15ABC", "3", "PHX7",
           "SELLABLE", "", "US", "3", "0", "12/01/2026 10:00:00 PST", "Main"]  # fmt: skip
    ((record,), unknown) = parsed(LEDGER, header, row)
    assert unknown == ["date_and_time", "store"]
    assert record["date_and_time"] == "12/01/2026 10:00:00 PST" and record["store"] == "Main"
    assert record["quantity"] == 3 and record["reference_id"] == "FBA15ABC"
    header = [*FULFILLED.columns, "points-granted"]
    row = [f"c{i}" for i in range(len(FULFILLED.columns))] + ["12"]
    ((record,), unknown) = parsed(FULFILLED, header, row)
    assert unknown == ["points_granted"] and record["points_granted"] == "12"


def test_a_column_one_marketplace_leaves_out_shifts_nothing():
    # AE's customer returns come without `status`: every other value under its own name.
    header = [name for name in FBA_RETURNS.columns if name != "status"]
    row = ["2026-11-02T10:00:00+00:00", "403-1", "SKU-1", "B00", "X001", "Name", "1", "DXB3",
           "SELLABLE", "UNWANTED_ITEM", "LPN1", ""]  # fmt: skip
    ((record,), _) = parsed(FBA_RETURNS, header, row)
    assert "status" not in record
    assert record["reason"] == "UNWANTED_ITEM" and record["license_plate_number"] == "LPN1"
    assert record["quantity"] == 1 and record["customer_comments"] is None


def test_ids_with_a_leading_zero_stay_strings():
    header = list(LEDGER.columns)
    row = ["12/01/2026", "X001", "B00", "SKU-1", "Title", "Receipts", "07664457044546", "1",
           "PHX7", "SELLABLE", "", "US", "1", "0"]  # fmt: skip
    ((record,), _) = parsed(LEDGER, header, row)
    assert record["reference_id"] == "07664457044546"


def test_an_empty_shipment_id_of_a_cross_border_row_is_an_empty_key_not_null():
    # Cross-border rows of the fulfilled-shipments report have no `shipment-id`, one of its
    # key columns (selling-partner-api-models #5276): loaded as "" so the row keeps a key.
    header = list(FULFILLED.columns)
    first = {"amazon-order-id": "113-1", "shipment-id": "", "shipment-item-id": "I1"}
    second = {**first, "shipment-item-id": "I2"}
    rows = [[line.get(name, "") for name in header] for line in (first, second)]
    records, _ = parsed(FULFILLED, header, *rows)
    assert [(r["amazon_order_id"], r["shipment_id"], r["shipment_item_id"]) for r in records] == [
        ("113-1", "", "I1"),
        ("113-1", "", "I2"),
    ]


def test_blank_cells_load_as_null_whether_empty_or_spaces(caplog):
    header = list(FBA_RETURNS.columns)
    row = ["2026-11-02T10:00:00+00:00", "403-1", "SKU-1", "", "X001", " ", "  ", "DXB3", "", "",
           "", "LPN1", ""]  # fmt: skip
    ((record,), _) = parsed(FBA_RETURNS, header, row)
    assert record["asin"] is None and record["quantity"] is None
    assert "did not parse" not in caplog.text
