"""Amazon Shipping labels to track, from the `tracking_ids` setting and a file.

Amazon Shipping v2 has no operation that lists shipments or trackings: ids come from
whoever bought the labels, so users hand them to the tap as a list or a file that
their label-buying system writes (CSV with a header, or JSON Lines).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from tap_spapi.errors import SettingError

COLUMNS = ("tracking_id", "carrier_id")
T = TypeVar("T")


@dataclass(frozen=True)
class Listed(Generic[T]):
    """One id as the settings list it: the setting, where in it (`item 2`, `line 5`)."""

    setting: str
    where: str
    item: T


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
    if not text.strip():
        # No ids, whichever setting names the file and whatever its format: a CSV
        # without even its header is as empty as a JSON Lines file without a line
        # (the start-up checks warn of it).
        return []
    if file.suffix.lower() == ".csv":
        return list(_csv_rows(lines, columns, setting))
    return list(_json_lines(lines, setting))


def listed_labels(listed: Any, file: str | None) -> list[Listed[TrackedLabel]]:
    """Every label of the setting `tracking_ids` (`listed`) and of the file
    `tracking_ids_file` names, in their order, each with where it is listed (`item 2` of
    the setting, `line 5` of the file) for the start-up checks (`Settings.labels`)."""
    found = [
        Listed("tracking_ids", f"item {index}", label)
        for index, label in enumerate(from_setting(listed), 1)
    ]
    return [*found, *listed_in_file(file, "tracking_ids_file", COLUMNS, _label)]


def listed_in_file(
    path: str | None,
    setting: str,
    columns: tuple[str, ...],
    parse: Callable[[dict[str, Any], str, str], T],
) -> list[Listed[T]]:
    """The items of the file at `path`, which setting `setting` names (none if unset),
    each parsed by `parse(row, where, setting)` and kept with its line."""
    if not path:
        return []
    return [
        Listed(setting, f"line {number}", parse(row, f"line {number}", setting))
        for number, row in file_rows(path, setting, columns)
    ]
