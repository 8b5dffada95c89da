"""The SP-API operations the tap knows, generated from Amazon's models.

`operations.json` is written by `scripts/generate_from_models.py`: per operation id its
method, path template, default usage plan, whether it needs a Restricted Data Token and
the enum values of its query parameters.
Auth and pacing look operations up by the request they see (method + concrete path),
so any request, from any stream or helper, is paced and authorised the same way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

_PARAM = re.compile(r"\\\{[^}]+\\\}")


@dataclass(frozen=True)
class Operation:
    """One SP-API operation as described by its model."""

    operation_id: str
    api: str
    method: str
    path: str
    rate: float
    burst: int
    restricted: bool
    grantless: bool
    scope: str | None = None
    #: The model prints no usage plan: rate and burst are the generator's fallback, and
    #: the pacer adopts the rate of Amazon's `x-amzn-RateLimit-Limit` (pacing.py).
    fallback_plan: bool = False
    #: Query parameter -> the values the model allows (e.g. getShipments' statuses).
    query_enums: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    @property
    def path_pattern(self) -> re.Pattern[str]:
        """Regex matching concrete paths of this operation ({param} = one segment)."""
        return re.compile("^" + _PARAM.sub(r"[^/]+", re.escape(self.path)) + "$")


class OperationCatalog:
    """Operations by id, and lookup of the operation a request calls."""

    def __init__(self, operations: dict[str, Operation]) -> None:
        self._by_id = operations
        # Literal paths before templated ones, so /shipments/additionalInputs/schema is
        # not mistaken for /shipments/{shipmentId}.
        self._ordered = sorted(
            operations.values(), key=lambda op: (op.path.count("{"), -len(op.path))
        )
        self._patterns = [(op, op.path_pattern) for op in self._ordered]

    def __getitem__(self, operation_id: str) -> Operation:
        try:
            return self._by_id[operation_id]
        except KeyError:
            raise KeyError(f"unknown SP-API operation id {operation_id!r}") from None

    def __contains__(self, operation_id: object) -> bool:
        return operation_id in self._by_id

    def __iter__(self):  # type: ignore[no-untyped-def]  # noqa: ANN204 - plain iterator
        return iter(self._by_id.values())

    def match(self, method: str, path: str) -> Operation | None:
        """The operation a `method` request to `path` calls, or None for foreign URLs."""
        method = method.upper()
        for operation, pattern in self._patterns:
            if operation.method == method and pattern.match(path):
                return operation
        return None


@cache
def load_catalog() -> OperationCatalog:
    """The packaged catalog (cached: it is read once per process)."""
    text = (
        resources.files("tap_spapi.amazon").joinpath("operations.json").read_text(encoding="utf-8")
    )
    raw: dict[str, dict[str, Any]] = json.loads(text)["operations"]
    return OperationCatalog(
        {
            op_id: Operation(
                operation_id=op_id,
                api=spec["api"],
                method=spec["method"].upper(),
                path=spec["path"],
                rate=float(spec["rate"]),
                burst=int(spec["burst"]),
                restricted=bool(spec.get("restricted")),
                grantless=bool(spec.get("grantless")),
                scope=spec.get("scope"),
                fallback_plan=bool(spec.get("fallback_plan")),
                query_enums={
                    name: tuple(values) for name, values in spec.get("query_enums", {}).items()
                },
            )
            for op_id, spec in raw.items()
        }
    )
