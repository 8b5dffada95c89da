"""Amazon Shipping v2: getTracking of a label and getCarrierAccounts.

Both check the optional `x-amzn-shipping-business-id` header against the model's enum.
getTracking answers only the label the data set holds under both ids; the few tracking
ids of `Dataset.null_tracking_ids` answer with the nulls live Amazon sends
(`live.null_tracking_payload`), uncached.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from spapi_standin import live
from spapi_standin.replies import Reply, error, json_reply

if TYPE_CHECKING:
    from spapi_standin.data import Dataset
    from spapi_standin.replies import CachedBodies
    from spapi_standin.request import Request

SHIPPING_BUSINESSES = frozenset(
    {"AmazonShipping_US", "AmazonShipping_IN", "AmazonShipping_UK", "AmazonShipping_UAE",
     "AmazonShipping_SA", "AmazonShipping_EG", "AmazonShipping_IT", "AmazonShipping_ES",
     "AmazonShipping_FR", "AmazonShipping_JP"}
)  # fmt: skip


class ShippingService:
    """getTracking and getCarrierAccounts of Amazon Shipping v2."""

    def __init__(self, dataset: Dataset, cached: CachedBodies) -> None:
        self.data = dataset
        self.cached = cached

    def get_tracking(self, request: Request) -> Reply:
        """A label's events; both ids must match a label of the data set."""
        business = _business_problem(request)
        if business is not None:
            return business
        tracking_id, carrier_id = request.first("trackingId"), request.first("carrierId")
        if tracking_id is None or carrier_id is None:
            return error(400, "InvalidRequest", "trackingId and carrierId are required.")
        result = self.data.tracking(tracking_id, carrier_id)
        if result is None:
            return error(400, "InvalidRequest", "Invalid trackingId or carrierId.")
        if tracking_id in self.data.null_tracking_ids:
            return json_reply({"payload": live.null_tracking_payload(result)})
        return self.cached(
            ("getTracking", tracking_id, carrier_id),
            lambda: {"payload": self.data.tracking(tracking_id, carrier_id)},
        )

    def get_carrier_accounts(self, request: Request) -> Reply:
        """A PUT read: the body must be a JSON object, `{}` will do."""
        business = _business_problem(request)
        if business is not None:
            return business
        try:
            body = json.loads(request.body) if request.body else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return error(400, "InvalidRequest", "The request body must be a JSON object.")
        return self.cached(
            ("getCarrierAccounts",), lambda: {"activeAccounts": self.data.carrier_accounts}
        )


def _business_problem(request: Request) -> Reply | None:
    business = request.headers.get("x-amzn-shipping-business-id")
    if business is not None and business not in SHIPPING_BUSINESSES:
        return error(400, "InvalidRequest", "Invalid x-amzn-shipping-business-id.")
    return None
