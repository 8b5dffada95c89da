"""One selling-partner account's SP-API, for the calls outside singer-sdk's record loop.

Composed like dlt's `RESTClient`: the account's paced, authenticating session, the one
retry policy (retries.py) and Amazon's answers (responses.py). `call` asks one
operation once; `pages` follows an operation's page tokens, refusing a token it has
followed already (`RepeatedTokens`), and can read ahead in a thread of its own
(ahead.py). A stream's own operation goes through singer-sdk's loop, which uses the
same guard (streams/base/paging.py) and the same check of answers (`check`).
"""

from __future__ import annotations

import logging
import time
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import msgspec
import requests

from tap_spapi.amazon.operations import load_catalog
from tap_spapi.wire.ahead import Walk
from tap_spapi.wire.headers import ACCOUNT_HEADER, RESTRICTED_HEADER, account_of
from tap_spapi.wire.responses import (
    AccessDeniedError,
    PaginationLoopError,
    decode,
    decoded_body,
    error_for,
    error_message,
    is_expired_token,
    operation_called,
)
from tap_spapi.wire.retries import RequestRetries, RetryPolicy, waits
from tap_spapi.wire.transport import ThreadSessions

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tap_spapi.wire.account import Account
    from tap_spapi.wire.retries import AccountView

LOGGER = logging.getLogger("tap-spapi")

# A page whose answer hands back a token already followed is asked again this many
# times, with the fault backoff, before the query stops: live Amazon's repeats are
# mostly one-off (a stale page behind a load balancer), and a stream that stops on the
# first one starts over at page 1 in every later run.
PAGE_RETRIES = 2


def fill_path(template: str, values: dict[str, Any]) -> str:
    """`template` with each `{name}` replaced by its value, percent-encoded.

    Ids in paths are seller-chosen (MCF order ids may hold any character), so they are
    encoded, which singer-sdk's own `{param}` substitution does not do.
    """
    for name, value in values.items():
        template = template.replace(f"{{{name}}}", quote(str(value), safe=""))
    return template


def retries_for(
    policy: RetryPolicy,
    where: str,
    operation_id: str,
    account_named: Callable[[str | None], AccountView],
    logger: logging.Logger,
) -> RequestRetries:
    """The retry policy as it applies to `where`'s calls of `operation_id` (a stream's, or
    the client's calls of it): the one place they are built."""
    return RequestRetries(
        policy,
        stream=where,
        account_named=account_named,
        operation_called=lambda request: operation_called(request, operation_id),
        refused=AccessDeniedError,
        logger=logger,
    )


class RepeatedTokens:
    """The page tokens one query followed, and what to do when one comes back.

    A token that comes back after other tokens (A, B, A) would loop forever past a
    check of the previous one alone; here the page that handed it out is asked again
    (`PAGE_RETRIES` times, waiting `wait(n)` seconds before the n-th), and if the token
    keeps coming back the query stops with an error naming the page.
    """

    def __init__(self, where: str, wait: Callable[[int], float]) -> None:
        self._where = where
        self._wait = wait
        self._seen: set[str] = set()
        self._retried = 0

    def followed(self, token: str | None) -> bool:
        """Whether `token` was followed before in this query."""
        return bool(token) and token in self._seen

    def follow(self, token: str | None) -> None:
        """`token` is the next page's (None: the last page was read)."""
        if token:
            self._seen.add(token)
        self._retried = 0

    def again(self, page: int, response: requests.Response) -> None:
        """Page `page` came with a token already followed: wait before asking it again,
        or stop the query once it kept coming back."""
        if self._retried >= PAGE_RETRIES:
            request_id = response.headers.get("x-amzn-RequestId", "none")
            raise PaginationLoopError(
                f"{self._where}: page {page}: Amazon returned a page token already "
                f"followed, {self._retried + 1} times in a row; stopping instead of "
                f"looping [x-amzn-RequestId: {request_id}]"
            )
        self._retried += 1
        wait = self._wait(self._retried)
        LOGGER.info(
            "%s: page %d came with a page token already followed; asking it again in %.1f s.",
            self._where,
            page,
            wait,
        )
        time.sleep(wait)


