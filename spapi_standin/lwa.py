"""Login with Amazon: the token endpoint and the registry of every token issued.

The registry remembers, per access token, where it came from (a refresh token, a
grantless scope, or the Tokens API for RDTs) and when it expires, because the access
check answers differently for each: missing, unknown, expired, or valid but not for
this operation.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qs

from spapi_standin.replies import Reply, json_reply

if TYPE_CHECKING:
    from spapi_standin.config import StandInConfig
    from spapi_standin.stats import Stats

TokenKind = Literal["seller", "grantless", "rdt"]
GRANTLESS_ACCOUNT = "grantless"
_TEMPLATE_PARAMETER = re.compile(r"\\\{[^}]*\\\}")


@dataclass(frozen=True)
class RestrictedGrant:
    """One restricted resource an RDT was issued for."""

    method: str
    path: str

    def covers(self, method: str, path: str) -> bool:
        """A concrete path covers itself; `{param}` in a template covers any one segment."""
        if method.upper() != self.method.upper():
            return False
        if "{" not in self.path:
            return path == self.path
        pattern = "^" + _TEMPLATE_PARAMETER.sub("[^/]+", re.escape(self.path)) + "$"
        return re.match(pattern, path) is not None


@dataclass
class IssuedToken:
    """An access token (or RDT) the stand-in handed out."""

    value: str
    kind: TokenKind
    account: str  # the refresh token behind it, or "grantless"
    expires_at: float  # time.monotonic()
    scope: str | None = None
    resources: tuple[RestrictedGrant, ...] = ()

    @property
    def expired(self) -> bool:
        """Past its lifetime (or force-expired by a test)."""
        return time.monotonic() >= self.expires_at


class TokenRegistry:
    """Every token issued, by value (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, IssuedToken] = {}

    def issue(
        self,
        kind: TokenKind,
        account: str,
        lifetime: float,
        *,
        scope: str | None = None,
        resources: tuple[RestrictedGrant, ...] = (),
    ) -> IssuedToken:
        """A new random token of `kind`, valid for `lifetime` seconds."""
        prefix = "Atz.sprdt|" if kind == "rdt" else "Atza|"
        token = IssuedToken(
            prefix + secrets.token_urlsafe(48),
            kind,
            account,
            time.monotonic() + lifetime,
            scope,
            resources,
        )
        with self._lock:
            self._tokens[token.value] = token
        return token

    def get(self, value: str) -> IssuedToken | None:
        """The token with this value, if the stand-in issued it."""
        with self._lock:
            return self._tokens.get(value)

    def expire_all(self) -> None:
        """Make every token issued so far expired (Amazon revoking sessions early)."""
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = 0.0

    def values(self) -> list[str]:
        """Every token value issued (tests check that none leaks into logs)."""
        with self._lock:
            return list(self._tokens)


def lwa_error(code: str, description: str) -> Reply:
    """LWA's error body; 401 for client authentication failures, else 400."""
    status = 401 if code == "invalid_client" else 400
    return json_reply({"error": code, "error_description": description}, status)


def parse_form(content_type: str, body: bytes) -> dict[str, str]:
    """The grant fields, form-encoded (Python/JS clients) or JSON (the Java client)."""
    if "json" in content_type.lower():
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in document.items()} if isinstance(document, dict) else {}
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}


class LwaEndpoint:
    """`POST /auth/o2/token` for the refresh_token and client_credentials grants."""

    def __init__(self, config: StandInConfig, registry: TokenRegistry, stats: Stats) -> None:
        self.config = config
        self.registry = registry
        self.stats = stats

    def handle(self, content_type: str, body: bytes) -> Reply:
        """Validate the grant and issue a token, or answer LWA's error."""
        form = parse_form(content_type, body)
        grant = form.get("grant_type")
        if not grant:
            return lwa_error(
                "invalid_request", "The request is missing a required parameter : grant_type"
            )
        if grant not in ("refresh_token", "client_credentials"):
            return lwa_error("unsupported_grant_type", f"The grant type {grant} is not supported")
        problem = self._client_problem(form)
        if problem is not None:
            return problem
        if grant == "refresh_token":
            return self._refresh(form)
        return self._client_credentials(form)

    def _client_problem(self, form: dict[str, str]) -> Reply | None:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if not client_id or not secret:
            return lwa_error("invalid_request", "The request is missing client_id or client_secret")
        valid_id = secrets.compare_digest(client_id, self.config.client_id)
        valid_secret = secrets.compare_digest(secret, self.config.client_secret)
        if not (valid_id and valid_secret):
            return lwa_error("invalid_client", "Client authentication failed")
        return None

    def _refresh(self, form: dict[str, str]) -> Reply:
        refresh_token = form.get("refresh_token")
        if not refresh_token:
            return lwa_error(
                "invalid_request", "The request is missing a required parameter : refresh_token"
            )
        if refresh_token not in self.config.refresh_tokens:
            return lwa_error(
                "invalid_grant", "The request has an invalid grant parameter : refresh_token"
            )
        token = self.registry.issue("seller", refresh_token, self.config.token_lifetime)
        self.stats.add("lwa", "refresh_token")
        return json_reply(
            {
                "access_token": token.value,
                "refresh_token": refresh_token,
                "token_type": "bearer",
                "expires_in": self.config.token_lifetime,
            }
        )

    def _client_credentials(self, form: dict[str, str]) -> Reply:
        scope = form.get("scope")
        if not scope:
            return lwa_error(
                "invalid_request", "The request is missing a required parameter : scope"
            )
        if scope not in self.config.grantless_scopes:
            return lwa_error("invalid_scope", f"The scope {scope} is not valid for this client")
        token = self.registry.issue(
            "grantless", GRANTLESS_ACCOUNT, self.config.token_lifetime, scope=scope
        )
        self.stats.add("lwa", "client_credentials")
        return json_reply(
            {
                "access_token": token.value,
                "scope": scope,
                "token_type": "bearer",
                "expires_in": self.config.token_lifetime,
            }
        )
