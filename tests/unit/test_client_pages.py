"""`SPAPIClient.pages` of getReports (`list_pages`): a later page sends its token alone,
and a token that comes back ends the listing. The client's sending is replaced by
Amazon's answers keyed by the page token; the stand-in tests are in tests/tap/test_client.py."""

from __future__ import annotations

import datetime
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import msgspec
import requests

from tap_spapi.streams.reports.requesting import list_pages, list_reports
from tap_spapi.wire.client import SPAPIClient
from tap_spapi.wire.retries import RetryPolicy

if TYPE_CHECKING:
    import pytest


class _Account:
    name = "default"
    base_url = "https://sellingpartnerapi-na.amazon.com"

    def session(self) -> requests.Session:
        return requests.Session()


ANSWERS: dict[str | None, dict[str, Any]] = {
    None: {"reports": [{"reportId": "1"}], "nextToken": "t1"},
    "t1": {"reports": [{"reportId": "2"}], "nextToken": "t2"},
    "t2": {"reports": [{"reportId": "3"}], "nextToken": "t1"},  # t1 again
}


def test_report_pages_send_the_token_alone_and_end_where_a_token_comes_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = SPAPIClient(
        _Account(),  # type: ignore[arg-type]  # what the client reads of an account
        user_agent="test",
        policy=RetryPolicy(max_faults=0),
        logger=logging.getLogger("test"),
    )
    asked: list[dict[str, list[str]]] = []

    def send(prepared: requests.PreparedRequest, **_: Any) -> requests.Response:
        query = parse_qs(urlsplit(prepared.url or "").query)
        asked.append(query)
        response = requests.Response()
        response.status_code = 200
        token = query["nextToken"][0] if "nextToken" in query else None
        response._content = msgspec.json.encode(ANSWERS[token])
        return response

    monkeypatch.setattr(client, "send", send)
    listed = list_reports(
        lambda params: list_pages(client, "t", params),
        report_type="T",
        marketplaces=["M"],
        since=datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC),
    )
    assert [r["reportId"] for r in listed] == ["1", "2", "3"]
    assert asked[0]["reportTypes"] == ["T"]
    assert asked[1:] == [{"nextToken": ["t1"]}, {"nextToken": ["t2"]}]
