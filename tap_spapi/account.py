"""One selling-partner account: its endpoint, credentials, usage-plan pacing and sessions.

Everything that must be shared by all streams and threads of an account (the LWA
token, RDTs, STS keys, the rate limiter, the connection pool) lives here, built once
per run by the tap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from tap_spapi.auth import RestrictedDataTokens, SigV4Signer, SPAPIAuth
from tap_spapi.errors import AmazonError, AuthError
from tap_spapi.operations import OperationCatalog, load_catalog
from tap_spapi.pacing import RateLimiter, parse_rate_limit_overrides
from tap_spapi.regions import LWA_TOKEN_URL, REGIONS
from tap_spapi.transport import PacedAdapter, paced_session

if TYPE_CHECKING:
    from collections.abc import Mapping

RDT_ATTEMPTS = 5


@dataclass(frozen=True)
class AccountSettings:
    """The settings of one account (see accounts.py for how the config yields them)."""

    name: str
    client_id: str
    client_secret: str
    refresh_token: str
    region: str = "na"
    marketplace_ids: tuple[str, ...] = ()
    selling_partner_id: str | None = None
    sandbox: bool = False
    api_url: str | None = None
    lwa_token_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    role_arn: str | None = None
    user_agent: str = "tap-spapi/0.1.0"
    request_timeout: float = 60.0
    rate_limit_overrides: Mapping[str, Any] | None = None
    max_concurrency: int = 16


def amazon_error(response: requests.Response) -> AmazonError:
    """Amazon's `errors[0]` (or LWA's `error`) and the request id from a failed response."""
    code = message = details = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            code = str(first.get("code") or "")
            message = str(first.get("message") or "")
            details = str(first.get("details") or "")
    elif response.text:
        message = f"non-JSON body: {response.text[:200]!r}"
    return AmazonError(
        status=response.status_code,
        code=code,
        message=message,
        details=details,
        request_id=response.headers.get("x-amzn-RequestId", ""),
    )


class Account:
    """Endpoint, auth, pacing and HTTP sessions of one selling-partner account."""

    def __init__(self, settings: AccountSettings, catalog: OperationCatalog | None = None) -> None:
        self.settings = settings
        self.catalog = catalog or load_catalog()
        region = REGIONS[settings.region]
        if settings.api_url:
            self.base_url = settings.api_url.rstrip("/")
        else:
            self.base_url = region.sandbox_url if settings.sandbox else region.production_url
        self.limiter = RateLimiter.from_catalog(
            overrides=parse_rate_limit_overrides(settings.rate_limit_overrides or {})
        )
        self.auth = SPAPIAuth(
            catalog=self.catalog,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            refresh_token=settings.refresh_token,
            lwa_token_url=settings.lwa_token_url or LWA_TOKEN_URL,
            user_agent=settings.user_agent,
            timeout=settings.request_timeout,
            signer=self._signer(region.aws_region),
        )
        self.adapter = PacedAdapter(
            catalog=self.catalog,
            limiter=self.limiter,
            auth=self.auth,
            pool_maxsize=max(10, settings.max_concurrency),
        )
        self.auth.rdt = RestrictedDataTokens(issue=self._issue_rdt)
        self._rdt_session = self.session()

    @property
    def name(self) -> str:
        """The account's name (used in messages, and in state once accounts multiply)."""
        return self.settings.name

    def _signer(self, aws_region: str) -> SigV4Signer | None:
        settings = self.settings
        if not (settings.aws_access_key_id and settings.aws_secret_access_key):
            return None
        return SigV4Signer(
            access_key_id=settings.aws_access_key_id,
            secret_access_key=settings.aws_secret_access_key,
            session_token=settings.aws_session_token,
            role_arn=settings.role_arn,
            aws_region=aws_region,
        )

    def close(self) -> None:
        """Wake requests waiting for a token (idempotent)."""
        self.limiter.close()

    def session(self) -> requests.Session:
        """A new session (one per stream or worker thread) sharing this account's adapter."""
        return paced_session(self.adapter)

    def _issue_rdt(self, resources: list[dict[str, Any]]) -> requests.Response:
        """POST createRestrictedDataToken, retrying throttles and server faults."""
        operation = self.catalog[RestrictedDataTokens.OPERATION]
        url = self.base_url + operation.path
        response: requests.Response | None = None
        for attempt in range(RDT_ATTEMPTS):
            if attempt:
                time.sleep(min(2.0**attempt, 10.0))
            try:
                response = self._rdt_session.post(
                    url,
                    json={"restrictedResources": resources},
                    timeout=self.settings.request_timeout,
                )
            except requests.RequestException:
                continue
            if response.status_code == 200:
                return response
            if response.status_code != 429 and response.status_code < 500:
                break
        problem = amazon_error(response).describe() if response is not None else "no response"
        raise AuthError(f"account '{self.name}': createRestrictedDataToken failed: {problem}")
