"""One selling-partner account: its endpoint, credentials, usage-plan pacing and sessions.

Everything that must be shared by all streams and threads of an account (the LWA
token, RDTs, STS keys, the rate limiter, the connection pool) lives here, built once
per run by the tap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import requests

from tap_spapi.amazon.operations import OperationCatalog, load_catalog
from tap_spapi.amazon.regions import LWA_TOKEN_URL, REGIONS
from tap_spapi.errors import AuthError
from tap_spapi.wire.auth import RestrictedDataTokens, SigV4Signer, SPAPIAuth
from tap_spapi.wire.pacing import RateLimiter
from tap_spapi.wire.responses import amazon_error
from tap_spapi.wire.retries import RetryPolicy, ThrottledError, TransientFault
from tap_spapi.wire.transport import PacedAdapter, paced_session

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tap_spapi.wire.pacing import UsagePlan

# Faults: five attempts, 2 s, 4 s, 8 s and 10 s apart. 429s: waits of a refill of the
# Tokens API's plan (1/s) and longer, until max_retry_seconds (retries.py).
RDT_RETRIES = RetryPolicy(max_faults=4, first_wait=2.0, max_wait=10.0, jitter=False)


# Connections kept beyond the workers' (see `Account.__init__`).
POOL_BEYOND_WORKERS = 16


class SharedSettings(Protocol):
    """What the accounts of a run share, as an account's requests read it.

    The run's typed `Settings` (config/settings.py) is the one object that has these;
    config is a layer above wire, so this names, read-only, the part the wire reads.
    """

    @property
    def client_id(self) -> str: ...

    @property
    def client_secret(self) -> str: ...

    @property
    def sandbox(self) -> bool: ...

    @property
    def aws_access_key_id(self) -> str | None: ...

    @property
    def aws_secret_access_key(self) -> str | None: ...

    @property
    def aws_session_token(self) -> str | None: ...

    @property
    def role_arn(self) -> str | None: ...

    @property
    def user_agent(self) -> str: ...

    @property
    def request_timeout(self) -> float: ...

    @property
    def max_retry_seconds(self) -> float: ...

    @property
    def max_concurrency(self) -> int: ...

    @property
    def rate_limits(self) -> Mapping[str, UsagePlan]: ...


@dataclass(frozen=True, kw_only=True)
class AccountSettings:
    """One account's own settings (an `accounts` entry, or the top-level account) and the
    run's shared ones by reference; built by config/accounts_setting.py.

    `region`, `api_url` and `lwa_token_url` are the account's as it resolves them: the
    entry's, else the top-level setting. No defaults here: they are the schema's
    (settings.py), filled in by `Settings`.
    """

    #: The run's settings, shared by every account (its `Settings`; nothing is copied).
    shared: SharedSettings
    name: str
    refresh_token: str
    region: str
    marketplace_ids: tuple[str, ...]
    selling_partner_id: str | None
    api_url: str | None
    lwa_token_url: str | None


class Account:
    """Endpoint, auth, pacing and HTTP sessions of one selling-partner account."""

    def __init__(self, settings: AccountSettings, catalog: OperationCatalog | None = None) -> None:
        self.settings = settings
        shared = settings.shared
        self.catalog = catalog or load_catalog()
        region = REGIONS[settings.region]
        if settings.api_url:
            self.base_url = settings.api_url.rstrip("/")
        else:
            self.base_url = region.sandbox_url if shared.sandbox else region.production_url
        self.limiter = RateLimiter.from_catalog(overrides=shared.rate_limits)
        self.auth = SPAPIAuth(
            catalog=self.catalog,
            client_id=shared.client_id,
            client_secret=shared.client_secret,
            refresh_token=settings.refresh_token,
            lwa_token_url=settings.lwa_token_url or LWA_TOKEN_URL,
            user_agent=shared.user_agent,
            timeout=shared.request_timeout,
            signer=self._signer(region.aws_region),
        )
        self.adapter = PacedAdapter(
            catalog=self.catalog,
            limiter=self.limiter,
            auth=self.auth,
            # Besides the workers, the main thread, the read-ahead readers and the page
            # walkers send through this adapter: a pool sized to the workers alone made
            # urllib3 warn "Connection pool is full, discarding connection" in a demo run.
            pool_maxsize=max(10, shared.max_concurrency) + POOL_BEYOND_WORKERS,
        )
        self.auth.rdt = RestrictedDataTokens(issue=self._issue_rdt)
        self._rdt_session = self.session()

    @property
    def name(self) -> str:
        """The account's name (used in messages, and in state once accounts multiply)."""
        return self.settings.name

    def _signer(self, aws_region: str) -> SigV4Signer | None:
        settings = self.settings.shared
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
        last: list[requests.Response] = []  # Amazon's last answer, for the message

        def attempt() -> requests.Response:
            try:
                response = self._rdt_session.post(
                    url,
                    json={"restrictedResources": resources},
                    timeout=self.settings.shared.request_timeout,
                )
            except requests.RequestException as exc:
                raise TransientFault(type(exc).__name__) from exc
            last[:] = [response]
            if response.status_code == 429:
                # A throttle, as for every SP-API call: bounded by max_retry_seconds,
                # not by the count of fault retries (a storm would throw the run away).
                raise ThrottledError(f"HTTP 429 from {operation.operation_id}", response)
            if response.status_code >= 500:
                raise TransientFault(response.status_code)
            return response

        def failed(_fault: BaseException | None = None) -> AuthError:
            problem = amazon_error(last[0]).describe() if last else "no response"
            return AuthError(f"account '{self.name}': createRestrictedDataToken failed: {problem}")

        policy = RDT_RETRIES.with_waits(max_seconds=self.settings.shared.max_retry_seconds)
        response = policy.call(attempt, retry_on=(TransientFault, ThrottledError), explain=failed)
        if response.status_code != 200:
            raise failed()
        return response
