"""The 200-response schemas of the operations, generated from Amazon's models.

`response_schemas.json` (next to this module) holds, per operationId, the method, the
path template and the fully resolved JSON Schema of the 200 body. Data is generated
from these schemas so the stand-in's answers have exactly the models' shapes. Some
operationIds exist in several APIs (`getShipment`), so lookups go by method + path.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

PACKAGED = Path(__file__).with_name("response_schemas.json")
# Points the stand-in at another schema file (development against a re-generated one).
ENV_OVERRIDE = "SPAPI_STANDIN_RESPONSE_SCHEMAS"

Schema = dict[str, Any]


@dataclass(frozen=True)
class ResponseSchemas:
    """Response schemas by (method, path template)."""

    by_route: dict[tuple[str, str], Schema]

    def response(self, method: str, path: str) -> Schema:
        """The 200 body schema of the operation at `method path`."""
        try:
            return self.by_route[(method.upper(), path)]
        except KeyError:
            raise KeyError(f"no response schema for {method} {path}") from None

    def payload(self, method: str, path: str) -> Schema:
        """The schema of `payload` in a `{payload, errors}` envelope."""
        return dict(self.response(method, path)["properties"]["payload"])

    def item(self, method: str, path: str, *keys: str) -> Schema:
        """The schema found by walking `keys` (property names; "[]" = array items)."""
        node = self.response(method, path)
        for key in keys:
            node = node["items"] if key == "[]" else node["properties"][key]
        return dict(node)


def schemas_path(explicit: Path | None = None) -> Path:
    """The schema file: `explicit`, then $SPAPI_STANDIN_RESPONSE_SCHEMAS, then packaged."""
    if explicit is not None:
        return explicit
    override = os.environ.get(ENV_OVERRIDE)
    return Path(override) if override else PACKAGED


@cache
def load_schemas(path: Path) -> ResponseSchemas:
    """Parse the schema file once per process (it is large and never changes)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path} is missing: it is generated from Amazon's models by "
            "scripts/generate_from_models.py"
        ) from None
    routes = {
        (spec["method"].upper(), spec["path"]): spec["response"]
        for spec in raw["operations"].values()
        if spec.get("response")
    }
    return ResponseSchemas(routes)
