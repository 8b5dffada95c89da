"""The request pipeline, independent of sockets: from a raw request to a Reply.

Order of checks, as a client meets them at Amazon: route (404), required headers
(400), SigV4 (403 InvalidSignature), access token (403), then scripted faults, the
usage plan (429), random faults, and finally the operation. Scripted faults come after
authentication so a test that injects a 500 still exercises the client's auth.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from spapi_standin import paths
from spapi_standin.auth_check import ACCESS_TOKEN_HEADER, check_access, check_headers
from spapi_standin.faults import Faults
from spapi_standin.lwa import LwaEndpoint, TokenRegistry
from spapi_standin.operations import Operation, Operations
from spapi_standin.ratelimit import RateLimiter, load_plans
from spapi_standin.replies import Reply, not_found, quota_exceeded
from spapi_standin.reports import DOCUMENT_PREFIX
from spapi_standin.request import Request
from spapi_standin.sigv4 import SignedRequest, SigV4Verifier
from spapi_standin.stats import Stats

if TYPE_CHECKING:
    from collections.abc import Mapping

    from spapi_standin.config import StandInConfig
    from spapi_standin.data import Dataset

RATE_LIMIT_HEADER = "x-amzn-RateLimit-Limit"
UNKNOWN = "unknown"
# The stats and fault key of report document downloads (not an SP-API operation).
DOWNLOAD = "reportDocumentDownload"


@dataclass(frozen=True)
class RawRequest:
    """What arrived on the socket; `headers` has lower-cased names."""

    method: str
    target: str  # path and query exactly as sent
    headers: Mapping[str, str]
    original_headers: Mapping[str, str]
    body: bytes

    @property
    def url(self) -> str:
        """The full URL the client used (for SigV4, which signs the host too)."""
        return f"http://{self.headers.get('host', '127.0.0.1')}{self.target}"


class App:
    """Everything behind the HTTP server: tokens, data, limits, faults and stats."""

    def __init__(self, config: StandInConfig, dataset: Dataset) -> None:
        self.config = config
        self.dataset = dataset
        self.stats = Stats()
        self.tokens = TokenRegistry()
        self.faults = Faults(config)
        self.lwa = LwaEndpoint(config, self.tokens, self.stats)
        self.sigv4 = SigV4Verifier(config, self.stats)
        self.operations = Operations(config, dataset, self.tokens)
        self.limiter = RateLimiter(config, load_plans(self.operations.routes, config.plans_path))

    def handle(self, raw: RawRequest) -> tuple[str, Reply]:
        """The stats key of the request and its reply."""
        path = urlsplit(raw.target).path
        if (raw.method, path) == paths.LWA_TOKEN:
            self.stats.request("lwa", raw.original_headers)
            content_type = raw.headers.get("content-type", "")
            reply = self.faults.scripted("lwa", lambda: self.lwa.handle(content_type, raw.body))
            return "lwa", reply or self.lwa.handle(content_type, raw.body)
        if raw.method == "GET" and path.startswith(DOCUMENT_PREFIX):
            # A pre-signed document link: no SP-API auth, no usage plan (Amazon's S3).
            self.stats.request(DOWNLOAD, raw.original_headers, raw.target)
            document_id = path.removeprefix(DOCUMENT_PREFIX)
            signatures = parse_qs(urlsplit(raw.target).query).get("X-Amz-Signature")
            signature = signatures[0] if signatures else None
            reports = self.operations.reports
            reply = self.faults.scripted(DOWNLOAD, lambda: reports.download(document_id, signature))
            return DOWNLOAD, reply or reports.download(document_id, signature)
        found = self.operations.match(raw.method, path)
        if found is None:
            self.stats.request(UNKNOWN, raw.original_headers, raw.target)
            return UNKNOWN, not_found()
        operation, params = found
        self.stats.request(operation.operation_id, raw.original_headers, raw.target)
        return operation.operation_id, self._operation(operation, params, raw, path)

    def _operation(
        self, operation: Operation, params: dict[str, str], raw: RawRequest, path: str
    ) -> Reply:
        problem = check_headers(raw.headers)
        if problem is None and self.sigv4.applies(raw.headers):
            problem = self.sigv4.verify(SignedRequest(raw.method, raw.url, raw.headers, raw.body))
        if problem is not None:
            return problem
        token = check_access(
            self.tokens, operation.access, raw.method, path, raw.headers.get(ACCESS_TOKEN_HEADER)
        )
        if isinstance(token, Reply):
            return token
        request = Request(
            raw.method,
            path,
            parse_qs(urlsplit(raw.target).query, keep_blank_values=True),
            raw.headers,
            raw.body,
            params,
            token,
        )
        # Amazon sends x-amzn-RateLimit-Limit "when possible", which the models place
        # on 2xx answers; live 429s come without it (live.py), unless switched off.
        header = (RATE_LIMIT_HEADER, f"{self.limiter.plan(operation.operation_id)[0]:g}")
        scripted = self.faults.scripted(
            operation.operation_id, lambda: operation.handler(request), raw.target
        )
        if scripted is not None:
            return self._with_rate_header(scripted, header) if scripted.status else scripted
        if self.faults.stormed():  # the quota was spent by someone else: no token taken
            return self._with_rate_header(quota_exceeded(), header)
        granted, rate = self.limiter.acquire(token.account, operation.operation_id)
        if not granted:
            return self._with_rate_header(quota_exceeded(), header)
        fault = self.faults.random_fault()
        if fault is not None:
            return fault
        reply = operation.handler(request)
        return reply.with_headers((RATE_LIMIT_HEADER, f"{rate:g}")) if reply.ok else reply

    def _with_rate_header(self, reply: Reply, header: tuple[str, str]) -> Reply:
        if (
            reply.status == HTTPStatus.TOO_MANY_REQUESTS
            and self.config.live.no_rate_limit_header_on_429
        ):
            return reply
        return reply.with_headers(header)
