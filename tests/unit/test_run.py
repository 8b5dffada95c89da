"""The run object: what its failures mean for the exit, which accounts and streams it
skips, what it fetches once, and that it closes only what it opened."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pytest

from tap_spapi.config.settings import Settings
from tap_spapi.errors import AuthError, TapSpapiError
from tap_spapi.runtime import entry_point
from tap_spapi.runtime.run import Run
from tap_spapi.tap import TapSpapi
from testkit import VALID

if TYPE_CHECKING:
    from collections.abc import Callable

CONFIG: dict[str, Any] = {
    "client_id": "amzn1.application-oa2-client.run",
    "client_secret": "run-secret",
    "refresh_token": "Atzr|run-token",
    "accounts": [
        {"name": "first", "refresh_token": "Atzr|first"},
        {"name": "second", "refresh_token": "Atzr|second"},
    ],
}


def a_run(fetch: Callable[[str], list[dict[str, Any]]] | None = None, **config: Any) -> Run:
    def never(name: str) -> list[dict[str, Any]]:
        raise AssertionError(f"participations of {name} fetched")

    return Run(
        Settings.from_config({**CONFIG, **config}),
        user_agent="tap-spapi/test",
        fetch_participations=fetch or never,
        start_reading=lambda: None,
        logger=logging.getLogger("tap-spapi"),
    )


def test_a_run_without_failures_exits_zero_and_says_nothing() -> None:
    run = a_run()
    assert run.exit_status == 0
    assert run.final_lines() == []


def test_a_failed_account_makes_the_run_exit_non_zero_and_skips_only_that_account() -> None:
    run = a_run()
    run.account_failed("first", AuthError("LWA refused the refresh token"))
    assert run.exit_status == 1
    assert run.final_lines() == ["account 'first': LWA refused the refresh token"]
    assert run.failures.abandoned("outbound_orders", "first")
    assert run.failures.holds("outbound_orders", "first")
    assert not run.failures.abandoned("outbound_orders", "second")
    assert not run.failures.holds("outbound_orders", "second")


def test_a_stream_skipped_for_a_missing_role_holds_its_parents_and_fails_only_when_strict() -> None:
    lenient, strict = a_run(), a_run(strict=True)
    for run in (lenient, strict):
        run.failures.stream_skipped("outbound_shipments", "first", "no role", ["outbound_orders"])
        assert run.failures.abandoned("outbound_shipments", "first")
        assert run.failures.holds("outbound_orders", "first")  # the parent's bookmark stays
        assert not run.failures.abandoned("outbound_orders", "first")
        assert not run.failures.abandoned("outbound_shipments", "second")
    assert lenient.exit_status == 0
    assert strict.exit_status == 1


def test_several_failures_end_with_one_line_each_and_a_summary() -> None:
    run = a_run()
    run.account_failed("first", AuthError("refused"))
    run.failures.stream_stopped("inbound_shipments", "second", TapSpapiError("loop"), [])
    lines = run.final_lines()
    assert lines[:2] == [
        "account 'first': refused",
        "stream 'inbound_shipments' of account 'second': loop",
    ]
    assert lines[2].startswith("the run is incomplete: 2 failure(s)")
    assert len(lines) == 3


def test_failures_belong_to_their_run() -> None:
    failed, other = a_run(), a_run()
    failed.account_failed("first", AuthError("refused"))
    assert failed.exit_status == 1
    assert other.exit_status == 0 and not other.failures.abandoned("outbound_orders", "first")


def test_participations_are_fetched_once_per_account_and_a_failure_is_kept() -> None:
    calls: list[str] = []

    def fetch(name: str) -> list[dict[str, Any]]:
        calls.append(name)
        if name == "second":
            raise TapSpapiError("getMarketplaceParticipations refused")
        return [{"marketplace": {"id": "ATVPDKIKX0DER"}, "participation": {}}]

    run = a_run(fetch)
    marketplaces = run.marketplaces
    assert marketplaces.participations_of("first") == marketplaces.participations_of("first")
    for _ in range(2):
        with pytest.raises(TapSpapiError, match="refused"):
            marketplaces.participations_of("second")
    assert calls == ["first", "second"]
    assert run.marketplace_ids_of("first") == ["ATVPDKIKX0DER"]
    assert calls == ["first", "second"]


def test_an_unknown_account_is_named_in_the_error() -> None:
    with pytest.raises(TapSpapiError, match="no account named 'third'"):
        a_run().account_named("third")


def test_closing_opens_nothing_and_closes_what_was_opened() -> None:
    idle = a_run()
    idle.close()
    assert "accounts" not in idle.__dict__ and "prefetcher" not in idle.__dict__

    run = a_run()
    assert list(run.accounts) == ["first", "second"]
    assert run.prefetcher.workers == 16 * 2  # max_concurrency per account in flight
    run.close()
    run.close()  # idempotent, as the entry point and a failing test may both close


def test_taps_made_while_the_entry_point_runs_are_collected_and_others_are_not() -> None:
    before = TapSpapi(config=VALID)
    with entry_point.made_while_running() as taps:
        made = TapSpapi(config=VALID)
    after = TapSpapi(config=VALID)
    assert taps == [made]
    assert before not in taps and after not in taps
