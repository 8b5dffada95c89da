"""The tap's own request headers: how a request says which account it is for.

A request names its account in `ACCOUNT_HEADER`, set by the client or stream that
builds it; the router sends it through that account's adapter, and the retry policy
and the streams read it back from `response.request`. The paced adapter takes these
headers off while the request is on the wire, so Amazon never sees them
(transport.PacedAdapter.send).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests

ACCOUNT_HEADER = "X-Tap-Spapi-Account"
# Asks for a Restricted Data Token on an operation that needs one only for some data
# (getReportDocument of a restricted report type).
RESTRICTED_HEADER = "X-Tap-Spapi-Restricted"
TAP_HEADERS = (ACCOUNT_HEADER, RESTRICTED_HEADER)


def account_of(request: requests.PreparedRequest | None) -> str | None:
    """The account `request` is for; None if it names none (a pre-signed document URL)."""
    return None if request is None else request.headers.get(ACCOUNT_HEADER)
