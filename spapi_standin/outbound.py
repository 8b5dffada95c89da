"""FBA Outbound 2020-07-01: listAllFulfillmentOrders, getFulfillmentOrder and
getPackageTrackingDetails.

listAllFulfillmentOrders: orders whose status changed at or after `queryStartDate`,
oldest first, a page of `outbound_page_size`; its `nextToken` carries the start and the
offset. With `overlapping_pages` every page after the first repeats the previous page's
last order, and with `looping_page_tokens` the third page's token leads back to the second
page (both off by default: misbehaving pagination, as Amazon has been seen to do).
outbound_2026.py serves the same orders as FBA Outbound 2026-07-04.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spapi_standin.instances import parse_instant
from spapi_standin.page_tokens import decode_token, encode_token
from spapi_standin.replies import invalid_input

if TYPE_CHECKING:
    from datetime import datetime

    from spapi_standin.config import StandInConfig
    from spapi_standin.data import Dataset
    from spapi_standin.replies import CachedBodies, Reply
    from spapi_standin.request import Request


class OutboundService:
    """listAllFulfillmentOrders, getFulfillmentOrder and getPackageTrackingDetails."""

    def __init__(self, config: StandInConfig, dataset: Dataset, cached: CachedBodies) -> None:
        self.config = config
        self.data = dataset
        self.cached = cached

    def list_all_fulfillment_orders(self, request: Request) -> Reply:
        """statusUpdatedDate >= queryStartDate, oldest first."""
        token = request.first("nextToken")
        if token is not None:
            state = decode_token(token)
            if state is None or "o" not in state:
                return invalid_input("Invalid nextToken.")
            start, offset = parse_instant(state.get("s")), int(state["o"])
        else:
            raw_start = request.first("queryStartDate")
            start = parse_instant(raw_start)
            if raw_start is not None and start is None:
                return invalid_input("queryStartDate must be an ISO 8601 date-time.")
            offset = 0
        return self.cached(
            ("listAllFulfillmentOrders", start, offset), lambda: self._page(start, offset)
        )

    def _page(self, start: datetime | None, offset: int) -> dict[str, Any]:
        orders = self.data.outbound_since(start)
        size = self.config.outbound_page_size
        end = offset + size
        first = offset - 1 if self.config.overlapping_pages and offset else offset
        payload: dict[str, Any] = {"fulfillmentOrders": orders[first:end]}
        if end < len(orders):
            following = size if self.config.looping_page_tokens and offset >= 2 * size else end
            payload["nextToken"] = encode_token(
                {"s": start.isoformat() if start else None, "o": following}
            )
        return {"payload": payload}

    def get_fulfillment_order(self, request: Request) -> Reply:
        """The order with items, shipments, packages and returns."""
        order_id = request.params["sellerFulfillmentOrderId"]
        if len(order_id) > 40:
            return invalid_input("sellerFulfillmentOrderId is longer than 40 characters.")
        if order_id not in self.data.outbound_details:
            return invalid_input("Requested order not found")
        return self.cached(
            ("getFulfillmentOrder", order_id),
            lambda: {"payload": self.data.outbound_details[order_id]},
        )

    def get_package_tracking_details(self, request: Request) -> Reply:
        """One package's tracking events."""
        raw = request.first("packageNumber")
        if raw is None or not raw.lstrip("-").isdigit():
            return invalid_input("packageNumber is required and must be an integer.")
        number = int(raw)
        if number not in self.data.package_tracking:
            return invalid_input("Requested package not found")
        return self.cached(
            ("getPackageTrackingDetails", number),
            lambda: {"payload": self.data.package_tracking[number]},
        )
