"""The last step of every SP-API request: wait for a usage-plan token, authenticate, send.

This is a `requests` transport adapter rather than code in the stream because it is the
one place that runs exactly once per HTTP attempt, inside singer-sdk's retry loop and
next to the wait: retries pay for a token like first attempts do, and a request that
waited long for a token is authenticated again, so it never leaves with an access token
or SigV4 date that expired while it queued.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from typing_extensions import override

from tap_spapi.wire.headers import (
    RESTRICTED_HEADER,
    TAP_HEADERS,
    account_of,
)
from tap_spapi.wire.responses import SPAPIResponse

if TYPE_CHECKING:
    from collections.abc import Callable

    from tap_spapi.amazon.operations import Operation, OperationCatalog
    from tap_spapi.wire.auth import SPAPIAuth
    from tap_spapi.wire.pacing import RateLimiter

RATE_LIMIT_HEADER = "x-amzn-RateLimit-Limit"
# Seconds of waiting for a usage-plan token after which a request is authenticated
# again: cheap (tokens and keys are cached) unless one expired during the wait, which
# for createReport's one-a-minute plan is a real possibility.
REAUTHENTICATE_AFTER = 1.0


class PacedAdapter(HTTPAdapter):
    """Paces, authenticates and sends requests to one account's SP-API endpoint."""

    def __init__(
        self,
        *,
        catalog: OperationCatalog,
        limiter: RateLimiter,
        auth: SPAPIAuth,
        pool_maxsize: int = 10,
    ) -> None:
        super().__init__(pool_connections=4, pool_maxsize=pool_maxsize)
        self._catalog = catalog
        self._limiter = limiter
        self._auth = auth
        #: Operations Amazon answered with a success this run: a 403 on one of them is
        #: about the request (one id), not a role the application lacks.
        self.succeeded: set[str] = set()
        #: Whether the endpoint ever answered with JSON (Amazon always does, errors too);
        #: until then a refused connection or an HTML page means a wrong endpoint.
        self.answered = False

    def operation_of(self, request: requests.PreparedRequest) -> Operation | None:
        """The SP-API operation `request` calls, or None (e.g. a pre-signed S3 URL)."""
        return self._catalog.match(request.method or "GET", urlsplit(request.url or "").path)

    @override
    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        """Wait for a token, authenticate, send, and learn from the response's headers."""
        operation = self.operation_of(request)
        if operation is None:
            return super().send(request, *args, **kwargs)
        # The tap's own headers are off the request while it is on the wire (Amazon
        # never sees them) and back on it after, for retries and for `response.request`.
        ours = {name: request.headers.pop(name) for name in TAP_HEADERS if name in request.headers}
        try:
            return self._send_paced(request, operation, RESTRICTED_HEADER in ours, args, kwargs)
        finally:
            request.headers.update(ours)

    @override
    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        """requests' response, as one whose body is decoded once (responses.py)."""
        return SPAPIResponse.adopt(super().build_response(req, resp))

    def _send_paced(
        self,
        request: requests.PreparedRequest,
        operation: Operation,
        restricted: bool,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> requests.Response:
        # Authenticate before taking a token: fetching an LWA token or an RDT takes a
        # round trip, and taking the token first would send this request that much
        # later than its slot, crowding the next one (a 429 on burst-1 plans).
        self._auth.authenticate_request(request, restricted=restricted)
        waited = self._limiter.acquire(operation.operation_id)
        if waited > REAUTHENTICATE_AFTER:
            # A long wait may outlive the access token or the SigV4 date; both are
            # cached, so doing it again costs nothing unless they did expire.
            self._auth.authenticate_request(request, restricted=restricted)
        try:
            response: requests.Response = super().send(request, *args, **kwargs)
        except Exception:
            self._limiter.observe_limit_header(operation.operation_id, None)  # no answer
            raise
        # The header first: a 429 may carry the account's real plan, and the wait it
        # causes should be paced at that rate, not at the model's default.
        self._limiter.observe_limit_header(
            operation.operation_id, response.headers.get(RATE_LIMIT_HEADER)
        )
        if response.status_code == 429:
            self._limiter.observe_throttled(operation.operation_id)
        if "json" in response.headers.get("Content-Type", ""):
            self.answered = True
            if response.status_code // 100 == 2:
                self.succeeded.add(operation.operation_id)
        return response


class AccountRouter(HTTPAdapter):
    """Sends each request through the paced adapter of the account it names.

    singer-sdk builds and sends requests through one session per stream, with no word
    of the context; the stream stamps the account on the request instead (see
    `SPAPIStream.get_http_request`), and this adapter hands it to that account's
    limiter, auth and connection pool. A request naming no account (a pre-signed
    download URL) goes out as it is.
    """

    def __init__(self, adapters: dict[str, PacedAdapter]) -> None:
        super().__init__()
        self._adapters = adapters

    @override
    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        """Send `request` through its account's adapter."""
        name = account_of(request)
        if name is None:
            return super().send(request, *args, **kwargs)
        return self._adapters[name].send(request, *args, **kwargs)

    @override
    def close(self) -> None:
        """Close every account's connection pool too."""
        super().close()
        for adapter in self._adapters.values():
            adapter.close()


class ProxiesOnceSession(requests.Session):
    """A requests session that reads the proxy settings of the environment once per
    scheme and host, not on every request.

    `Session.send` resolves proxies for each request (`requests.utils.resolve_proxies`):
    it reads `HTTPS_PROXY`, `NO_PROXY` and every other variable of the environment three
    times, a fifth of the tap's CPU per request when pages come fast. The environment
    does not change during a run, so each scheme and host is resolved once, by requests
    itself, and `HTTPS_PROXY` and `NO_PROXY` still apply as they would.
    """

    def __init__(self) -> None:
        super().__init__()
        self._resolved: dict[tuple[str, str], dict[str, str]] = {}

    @override
    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if "proxies" not in kwargs:
            parts = urlsplit(request.url or "")
            key = (parts.scheme, parts.netloc)
            proxies = self._resolved.get(key)
            if proxies is None:
                proxies = requests.utils.resolve_proxies(
                    request, dict(self.proxies), self.trust_env
                )
                self._resolved[key] = proxies
            kwargs["proxies"] = proxies
        return super().send(request, **kwargs)


class ThreadSessions:
    """A session per thread, each made by `new` (a `paced_session`): `requests.Session`
    is not thread-safe; the adapter's limiter, auth and connection pool are, so the
    threads' sessions share it."""

    def __init__(self, new: Callable[[], requests.Session]) -> None:
        self._new = new
        self._local = threading.local()

    def session(self) -> requests.Session:
        """This thread's session."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self._new()
        return session


def paced_session(adapter: HTTPAdapter) -> requests.Session:
    """A session whose every http(s) request goes through `adapter`.

    requests sessions are not thread-safe, so each worker thread gets its own session;
    they share the adapter's limiter and auth, which are.
    """
    session = ProxiesOnceSession()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
