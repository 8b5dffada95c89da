"""Identifiers for the Tracking API that users list: setting and file.

The tap finds MCF packages' `amazonFulfillmentTrackingNumber` and inbound small-parcel
tracking numbers itself; freight identifiers (container numbers, house bills of lading,
ACSINs) and carrier numbers of other shipments only the seller's own records hold, so
they come from `shipment_tracking_ids` and `shipment_tracking_ids_file` (CSV with a
header, or JSON Lines), like the Amazon Shipping labels of `tracking_ids`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tap_spapi.config.tracking_ids import Listed, listed_in_file
from tap_spapi.errors import SettingError

# getShipmentTracking's query parameters, one per kind of identifier (the model's);
# `carrierTracking` is the pair carrierTracking.trackingNumber + carrierTracking.carrierCode.
KINDS = ("aftn", "acsin", "containerNumber", "houseBillOfLadingNumber", "id", "carrierTracking")
CARRIER = "carrierTracking"
CARRIER_NUMBER = "carrierTracking.trackingNumber"
COLUMNS = ("type", "value")


@dataclass(frozen=True, order=True)
class ShipmentIdentifier:
    """One identifier to ask getShipmentTracking for."""

    kind: str
    value: str
    carrier_code: str | None = None
    #: The `accounts` entry whose shipment it is (optional; else the first account).
    account: str | None = None

    def as_context(self) -> dict[str, str]:
        """The stream context (and state partition) of this identifier."""
        context = {"identifierType": self.kind, "identifierValue": self.value}
        if self.carrier_code:
            context["carrierCode"] = self.carrier_code
        return context

    def query(self) -> dict[str, str]:
        """getShipmentTracking's query parameters for this identifier."""
        if self.kind != CARRIER:
            return {self.kind: self.value}
        params = {CARRIER_NUMBER: self.value}
        if self.carrier_code:
            params["carrierTracking.carrierCode"] = self.carrier_code
        return params


def _text(row: Mapping[str, Any], column: str, where: str, setting: str) -> str | None:
    value = row.get(column) or None  # an empty CSV cell: not given
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise SettingError(setting, f"{where}: '{column}' must be text")
    return value.strip() if value else None


def _identifier(row: Any, where: str, setting: str) -> ShipmentIdentifier:
    if not isinstance(row, Mapping):
        raise SettingError(setting, f"{where}: expected an object with type and value")
    kind, value = (_text(row, column, where, setting) for column in COLUMNS)
    if kind not in KINDS:
        raise SettingError(setting, f"{where}: 'type' must be one of {', '.join(KINDS)}")
    if value is None:
        raise SettingError(setting, f"{where}: 'value' is missing or empty")
    carrier = _text(row, "carrier_code", where, setting)
    if carrier and kind != CARRIER:
        raise SettingError(setting, f"{where}: 'carrier_code' belongs to carrierTracking only")
    return ShipmentIdentifier(kind, value, carrier, _text(row, "account", where, setting))


def listed_identifiers(listed: Any, file: str | None) -> list[Listed[ShipmentIdentifier]]:
    """Every identifier of the setting `shipment_tracking_ids` (`listed`) and of the file
    `shipment_tracking_ids_file` names, in their order, each with where it is listed
    (`item 2` of the setting, `line 5` of the file) for the start-up checks
    (`Settings.identifiers`)."""
    listed = listed or []
    if not isinstance(listed, list):
        raise SettingError("shipment_tracking_ids", "must be a list of {type, value} objects")
    setting = "shipment_tracking_ids"
    found: list[Listed[ShipmentIdentifier]] = []
    for index, row in enumerate(listed, 1):
        where = f"item {index}"
        found.append(Listed(setting, where, _identifier(row, where, setting)))
    return [*found, *listed_in_file(file, "shipment_tracking_ids_file", COLUMNS, _identifier)]


def asked_in(query: Mapping[str, list[str]]) -> tuple[str, str] | None:
    """(kind, value) of the identifier a getShipmentTracking query asks for (what
    `ShipmentIdentifier.query` wrote), None if it names none."""
    for name, values in query.items():
        if name == CARRIER_NUMBER and values:
            return CARRIER, values[0]
        if name in KINDS and values:
            return name, values[0]
    return None
