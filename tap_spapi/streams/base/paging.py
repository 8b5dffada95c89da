"""How a stream pages its own operation in singer-sdk's loop.

`DecodedBodyPaginator` is singer-sdk's token paginator reading the body the client
decoded, under the client's guard against tokens already followed (wire/client.py).
A stream that reads its pages ahead runs this loop in a thread of its own with
wire/ahead.py's `Walk`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from singer_sdk.helpers.jsonpath import extract_jsonpath
from singer_sdk.pagination import JSONPathPaginator
from typing_extensions import override

from tap_spapi.wire.client import RepeatedTokens
from tap_spapi.wire.responses import decoded_body

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Self

    import requests

    from tap_spapi.runtime.run import Run

LOGGER = logging.getLogger("tap-spapi")


class _RepeatedToken(Exception):  # noqa: N818 - a signal between two methods, not an error
    """get_next found a token already followed: advance asks the page again."""


class PagedStream(Protocol):
    """What a paginator reads of its stream (SPAPIStream has it all)."""

    name: str

    @property
    def operation_id(self) -> str: ...
    @property
    def next_token_path(self) -> str | None: ...
    @property
    def run(self) -> Run: ...


class DecodedBodyPaginator(JSONPathPaginator):
    """singer-sdk's token paginator, reading the body the client decoded, and refusing
    any token seen before in the query (not only the previous one: `RepeatedTokens`).

    The SDK's own calls `response.json()` again: a second parse of every page, about a
    quarter of the tap's CPU when records are small and pages come fast.
    """

    def __init__(
        self,
        jsonpath: str,
        where: str,
        wait: Callable[[int], float] = lambda _retry: 0.0,
    ) -> None:
        super().__init__(jsonpath)
        self._tokens = RepeatedTokens(where, wait)

    @classmethod
    def of(cls, stream: PagedStream, **extra: Any) -> Self:
        """The paginator of `stream`'s own operation, at its `next_token_path` (`extra`:
        a subclass's own arguments)."""
        where = f"stream '{stream.name}' ({stream.operation_id})"
        wait = stream.run.retry_policy.fault_wait
        return cls(f"$.{stream.next_token_path}", where, wait, **extra)

    @override
    def get_next(self, response: requests.Response) -> str | None:
        token = next(extract_jsonpath(self._jsonpath, decoded_body(response)), None)
        if self._tokens.followed(token):
            raise _RepeatedToken
        return token

    @override
    def advance(self, response: requests.Response) -> None:
        """The next page's token; the same page again after a token already followed."""
        try:
            super().advance(response)
        except _RepeatedToken:
            self._tokens.again(self.count, response)  # the SDK counted the page just read
            self._page_count -= 1  # the page is asked again, not a new one
            return
        self._tokens.follow(self.current_value)
