"""Amazon's answers turned into values: the decoded body, and the error a failed request
raises, sorted into what is retried (throttles, faults, expired tokens, refusals that
may be transient) and what is final.

The kinds of retried failures are retries.py's (its policy waits differently for each);
which response is which kind is decided here, so a stream's `validate_response` only
asks and raises.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import msgspec
import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_spapi.amazon.operations import load_catalog
from tap_spapi.errors import AmazonError, TapSpapiError
from tap_spapi.wire.redact import redact
from tap_spapi.wire.retries import DeniedError, ExpiredTokenError, NotJSONError, ThrottledError

if TYPE_CHECKING:
    from collections.abc import Callable

# Words of a 403's message that mean the token expired, not that access is refused.
_EXPIRED_HINTS = ("expired", "expire")


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


class SPAPIRequestError(FatalAPIError, TapSpapiError):
    """A request Amazon refused for good (4xx other than throttling or token expiry)."""

    def __init__(self, message: str, response: requests.Response) -> None:
        super().__init__(message)
        self.response = response
        self.status = response.status_code

    @property
    def missing_role(self) -> bool:
        """403 Unauthorized (not an expired token): the application may lack the API's role."""
        return is_denied(self.response)


class AccessDeniedError(SPAPIRequestError):
    """403 Unauthorized still, after the retries a transient refusal gets."""


class MissingKeyError(TapSpapiError):
    """Amazon sent a record without a field of the stream's primary key."""


class PaginationLoopError(TapSpapiError):
    """Amazon handed back a page token it had already given for this query."""


def is_denied(response: requests.Response) -> bool:
    """403 Unauthorized or AccessDenied: no role, or (transiently) no access to one id."""
    if response.status_code != HTTPStatus.FORBIDDEN:
        return False
    return amazon_error(response).code in {"Unauthorized", "AccessDenied"}


def is_expired_token(response: requests.Response) -> bool:
    """401, or a 403 whose message says the token expired: a fresh token may pass."""
    if response.status_code == HTTPStatus.UNAUTHORIZED:
        return True
    if response.status_code != HTTPStatus.FORBIDDEN:
        return False
    error = amazon_error(response)
    text = f"{error.message} {error.details}".lower()
    return any(hint in text for hint in _EXPIRED_HINTS)


def error_for(response: requests.Response, message: str) -> Exception:
    """The error a response of status 400 or more raises: retried (429, 5xx, an expired
    token, a refusal that may be transient) or final."""
    status = response.status_code
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        return ThrottledError(message, response)
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        return RetriableAPIError(message, response)
    if is_expired_token(response):
        return ExpiredTokenError(message, response)
    if is_denied(response):
        return DeniedError(message, response)
    return SPAPIRequestError(message, response)


_NOT_DECODED = object()


class SPAPIResponse(requests.Response):
    """An SP-API response whose JSON body is decoded once, by `decode`, for everything
    that reads it after (validation, the paginator, the records).

    The account's adapter builds these (transport.PacedAdapter.build_response).
    """

    decoded: Any = _NOT_DECODED

    @classmethod
    def adopt(cls, response: requests.Response) -> SPAPIResponse:
        """`response` itself as an SPAPIResponse (the same attributes, not a copy)."""
        adopted = cls.__new__(cls)
        adopted.__dict__ = response.__dict__
        return adopted


def decode(response: requests.Response, describe: Callable[[requests.Response], str]) -> None:
    """Parse the body once, so a 200 with HTML or a cut-off body is retried
    (`describe` says which request, only when it is not JSON)."""
    try:
        # msgspec parses several times faster than the json/simplejson behind
        # `response.json()`; singer-sdk already depends on it for its writer.
        body = msgspec.json.decode(response.content)
    except (msgspec.DecodeError, ValueError):
        raise NotJSONError(f"{describe(response)}: the body is not JSON", response) from None
    if isinstance(response, SPAPIResponse):
        response.decoded = body


def decoded_body(response: requests.Response) -> Any:
    """The response's JSON body, decoded once (by `decode`) where the adapter built it."""
    if isinstance(response, SPAPIResponse) and response.decoded is not _NOT_DECODED:
        return response.decoded
    return response.json()


def operation_called(request: requests.PreparedRequest | None, default: str) -> str:
    """The operation `request` calls, by its method and path (`default` if it cannot tell)."""
    if request is not None and request.url:
        found = load_catalog().match(request.method or "GET", urlsplit(request.url).path)
        if found is not None:
            return found.operation_id
    return default


def error_message(response: requests.Response, stream: str, operation: str) -> str:
    """`stream 'x' (operation y): HTTP 400 Code: message (details) [x-amzn-RequestId: …]`."""
    described = amazon_error(response).describe()
    return redact(f"stream '{stream}' ({operation}): {described}")