class SPAPIClient:
    """One account's SP-API: `call` and `pages`, paced, authenticated and retried."""

    def __init__(
        self, account: Account, *, user_agent: str, policy: RetryPolicy, logger: logging.Logger
    ) -> None:
        self.account = account
        self.policy = policy
        self._user_agent = user_agent
        self._logger = logger
        self._sessions = ThreadSessions(account.session)

    @property
    def headers(self) -> dict[str, str]:
        """Headers every SP-API call carries besides auth (the adapter adds that)."""
        return {"Accept": "application/json", "User-Agent": self._user_agent}

    @property
    def session(self) -> requests.Session:
        """This thread's session through the account's adapter."""
        return self._sessions.session()

    def owns(self, response: requests.Response) -> bool:
        """Whether `response` answers a request of this account's."""
        return account_of(response.request) == self.account.name

    # --- answers ----------------------------------------------------------------------

    def check(self, response: requests.Response, where: str, operation_id: str) -> None:
        """Sort a response into success, retry (429, 5xx, expired token) or fatal
        (responses.py), dropping an expired token first so the retry gets a fresh one;
        a success's body is decoded once, here."""
        operation = operation_called(response.request, operation_id)
        if response.status_code >= HTTPStatus.BAD_REQUEST:
            if is_expired_token(response):
                self.account.auth.invalidate(response.request)
            raise error_for(response, error_message(response, where, operation))
        decode(response, lambda answer: error_message(answer, where, operation))

    def retries(self, where: str, operation_id: str) -> RequestRetries:
        """The retry policy as it applies to `where`'s calls of `operation_id`."""
        # The logger is named as a stream's own logger is.
        return retries_for(
            self.policy,
            where,
            operation_id,
            lambda _name: self.account,
            self._logger.getChild(where),
        )

    # --- requests ---------------------------------------------------------------------

    def request(
        self,
        operation_id: str,
        *,
        path_values: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        restricted: bool = False,
    ) -> requests.PreparedRequest:
        """A request of `operation_id` at this account's endpoint. `restricted` asks for
        a Restricted Data Token where the need depends on the data, not the operation."""
        operation = load_catalog()[operation_id]
        headers = {**self.headers, ACCOUNT_HEADER: self.account.name}
        if restricted:
            headers[RESTRICTED_HEADER] = "1"
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = requests.Request(
            operation.method,
            f"{self.account.base_url}{fill_path(operation.path, path_values or {})}",
            params=params,
            data=msgspec.json.encode(body) if body is not None else None,
            headers=headers,
        )
        return self.session.prepare_request(request)

    def send(
        self, prepared: requests.PreparedRequest, *, where: str, operation_id: str
    ) -> requests.Response:
        """`prepared` sent under the retry policy, its answer checked."""
        timeout = self.account.settings.shared.request_timeout

        def attempt() -> requests.Response:
            response = self.session.send(prepared, timeout=timeout)
            self.check(response, where, operation_id)
            return response

        retries = self.retries(where, operation_id)
        send = retries.decorate(attempt, wait_gen=waits, on_backoff=retries.log_retry)
        return send()

    def call(self, operation_id: str, *, where: str, **request: Any) -> Any:
        """One request to `operation_id` (`request`: `SPAPIClient.request`'s), decoded."""
        prepared = self.request(operation_id, **request)
        return decoded_body(self.send(prepared, where=where, operation_id=operation_id))

    def pages(
        self,
        operation_id: str,
        *,
        where: str,
        params: dict[str, Any],
        token_path: str = "nextToken",
        token_param: str = "nextToken",
        token_only: bool = False,
        end_at_repeat: bool = False,
        ahead: int | None = None,
        **request: Any,
    ) -> Iterator[Any]:
        """The decoded pages of `operation_id`, following the token at `token_path` of
        each answer (a dotted path) as parameter `token_param`, with every other
        parameter again unless `token_only`.

        A token already followed: the page is asked again, then the query stops with
        an error (`RepeatedTokens`); with `end_at_repeat`, the listing ends there
        instead, for a listing whose end costs nothing to miss. `ahead`: read by a
        thread of its own, at most that many pages ahead of the consumer (0: no limit).
        """

        def walk() -> Iterator[Any]:
            tokens = RepeatedTokens(f"{where} ({operation_id})", self.policy.fault_wait)
            asked, page = params, 1
            while True:
                prepared = self.request(operation_id, params=asked, **request)
                response = self.send(prepared, where=where, operation_id=operation_id)
                body = decoded_body(response)
                token = _at(body, token_path)
                if tokens.followed(token):
                    if end_at_repeat:
                        yield body
                        return
                    tokens.again(page, response)
                    continue
                yield body
                tokens.follow(token)
                if not token:
                    return
                asked = {token_param: token} if token_only else {**params, token_param: token}
                page += 1

        if ahead is None:
            return walk()
        return iter(Walk(walk, limit=ahead, name=f"{where}-{operation_id}-pages"))


def _at(body: Any, dotted: str) -> str | None:
    """The string at `dotted` in `body`, if any."""
    value = body
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, str) and value else None
