"""Buyer PII is opt-in: fields named per stream are removed unless `include_pii` is on.

A field is named by its dotted path from the record's top (`buyer`, or
`fulfillment.packing.giftOption.giftMessage`); arrays on the way are walked through, so
a path reaches the field in every element.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable


def drop_pii(record: dict[str, Any], fields: Iterable[str], *, keep: bool) -> dict[str, Any]:
    """Remove the `fields` (dotted paths) from `record` (in place) unless `keep`."""
    if not keep:
        for field in fields:
            _drop(record, field.split("."))
    return record


def schema_without_pii(schema: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """A copy of the JSON `schema` without the properties the `fields` paths name."""
    pruned = _copy_properties(schema)
    for field in fields:
        _prune(pruned, field.split("."))
    return pruned


def _drop(node: Any, path: list[str]) -> None:
    if isinstance(node, list):
        for element in node:
            _drop(element, path)
        return
    if not isinstance(node, dict):
        return
    head, *rest = path
    if rest:
        _drop(node.get(head), rest)
    else:
        node.pop(head, None)


def _prune(schema: dict[str, Any], path: list[str]) -> None:
    while "items" in schema and "properties" not in schema:  # an array of objects
        schema = schema["items"]
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return
    head, *rest = path
    if rest:
        if isinstance(properties.get(head), dict):
            _prune(properties[head], rest)
    else:
        properties.pop(head, None)


def _copy_properties(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy deep enough that pruning leaves the original intact (properties, items)."""
    copied = dict(schema)
    if isinstance(schema.get("properties"), dict):
        copied["properties"] = {k: _copy_properties(v) for k, v in schema["properties"].items()}
    if isinstance(schema.get("items"), dict):
        copied["items"] = _copy_properties(schema["items"])
    return copied
