"""Buyer PII is opt-in: fields named per stream are removed unless `include_pii` is on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable


def drop_pii(record: dict[str, Any], fields: Iterable[str], *, keep: bool) -> dict[str, Any]:
    """Remove the top-level `fields` from `record` (in place) unless `keep`."""
    if not keep:
        for field in fields:
            record.pop(field, None)
    return record
