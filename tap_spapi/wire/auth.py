"""Credentials for one selling-partner account: LWA, grantless, RDT and SigV4/STS.

One `SPAPIAuth` object per account is shared by every stream and worker thread of
that account. singer-sdk calls an authenticator twice per attempt (when the request is
prepared and again just before it is sent) and once more per retry, so everything
here is idempotent: headers are overwritten, never appended, and tokens come from
thread-safe caches that refresh once however many threads ask at the same moment.
"""

from __future__ import annotations

import platform
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from singer_sdk.authenticators import APIAuthenticatorBase
from typing_extensions import override

from tap_spapi.errors import AuthError
from tap_spapi.wire.redact import register_secret
from tap_spapi.wire.retries import RetryPolicy, TransientFault

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from botocore.credentials import Credentials

    from tap_spapi.amazon.operations import Operation, OperationCatalog

# Refresh a cached token this long before Amazon says it expires, so a request prepared
# just before expiry is not sent with a token that dies in flight (Amazon's own Python
# client uses 30 s; a minute also covers clock skew and slow retries).
EXPIRY_MARGIN_SECONDS = 60.0
# LWA has no usage plan to pace by: four attempts, 2 s, 4 s and 8 s apart.
LWA_RETRIES = RetryPolicy(max_faults=3, first_wait=2.0, max_wait=10.0, jitter=False)
ACCESS_TOKEN_HEADER = "x-amz-access-token"

# LWA error codes and the setting a user should look at for each.
_LWA_ERROR_HINTS = {
    "invalid_grant": (
        "check setting 'refresh_token' or the account's entry in 'accounts' "
        "(revoked, expired or of another app)"
    ),
    "invalid_client": "check settings 'client_id' and 'client_secret'",
    "unauthorized_client": "the application is not authorised for this grant",
    "invalid_scope": "the grantless scope is not allowed for this application",
    "invalid_request": "the token request was malformed",
    "access_denied": "the selling partner denied access",
}


def _lwa_failed(fault: BaseException) -> AuthError:
    return AuthError(f"Login with Amazon token request failed: {fault}")


@dataclass
class _CachedToken:
    value: str
    refresh_at: float

    @classmethod
    def lasting(cls, value: str, lifetime: float, now: float) -> _CachedToken:
        """A token valid for `lifetime` s, refreshed a margin early (a tenth of short lives)."""
        margin = min(EXPIRY_MARGIN_SECONDS, lifetime / 10)
        return cls(value, now + lifetime - margin)


