"""shipment_tracking's book keeping of Amazon's answers: a tracking, or a 404 refusal.

Amazon answers 404 for an identifier it tracks nothing under (yet). The worker that
fetched an identifier notes what Amazon answered (`Refusals.answered_in`); once the
identifier is synced, the main thread, which alone writes the state, counts it in the
account's `IdentifierBook` (`Refusals.count`): a 404 is one more run in a row, warned
naming the identifier, and `REFUSAL_LIMIT` in a row give it up unless it is listed; a
tracking ends its refusals.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from tap_spapi.config.shipment_identifiers import asked_in
from tap_spapi.keys import ACCOUNT_KEY
from tap_spapi.runtime.state import REFUSAL_LIMIT

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable

    import requests
    from singer_sdk.helpers.types import Context

    from tap_spapi.runtime.state import IdentifierBook

#: (account, identifier type, identifier value): one identifier asked for one account.
Asked = tuple[str, str, str]


def asked(context: Context) -> Asked:
    """The identifier of a shipment_tracking context, under its account."""
    return context[ACCOUNT_KEY], context["identifierType"], context["identifierValue"]


class Refusals:
    """What Amazon answered this run per identifier asked and not yet synced: a 404's
    description, or None for a tracking (under a lock: the worker that fetched writes
    it, the main thread, which alone writes the state, takes it).

    `listed` tells an identifier of the settings (refused, it is still asked: the warning
    says so); `account_of` names the account a response answers.
    """

    def __init__(
        self,
        stream: str,
        logger: logging.Logger,
        *,
        listed: Callable[[Asked], bool],
        account_of: Callable[[requests.Response], str],
    ) -> None:
        self.stream = stream
        self.logger = logger
        self._listed = listed
        self._account_of = account_of
        self._answers: dict[Asked, str | None] = {}
        self._lock = threading.Lock()

    def answered(self, key: Asked, refusal: str | None) -> None:
        """Amazon answered the identifier `key`: `refusal` (a 404's description) or None."""
        with self._lock:
            self._answers[key] = refusal

    def answered_in(self, response: requests.Response, refusal: str | None) -> None:
        """`answered` for the identifier the request of `response` asked (if it names one)."""
        request = response.request
        identifier = asked_in(parse_qs(urlsplit((request and request.url) or "").query))
        if identifier is not None:
            self.answered((self._account_of(response), *identifier), refusal)

    def count(self, book: IdentifierBook, context: Context) -> bool:
        """After the identifier of `context` was synced: a 404 counts one more run in a
        row (warned, naming it), an answer ends its refusals (nothing asked: nothing).
        True when a refusal was counted (the state changed)."""
        key = asked(context)
        with self._lock:
            if key not in self._answers:
                return False
            refusal = self._answers.pop(key)
        _, kind, value = key
        if refusal is None:
            book.answered(kind, value)
            return False
        warned_before = book.given_up(kind, value)
        runs = book.refused(kind, value)
        what = f"stream '{self.stream}': no tracking for {_described(context)} ({refusal})"
        if runs < REFUSAL_LIMIT:
            self.logger.warning(
                "%s; nothing loaded for it, asked again next run (refused %s in a row; "
                "given up after %d).",
                what,
                "1 run" if runs == 1 else f"{runs} runs",
                REFUSAL_LIMIT,
            )
        elif warned_before:
            self.logger.info("%s; refused since, still asked: it is listed.", what)
        elif self._listed(key):
            self.logger.warning(
                "%s; refused %d runs in a row, still asked every run because it is listed: "
                "remove it from shipment_tracking_ids (or its file) to stop asking.",
                what,
                runs,
            )
        else:
            self.logger.warning(
                "%s; refused %d runs in a row: given up, not asked again. List it in "
                "shipment_tracking_ids to ask it again.",
                what,
                runs,
            )
        return True


def _described(context: Context) -> str:
    """`carrierTracking 1Z… (carrier UPS) of account 'default'`: the identifier as asked."""
    carrier = f" (carrier {context['carrierCode']})" if context.get("carrierCode") else ""
    return (
        f"{context['identifierType']} {context['identifierValue']}{carrier} "
        f"of account '{context[ACCOUNT_KEY]}'"
    )
