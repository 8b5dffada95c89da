"""How a stream pages its own operation in singer-sdk's loop, and reads it ahead.

`DecodedBodyPaginator` is singer-sdk's token paginator reading the body the client
decoded, under the client's guard against tokens already followed (wire/client.py).
`walk_ahead` runs singer-sdk's own page loop in a thread of its own (wire/ahead.py),
for the streams whose consumer does real work per record while the next page could
already be on its way.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from singer_sdk.helpers.jsonpath import extract_jsonpath
from singer_sdk.pagination import JSONPathPaginator
from typing_extensions import override

from tap_spapi.wire.ahead import Walk
from tap_spapi.wire.client import RepeatedTokens
from tap_spapi.wire.responses import decoded_body

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import requests

LOGGER = logging.getLogger("tap-spapi")

# Pages a walk reads ahead of its consumer (`walk_ahead`).
PAGES_AHEAD = 2


class _RepeatedToken(Exception):  # noqa: N818 - a signal between two methods, not an error
    """get_next found a token already followed: advance asks the page again."""


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


def walk_ahead(
    produce: Callable[[], Iterable[dict[str, Any]]], *, page_size: int, name: str, pages: int
) -> Walk[dict[str, Any]]:
    """`produce()`'s records (singer-sdk's page loop), read by a thread of its own at
    most `pages` pages of `page_size` records ahead of the consumer (0: no limit)."""
    return Walk(produce, limit=pages * page_size, name=name)