class LwaTokenManager:
    """Login with Amazon access tokens for one grant, cached until shortly before expiry."""

    def __init__(
        self,
        *,
        token_url: str,
        grant: dict[str, str],
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token_url = token_url
        self._grant = grant
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: _CachedToken | None = None
        self._session = requests.Session()
        for key in ("client_secret", "refresh_token"):
            register_secret(grant.get(key))

    def token(self) -> str:
        """A live access token, fetched at most once by however many threads ask."""
        with self._lock:
            cached = self._cached
            if cached is None or self._clock() >= cached.refresh_at:
                cached = self._cached = self._fetch()
            return cached.value

    def invalidate(self, token: str) -> bool:
        """Forget `token` if it is the cached one (Amazon said it expired).

        Comparing first means N threads that all saw the same rejected token cause one
        refresh, not N.
        """
        with self._lock:
            if self._cached is not None and self._cached.value == token:
                self._cached = None
                return True
            return False

    def _fetch(self) -> _CachedToken:
        response = LWA_RETRIES.call(self._attempt, explain=_lwa_failed)
        return self._parse(response)

    def _attempt(self) -> requests.Response:
        """One token request; a dropped connection, 5xx or 429 is worth another."""
        try:
            response = self._session.post(self._token_url, data=self._grant, timeout=self._timeout)
        except requests.RequestException as exc:
            raise TransientFault(f"{type(exc).__name__} talking to {self._token_url}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientFault(f"HTTP {response.status_code} from {self._token_url}")
        return response

    def _parse(self, response: requests.Response) -> _CachedToken:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            # A proxy or a wrong URL: LWA always answers JSON, errors included.
            kind = response.headers.get("Content-Type") or "no content type"
            raise AuthError(
                f"Login with Amazon endpoint {self._token_url} answered HTTP "
                f"{response.status_code} with a body that is not JSON ({kind}: "
                f"{response.text[:100]!r}); check setting 'lwa_token_url'"
            )
        if response.status_code != 200 or not body.get("access_token"):
            code = str(body.get("error") or f"HTTP {response.status_code}")
            hint = _LWA_ERROR_HINTS.get(code, "see Amazon's LWA documentation")
            description = body.get("error_description") or response.reason
            raise AuthError(
                f"Login with Amazon refused the token request: {code}: {description}; {hint}"
            )
        token = str(body["access_token"])
        register_secret(token)
        lifetime = float(body.get("expires_in") or 3600)
        return _CachedToken.lasting(token, lifetime, self._clock())


@dataclass(frozen=True)
class RestrictedResource:
    """One entry of a createRestrictedDataToken request."""

    method: str
    path: str
    data_elements: tuple[str, ...] = ()

    def as_body(self) -> dict[str, Any]:
        """The model's `RestrictedResource` shape."""
        body: dict[str, Any] = {"method": self.method, "path": self.path}
        if self.data_elements:
            body["dataElements"] = list(self.data_elements)
        return body


class RestrictedDataTokens:
    """RDTs from the Tokens API, cached per set of restricted resources until expiry."""

    OPERATION = "createRestrictedDataToken"

    def __init__(
        self,
        *,
        issue: Callable[[list[dict[str, Any]]], requests.Response],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._issue = issue
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[frozenset[RestrictedResource], _CachedToken] = {}

    def token(self, resources: Iterable[RestrictedResource]) -> str:
        """An RDT covering every resource in `resources`."""
        key = frozenset(resources)
        with self._lock:
            cached = self._cache.get(key)
            if cached is None or self._clock() >= cached.refresh_at:
                cached = self._cache[key] = self._fetch(key)
            return cached.value

    def invalidate(self, token: str) -> bool:
        """Forget `token` wherever it is cached."""
        with self._lock:
            stale = [key for key, cached in self._cache.items() if cached.value == token]
            for key in stale:
                del self._cache[key]
            return bool(stale)

    def _fetch(self, resources: frozenset[RestrictedResource]) -> _CachedToken:
        ordered = sorted(resources, key=lambda r: (r.path, r.method))
        response = self._issue([resource.as_body() for resource in ordered])
        body = response.json()
        token = str(body["restrictedDataToken"])
        register_secret(token)
        lifetime = float(body.get("expiresIn") or 3600)
        return _CachedToken.lasting(token, lifetime, self._clock())


# AssumeRole parameters. botocore renews the temporary keys before they expire (15
# minutes ahead); tests shorten their life to watch that happen.
ASSUME_ROLE_ARGS: dict[str, Any] = {"RoleSessionName": "tap-spapi"}


class SigV4Signer:
    """AWS Signature V4 over the final request, with optional STS role assumption.

    botocore does the signing and, with a role, the AssumeRole calls and the renewal of
    temporary keys before they expire (its refreshable credentials are thread-safe), so
    nothing here re-implements AWS's algorithms.
    """

    SERVICE = "execute-api"

    def __init__(
        self,
        *,
        access_key_id: str,
        secret_access_key: str,
        session_token: str | None,
        role_arn: str | None,
        aws_region: str,
    ) -> None:
        from botocore.credentials import Credentials

        for secret in (secret_access_key, session_token):
            register_secret(secret)
        self._aws_region = aws_region
        source = Credentials(access_key_id, secret_access_key, session_token)
        self._credentials = self._assume(source, role_arn) if role_arn else source

    def _assume(self, source: Credentials, role_arn: str) -> Credentials:
        from botocore.credentials import (
            AssumeRoleCredentialFetcher,
            DeferredRefreshableCredentials,
        )
        from botocore.session import Session

        boto_session = Session()

        def create_client(service: str, **kwargs: Any) -> Any:
            # The global STS endpoint unless AWS_ENDPOINT_URL_STS says otherwise.
            return boto_session.create_client(service, region_name=self._aws_region, **kwargs)

        fetcher = AssumeRoleCredentialFetcher(
            client_creator=create_client,
            source_credentials=source,
            role_arn=role_arn,
            extra_args=dict(ASSUME_ROLE_ARGS),
        )
        return DeferredRefreshableCredentials(
            method="assume-role", refresh_using=fetcher.fetch_credentials
        )

    def sign(self, request: requests.PreparedRequest) -> None:
        """Add Authorization, X-Amz-Date and X-Amz-Security-Token to `request`."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        frozen = self._credentials.get_frozen_credentials()
        register_secret(frozen.secret_key)
        register_secret(frozen.token)
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() not in {"authorization", "x-amz-security-token"}
        }
        aws_request = AWSRequest(
            method=request.method, url=request.url, data=request.body or b"", headers=headers
        )
        SigV4Auth(frozen, self.SERVICE, self._aws_region).add_auth(aws_request)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            request.headers.pop(name, None)
            if name in aws_request.headers:
                request.headers[name] = aws_request.headers[name]


def full_user_agent(application: str) -> str:
    """`AppId/Version (Language=Python/x.y.z; Platform=…)` as Amazon asks of every client."""
    language = f"Python/{platform.python_version()}"
    system = f"{platform.system()}/{platform.release()}".replace(";", ",")
    return f"{application} (Language={language}; Platform={system})"[:500]


class SPAPIAuth(APIAuthenticatorBase):
    """Adds the right access token (LWA, grantless or RDT) and, if configured, SigV4."""

    def __init__(
        self,
        *,
        catalog: OperationCatalog,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        lwa_token_url: str,
        user_agent: str,
        timeout: float,
        signer: SigV4Signer | None = None,
    ) -> None:
        super().__init__()
        self._catalog = catalog
        self._client_credentials = {"client_id": client_id, "client_secret": client_secret}
        self._lwa_token_url = lwa_token_url
        self._timeout = timeout
        self.user_agent = full_user_agent(user_agent)
        self.signer = signer
        self.lwa = LwaTokenManager(
            token_url=lwa_token_url,
            grant={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                **self._client_credentials,
            },
            timeout=timeout,
        )
        self._grantless: dict[str, LwaTokenManager] = {}
        self._grantless_lock = threading.Lock()
        self.rdt: RestrictedDataTokens | None = None

    def grantless(self, scope: str) -> LwaTokenManager:
        """The token manager for a grantless `scope` (client_credentials grant)."""
        with self._grantless_lock:
            if scope not in self._grantless:
                self._grantless[scope] = LwaTokenManager(
                    token_url=self._lwa_token_url,
                    grant={
                        "grant_type": "client_credentials",
                        "scope": scope,
                        **self._client_credentials,
                    },
                    timeout=self._timeout,
                )
            return self._grantless[scope]

    def access_token_for(
        self, operation: Operation | None, path: str, *, restricted: bool = False
    ) -> str:
        """Which token authorises a call: an RDT, a grantless token or the seller's.

        `restricted` asks for an RDT where the operation needs one only for some data
        (the document of a restricted report type).
        """
        if operation is not None and (operation.restricted or restricted):
            if self.rdt is None:
                raise AuthError(
                    f"{operation.operation_id} needs a Restricted Data Token "
                    "but no Tokens API client is configured"
                )
            return self.rdt.token([RestrictedResource(operation.method, path)])
        if operation is not None and operation.grantless and operation.scope:
            return self.grantless(operation.scope).token()
        return self.lwa.token()

    @override
    def authenticate_request(
        self, request: requests.PreparedRequest, *, restricted: bool = False
    ) -> requests.PreparedRequest:
        """Overwrite the auth headers of `request` (safe to call any number of times)."""
        path = urlsplit(request.url or "").path
        operation = self._catalog.match(request.method or "GET", path)
        token = self.access_token_for(operation, path, restricted=restricted)
        request.headers[ACCESS_TOKEN_HEADER] = token
        request.headers["x-amz-date"] = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        request.headers["User-Agent"] = self.user_agent
        if self.signer is not None:
            request.headers.pop("x-amz-date")  # SigV4 sets X-Amz-Date itself
            self.signer.sign(request)
        return request

    def invalidate(self, request: requests.PreparedRequest) -> bool:
        """Amazon rejected the token `request` carried as expired: drop it from the caches."""
        token = request.headers.get(ACCESS_TOKEN_HEADER)
        if not token:
            return False
        managers = [self.lwa, *self._grantless.values()]
        dropped = any(manager.invalidate(token) for manager in managers)
        if self.rdt is not None:
            dropped = self.rdt.invalidate(token) or dropped
        return dropped
