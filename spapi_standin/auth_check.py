"""The checks every SP-API request passes before its operation runs.

Headers Amazon requires (x-amz-date, a User-Agent of at most 500 characters), then the
access token: which kind an operation accepts is part of the operation (seller token,
grantless token of a scope, or an RDT covering the exact method and path). The 403
`details` say why, in Amazon's words where known, so clients can tell "expired"
(refresh and retry) from everything else (fatal).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from spapi_standin.replies import Reply, error, invalid_input

if TYPE_CHECKING:
    from collections.abc import Mapping

    from spapi_standin.lwa import IssuedToken, TokenRegistry

ACCESS_TOKEN_HEADER = "x-amz-access-token"
MAX_USER_AGENT = 500
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

MISSING = "Access token is missing in the request header."
UNKNOWN = "The access token you provided is revoked, malformed or invalid."
EXPIRED = "The access token you provided has expired."
WRONG_KIND = "The access token you provided is not valid for this operation."


@dataclass(frozen=True)
class AccessRule:
    """Which token an operation accepts."""

    kind: Literal["seller", "grantless", "restricted", "seller_or_restricted"]
    scope: str | None = None  # for grantless operations


SELLER = AccessRule("seller")
RESTRICTED = AccessRule("restricted")
# getReportDocument: an RDT is needed for restricted report types only (the handler
# decides), and accepted for the others.
SELLER_OR_RESTRICTED = AccessRule("seller_or_restricted")


def denied(details: str) -> Reply:
    """Amazon's 403 for token problems."""
    return error(403, "Unauthorized", "Access to requested resource is denied.", details)


def check_headers(headers: Mapping[str, str]) -> Reply | None:
    """400 InvalidInput unless x-amz-date and a short enough User-Agent are present."""
    amz_date = headers.get("x-amz-date")
    if not amz_date:
        return invalid_input("Missing required header: x-amz-date")
    try:
        datetime.strptime(amz_date, AMZ_DATE_FORMAT)  # noqa: DTZ007 - the format ends in a literal Z
    except ValueError:
        return invalid_input("Header x-amz-date must look like 20260101T000000Z")
    agent = headers.get("user-agent")
    if not agent:
        return invalid_input("Missing required header: User-Agent")
    if len(agent) > MAX_USER_AGENT:
        return invalid_input(f"User-Agent is longer than {MAX_USER_AGENT} characters")
    return None


def check_access(
    registry: TokenRegistry, rule: AccessRule, method: str, path: str, presented: str | None
) -> IssuedToken | Reply:
    """The token that authorises this call, or the 403 saying why none does."""
    if not presented:
        return denied(MISSING)
    token = registry.get(presented)
    if token is None:
        return denied(UNKNOWN)
    if token.expired:
        return denied(EXPIRED)
    if not _accepted(rule, token, method, path):
        return denied(WRONG_KIND)
    return token


def _accepted(rule: AccessRule, token: IssuedToken, method: str, path: str) -> bool:
    if rule.kind == "seller":
        return token.kind == "seller"
    if rule.kind == "seller_or_restricted" and token.kind == "seller":
        return True
    if rule.kind == "grantless":
        return token.kind == "grantless" and token.scope == rule.scope
    return token.kind == "rdt" and any(grant.covers(method, path) for grant in token.resources)
