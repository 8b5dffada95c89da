"""Merchant Fulfillment v0: getShipment, a restricted operation.

The access check has demanded a Restricted Data Token covering the path before the
handler runs (tokens.py issues them).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from spapi_standin.replies import Reply, invalid_input, json_reply

if TYPE_CHECKING:
    from spapi_standin.data import Dataset
    from spapi_standin.request import Request

MFN_SHIPMENT_ID = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


class MerchantFulfillmentService:
    """getShipment of Merchant Fulfillment v0."""

    def __init__(self, dataset: Dataset) -> None:
        self.data = dataset

    def get_shipment(self, request: Request) -> Reply:
        """One shipment by its UUID."""
        shipment_id = request.params["shipmentId"]
        if not MFN_SHIPMENT_ID.match(shipment_id):
            return invalid_input("shipmentId must be a UUID.")
        shipment = self.data.mfn_shipments.get(shipment_id)
        if shipment is None:
            return invalid_input("Shipment not found.")
        return json_reply({"payload": shipment})
