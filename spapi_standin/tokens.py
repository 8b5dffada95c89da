"""Tokens 2021-03-01: createRestrictedDataToken, an RDT for the listed method + path resources.

The RDT goes into the token registry (lwa.py) with its grants, which the access check
reads when a restricted operation is called.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from spapi_standin.lwa import RestrictedGrant
from spapi_standin.replies import Reply, error, json_reply

if TYPE_CHECKING:
    from spapi_standin.config import StandInConfig
    from spapi_standin.lwa import TokenRegistry
    from spapi_standin.request import Request

RDT_METHODS = frozenset({"GET", "PUT", "POST", "DELETE"})
MAX_RESTRICTED_RESOURCES = 50


class TokensService:
    """createRestrictedDataToken."""

    def __init__(self, config: StandInConfig, registry: TokenRegistry) -> None:
        self.config = config
        self.registry = registry

    def create_restricted_data_token(self, request: Request) -> Reply:
        """An RDT for the listed method + path resources."""
        assert request.token is not None
        grants = _restricted_resources(request.body)
        if isinstance(grants, Reply):
            return grants
        rdt = self.registry.issue(
            "rdt", request.token.account, self.config.rdt_lifetime, resources=grants
        )
        return json_reply({"restrictedDataToken": rdt.value, "expiresIn": self.config.rdt_lifetime})


def _restricted_resources(body: bytes) -> tuple[RestrictedGrant, ...] | Reply:
    """The grants of a createRestrictedDataToken body, or its 400."""
    try:
        document = json.loads(body or b"null")
    except ValueError:
        return error(400, "InvalidRequest", "The request body is not valid JSON.")
    resources = document.get("restrictedResources") if isinstance(document, dict) else None
    if not isinstance(resources, list) or not resources:
        return error(400, "InvalidRequest", "Resource not provided.")
    if len(resources) > MAX_RESTRICTED_RESOURCES:
        return error(
            400, "InvalidRequest", f"At most {MAX_RESTRICTED_RESOURCES} restricted resources."
        )
    grants = []
    for resource in resources:
        method = resource.get("method") if isinstance(resource, dict) else None
        path = resource.get("path") if isinstance(resource, dict) else None
        if not method or not path or not isinstance(path, str):
            return error(400, "InvalidRequest", "Resource not provided.")
        if method not in RDT_METHODS or not path.startswith("/"):
            return error(400, "InvalidRequest", f"Invalid restricted resource: {method} {path}")
        grants.append(RestrictedGrant(method, path))
    return tuple(grants)
