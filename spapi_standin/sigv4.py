"""AWS Signature V4 verification, delegated to botocore so nothing is re-implemented.

The request is rebuilt as botocore would have seen it when signing: same method, full
URL with the query string exactly as sent, same body, and only the headers the client
listed in SignedHeaders; botocore then recomputes the canonical request, string to
sign and signature, which must equal the one presented. botocore is imported only
when a request is verified, so the stand-in runs on the standard library otherwise.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spapi_standin.replies import Reply, error

if TYPE_CHECKING:
    from collections.abc import Mapping

    from spapi_standin.config import StandInConfig
    from spapi_standin.stats import Stats

SERVICE = "execute-api"
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*Signature=(?P<signature>[0-9a-f]+)\s*$"
)
MISMATCH = "The request signature we calculated does not match the signature you provided."


@dataclass(frozen=True)
class SignedRequest:
    """What the verifier needs of an incoming request (header names lower-cased)."""

    method: str
    url: str  # scheme://host/path?query exactly as received
    headers: Mapping[str, str]
    body: bytes


def invalid_signature(details: str = "") -> Reply:
    """403 InvalidSignature."""
    return error(403, "InvalidSignature", MISMATCH, details)


class SigV4Verifier:
    """Checks Authorization headers against known AWS secrets."""

    def __init__(self, config: StandInConfig, stats: Stats) -> None:
        self.config = config
        self.stats = stats

    def applies(self, headers: Mapping[str, str]) -> bool:
        """Verify when required, or when a signature is sent and secrets are known."""
        if self.config.require_sigv4:
            return True
        known = bool(self.config.aws_credentials) or self.config.aws_secret_lookup is not None
        return known and "authorization" in headers

    def verify(self, request: SignedRequest) -> Reply | None:
        """None if the signature is valid, else the 403 to answer (and count it)."""
        problem = self._problem(request)
        self.stats.add("sigv4", "failed" if problem else "verified")
        return invalid_signature(problem) if problem else None

    def _secret(self, access_key_id: str) -> str | None:
        secret = self.config.aws_credentials.get(access_key_id)
        if secret is None and self.config.aws_secret_lookup is not None:
            secret = self.config.aws_secret_lookup(access_key_id)
        return secret

    def _problem(self, request: SignedRequest) -> str:
        """Why the signature is not acceptable ("" when it is)."""
        match = _AUTHORIZATION.match(request.headers.get("authorization", ""))
        if match is None:
            return "Missing or malformed Authorization header."
        parts = match["credential"].split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            return "Malformed credential scope."
        access_key_id, date, region, service, _ = parts
        if service != SERVICE:
            return f"Credential should be scoped to correct service: '{SERVICE}'."
        if region != self.config.aws_region:
            return f"Credential should be scoped to a valid region: '{self.config.aws_region}'."
        timestamp = request.headers.get("x-amz-date", "")
        if not timestamp.startswith(date):
            return "Credential date does not match X-Amz-Date."
        secret = self._secret(access_key_id)
        if secret is None:
            return "The security token included in the request is invalid."
        expected = _signature(request, match["signed"], access_key_id, secret, region, timestamp)
        return "" if hmac.compare_digest(expected, match["signature"]) else "Signature mismatch."


def _signature(
    request: SignedRequest,
    signed: str,
    access_key_id: str,
    secret: str,
    region: str,
    timestamp: str,
) -> str:
    """botocore's signature of `request` restricted to the `signed` headers."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    names = signed.split(";")
    headers = {name: request.headers[name] for name in names if name in request.headers}
    rebuilt = AWSRequest(method=request.method, url=request.url, data=request.body, headers=headers)
    rebuilt.context["timestamp"] = timestamp
    token = request.headers.get("x-amz-security-token")
    signer = SigV4Auth(Credentials(access_key_id, secret, token), SERVICE, region)
    canonical = signer.canonical_request(rebuilt)
    return str(signer.signature(signer.string_to_sign(rebuilt, canonical), rebuilt))
