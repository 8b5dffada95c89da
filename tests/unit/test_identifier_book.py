"""The compact state of per-identifier streams (state.IdentifierBook)."""

from __future__ import annotations

import datetime
import math
from typing import Any
from urllib.parse import parse_qs, urlencode

from tap_spapi.config.shipment_identifiers import CARRIER, KINDS, ShipmentIdentifier, asked_in
from tap_spapi.runtime.state import (
    FINAL_GRACE,
    NO_NEWS_LIMIT,
    REFUSAL_LIMIT,
    IdentifierBook,
    grace_start,
    news_start,
)

NOW = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)
SECOND = int(NOW.timestamp())
DAY = 86_400


def test_an_identifier_is_noted_once_and_keeps_its_newest_event() -> None:
    partition: dict[str, Any] = {"context": {"account": "a"}}
    book = IdentifierBook(partition)
    book.note("aftn", "TBA1", SECOND)
    book.note("aftn", "TBA1", SECOND + 5)  # seen again: nothing changes
    assert partition["open"] == {"aftn": {"TBA1": -SECOND}}  # noted, no event yet
    assert book.latest("aftn", "TBA1") == 0
    book.loaded("aftn", "TBA1", SECOND - 100, final=False)
    book.loaded("aftn", "TBA1", SECOND - 200, final=False)  # an older answer: kept newest
    assert book.latest("aftn", "TBA1") == SECOND - 100
    assert book.open_identifiers() == [("aftn", "TBA1")]


def test_a_final_identifier_leaves_open_and_is_not_noted_again() -> None:
    partition: dict[str, Any] = {}
    book = IdentifierBook(partition)
    book.note("aftn", "TBA1", SECOND)
    book.loaded("aftn", "TBA1", SECOND - 10, final=True)
    assert partition == {"open": {}, "final": {"aftn": {"TBA1": SECOND - 10}}}
    book.note("aftn", "TBA1", SECOND)
    assert book.is_final("aftn", "TBA1") and not book.open_identifiers()


def test_finals_leave_after_the_grace_period_unless_listed() -> None:
    lookback = datetime.timedelta(hours=2)
    before = grace_start(NOW, lookback)
    assert before == SECOND - int((lookback + FINAL_GRACE).total_seconds())
    partition: dict[str, Any] = {}
    book = IdentifierBook(partition)
    for value, second in (("old", before - 1), ("recent", before), ("listed", before - DAY)):
        book.note("aftn", value, SECOND)
        book.loaded("aftn", value, second, final=True)
    book.forget(final_before=before, open_before=-math.inf, listed={("aftn", "listed")})
    assert partition["final"] == {"aftn": {"recent": before, "listed": before - DAY}}


def test_open_identifiers_without_news_leave_unless_listed() -> None:
    before = news_start(NOW)
    assert before == SECOND - int(NO_NEWS_LIMIT.total_seconds())
    partition: dict[str, Any] = {}
    book = IdentifierBook(partition)
    book.note("aftn", "never-answered", before - 1)  # noted long ago, Amazon never knew it
    book.note("aftn", "quiet", SECOND)
    book.loaded("aftn", "quiet", before - 1, final=False)  # its last event long ago
    book.note("aftn", "moving", SECOND)
    book.loaded("aftn", "moving", before, final=False)
    book.note("acsin", "listed", before - DAY)
    book.forget(final_before=-math.inf, open_before=before, listed={("acsin", "listed")})
    assert partition["open"] == {"aftn": {"moving": before}, "acsin": {"listed": -(before - DAY)}}


def test_labels_no_longer_listed_leave_whatever_their_state() -> None:
    partition: dict[str, Any] = {}
    book = IdentifierBook(partition)
    for label, final in (("kept", True), ("dropped", True), ("dropped-open", False)):
        book.loaded("UPS", label, SECOND, final=final)
    book.forget(final_before=math.inf, open_before=math.inf, listed={("UPS", "kept")})
    assert partition == {"open": {}, "final": {"UPS": {"kept": SECOND}}}


def test_a_final_identifier_named_again_by_a_parent_stays_for_another_grace() -> None:
    partition: dict[str, Any] = {}
    book = IdentifierBook(partition)
    book.note("carrierTracking", "1Z1", SECOND - 30 * DAY)
    book.loaded("carrierTracking", "1Z1", SECOND - 20 * DAY, final=True)
    assert not book.note("carrierTracking", "1Z1", SECOND)  # its plan re-read this run
    assert partition["final"] == {"carrierTracking": {"1Z1": SECOND}}
    book.forget(final_before=SECOND - DAY, open_before=-math.inf, listed=())
    assert book.is_final("carrierTracking", "1Z1")


def test_refusals_count_runs_in_a_row_up_to_the_limit_and_then_give_up() -> None:
    partition: dict[str, Any] = {"context": {"account": "a"}}
    book = IdentifierBook(partition)
    book.note("aftn", "AFTN1", SECOND)
    runs = [book.refused("aftn", "AFTN1") for _ in range(REFUSAL_LIMIT + 1)]
    assert runs == [*range(1, REFUSAL_LIMIT + 1), REFUSAL_LIMIT]  # bounded: no history
    assert book.given_up("aftn", "AFTN1")
    assert partition["refused"] == {"aftn": {"AFTN1": REFUSAL_LIMIT}}
    assert book.open_identifiers() == [("aftn", "AFTN1")]  # still there: not new again
    assert not book.note("aftn", "AFTN1", SECOND + DAY)


def test_an_answer_ends_the_refusals_and_a_state_without_any_keeps_its_shape() -> None:
    partition: dict[str, Any] = {}
    book = IdentifierBook(partition)
    book.note("aftn", "AFTN1", SECOND)
    book.note("aftn", "AFTN2", SECOND)
    book.refused("aftn", "AFTN1")
    book.refused("aftn", "AFTN2")
    book.answered("aftn", "AFTN1")  # an answer without a tracking to load
    book.loaded("aftn", "AFTN2", SECOND, final=False)  # a tracking loaded
    assert not book.given_up("aftn", "AFTN1")
    assert partition == {"open": {"aftn": {"AFTN1": -SECOND, "AFTN2": SECOND}}, "final": {}}


def test_refusals_leave_with_their_identifier_or_when_no_longer_listed() -> None:
    partition: dict[str, Any] = {}
    book = IdentifierBook(partition)
    book.note("aftn", "old", SECOND - 100 * DAY)
    book.note("aftn", "recent", SECOND)
    for value in ("old", "recent", "listed", "unlisted"):  # the last two never noted
        book.refused("aftn", value)
    before = news_start(NOW)
    book.forget(final_before=-math.inf, open_before=before, listed={("aftn", "listed")})
    assert partition["refused"] == {"aftn": {"recent": 1, "listed": 1}}
    book.forget(final_before=-math.inf, open_before=math.inf, listed=())
    assert "refused" not in partition


def test_the_identifier_a_tracking_query_asks_for_is_read_back_from_it() -> None:
    for kind in KINDS:
        identifier = ShipmentIdentifier(kind, "V 1/2", "UPS" if kind == CARRIER else None)
        query = parse_qs(urlencode(identifier.query()))
        assert asked_in(query) == (kind, "V 1/2")
    assert asked_in({"carrierTracking.carrierCode": ["UPS"]}) is None
