"""Amazon Shipping labels to track, from the `tracking_ids` setting and a file.

Amazon Shipping v2 has no operation that lists shipments or trackings: ids come from
whoever bought the labels, so users hand them to the tap as a list or a file that
their label-buying system writes (CSV with a header, or JSON Lines).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tap_spapi.errors import SettingError

COLUMNS = ("tracking_id", "carrier_id")


@dataclass(frozen=True, order=True)
class TrackedLabel:
    """One label to poll with getTracking."""

    tracking_id: str
    carrier_id: str
    #: The `accounts` entry whose Amazon Shipping account bought it (optional column).
    account: str | None = None

    def as_context(self) -> dict[str, str]:
        """The stream context (and state partition) of this label."""
        return {"trackingId": self.tracking_id, "carrierId": self.carrier_id}


def _label(row: Any, where: str, setting: str) -> TrackedLabel:
    if not isinstance(row, Mapping):
        raise SettingError(setting, f"{where}: expected an object with {', '.join(COLUMNS)}")
    values = [row.get(column) for column in COLUMNS]
    for column, value in zip(COLUMNS, values, strict=True):
        if not isinstance(value, str) or not value.strip():
            raise SettingError(setting, f"{where}: '{column}' is missing or empty")
    account = row.get("account") or None  # an empty CSV cell: no account named
    if account is not None and (not isinstance(account, str) or not account.strip()):
        raise SettingError(setting, f"{where}: 'account' must be an account name")
    return TrackedLabel(
        values[0].strip(),  # type: ignore[union-attr]
        values[1].strip(),  # type: ignore[union-attr]
        account.strip() if account else None,
    )


def from_setting(value: Any) -> list[TrackedLabel]:
    """Labels from the `tracking_ids` setting (a list of objects)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise SettingError("tracking_ids", "must be a list of {tracking_id, carrier_id} objects")
    return [_label(row, f"item {index}", "tracking_ids") for index, row in enumerate(value, 1)]


def _csv_rows(
    lines: Iterable[str], columns: tuple[str, ...], setting: str
) -> Iterator[tuple[int, Any]]:
    reader = csv.DictReader(lines)
    missing = [column for column in columns if column not in (reader.fieldnames or [])]
    if missing:
        raise SettingError(setting, f"line 1: the header lacks {', '.join(missing)}")
    for row in reader:
        yield reader.line_num, row


def _json_lines(lines: Iterable[str], setting: str) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except ValueError:
            raise SettingError(setting, f"line {number}: not valid JSON") from None


def file_rows(path: str, setting: str, columns: tuple[str, ...]) -> list[tuple[int, Any]]:
    """(line number, row) of a CSV (by extension .csv, header naming `columns`) or JSON
    Lines file named by `setting`; errors name the setting and the line."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise SettingError(setting, f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SettingError(
            setting, f"{path} is not UTF-8 text (byte {exc.start} cannot be read)"
        ) from None
    lines = text.splitlines()
    if file.suffix.lower() == ".csv":
        return list(_csv_rows(lines, columns, setting))
    return list(_json_lines(lines, setting))


def from_file(path: str) -> list[TrackedLabel]:
    """Labels from a CSV (by extension .csv) or JSON Lines file; errors name the line."""
    rows = file_rows(path, "tracking_ids_file", COLUMNS)
    return [_label(row, f"line {number}", "tracking_ids_file") for number, row in rows]


def configured_labels(config: Mapping[str, Any]) -> list[TrackedLabel]:
    """Every label from the setting and the file, without duplicates, in a stable order."""
    labels = from_setting(config.get("tracking_ids"))
    if config.get("tracking_ids_file"):
        labels += from_file(config["tracking_ids_file"])
    return sorted(set(labels))
