"""The request a handler of the stand-in sees: authorised, parsed, its path parameters
filled in. Its own module, so that the operations' table and the services it routes to
both import it, and neither imports the other's module for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spapi_standin.lwa import IssuedToken

Query = Mapping[str, list[str]]


@dataclass(frozen=True)
class Request:
    """An authorised request, as handlers see it (header names lower-cased)."""

    method: str
    path: str
    query: Query
    headers: Mapping[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    token: IssuedToken | None = None

    def first(self, name: str) -> str | None:
        """The first value of query parameter `name` ("" counts as absent)."""
        values = self.query.get(name)
        return values[0] if values and values[0] != "" else None

    def csv(self, name: str) -> list[str] | None:
        """An array parameter: comma-separated (Swagger's default) and/or repeated."""
        values = self.query.get(name)
        if not values:
            return None
        return [item for value in values for item in value.split(",") if item]
