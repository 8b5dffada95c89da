"""Several selling-partner accounts in one run: their own data, state, limits and failures."""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
import string
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from spapi_standin import StandIn, StandInConfig
from spapi_standin.config import EU_MARKETPLACE
from tap_spapi.config.accounts_setting import in_shard
from testkit import (
    KEYS,
    UNREACHED_RETRY_SECONDS,
    SingerOutput,
    every_stream,
    expected_keys,
    history_start,
    key_of,
    run_cli,
    run_tap,
    select_only,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from testkit import CliResult

NA_TOKEN, EU_TOKEN, SECOND_NA_TOKEN = "Atzr|acme-na", "Atzr|acme-eu", "Atzr|globex-na"
REVOKED_TOKEN = "Atzr|revoked-by-the-seller"


@contextlib.contextmanager
def two_regions() -> Iterator[tuple[StandIn, StandIn]]:
    """Two regions with different data: North America (two sellers) and Europe."""
    # Tiny data sets (counts x0.1): what is checked is whose data is whose, not volume.
    na = every_stream(refresh_tokens={NA_TOKEN, SECOND_NA_TOKEN})
    eu = StandInConfig(
        seed=42,
        size="tiny",
        rate_scale=50.0,
        refresh_tokens={EU_TOKEN},
        inbound_marketplaces=[EU_MARKETPLACE],
        inbound_shipments_per_marketplace=30,
        outbound_orders=25,
        shipping_trackings=10,
    )
    with ExitStack() as stack:
        yield stack.enter_context(StandIn(na)), stack.enter_context(StandIn(eu))


@pytest.fixture
def regions() -> Iterator[tuple[StandIn, StandIn]]:
    """Stand-ins of two regions of the test's own (tests touch their data)."""
    with two_regions() as servers:
        yield servers


def account(name: str, server: StandIn, token: str, region: str) -> dict[str, Any]:
    """An `accounts` entry served by `server` (its region's endpoint and LWA)."""
    return {
        "name": name,
        "refresh_token": token,
        "region": region,
        "selling_partner_id": f"SELLER-{name.upper()}",
        "api_url": server.base_url,
        "lwa_token_url": server.lwa_token_url,
    }


def accounts_config(entries: list[tuple[dict[str, Any], StandIn]], **extra: Any) -> dict[str, Any]:
    """Settings for `entries`, every label of each account's stand-in named with its account."""
    server = entries[0][1]
    labels = [
        {**label, "account": entry["name"]}
        for entry, served_by in entries
        for label in served_by.dataset.tracking_labels()
    ]
    return {
        "client_id": server.config.client_id,
        "client_secret": server.config.client_secret,
        "accounts": [entry for entry, _ in entries],
        "start_date": history_start(entries[0][1]),
        "tracking_ids": labels,
        "max_retry_seconds": UNREACHED_RETRY_SECONDS,
        "lookback_window": 0,
        **extra,
    }


def keys_by_account(output: SingerOutput, stream: str) -> dict[str, set[Any]]:
    found: dict[str, set[Any]] = {}
    for record in output.records(stream):
        found.setdefault(record["account"], set()).add(key_of(stream, record))
    return found


@dataclass
class ThreeAccountsRun:
    """One command-line run of every stream for three accounts: two good ones in two
    regions and one whose refresh token the seller revoked."""

    na: StandIn
    eu: StandIn
    result: CliResult
    output: SingerOutput


# The tests of the run go to one xdist worker, which runs it once (each worker would
# run a module fixture of its own).
SHARES_THE_RUN = pytest.mark.xdist_group("test_accounts.three_accounts")


@pytest.fixture(scope="module")
def three_accounts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreeAccountsRun]:
    # Every stream of two accounts is the costliest sync of this module: the tests of
    # separate data per account and of the revoked account share it (nothing here
    # changes the stand-ins' data, so the module keeps one pair).
    with two_regions() as (na, eu):
        config = accounts_config([(account("acme-na", na, NA_TOKEN, "na"), na),
                                  (account("revoked", na, REVOKED_TOKEN, "na"), na),
                                  (account("acme-eu", eu, EU_TOKEN, "eu"), eu)])  # fmt: skip
        path: Path = tmp_path_factory.mktemp("three_accounts") / "config.json"
        path.write_text(json.dumps(config))
        result = run_cli(["--config", str(path)])
        yield ThreeAccountsRun(na, eu, result, SingerOutput.parse(result.stdout))


@SHARES_THE_RUN
def test_two_accounts_in_two_regions_keep_their_own_data(three_accounts):
    na, eu, output = three_accounts.na, three_accounts.eu, three_accounts.output

    na_keys, eu_keys = expected_keys(na.dataset), expected_keys(eu.dataset)
    for stream in KEYS:
        expected = {"acme-na": na_keys[stream], "acme-eu": eu_keys[stream]}
        # An account with no rows of a stream (returns are rare) has no entry at all.
        expected = {name: keys for name, keys in expected.items() if keys}
        assert expected, f"the stand-ins have no {stream} data"
        assert keys_by_account(output, stream) == expected, stream
        keys = [(r["account"], key_of(stream, r)) for r in output.records(stream)]
        assert len(keys) == len(set(keys)), f"{stream}: a key emitted twice"
    for record in output.records("inbound_shipments"):
        assert record["selling_partner_id"] == f"SELLER-{record['account'].upper()}"
    # The EU account asked only for its region's marketplace.
    eu_inbound = [r for r in output.records("inbound_shipments") if r["account"] == "acme-eu"]
    assert {r["marketplace_id"] for r in eu_inbound} == {EU_MARKETPLACE}
    # Each region's stand-in issued one token, for its own seller (the revoked seller's
    # request was refused, and a refusal issues none).
    assert na.stats.count("lwa", "refresh_token") == 1
    assert eu.stats.count("lwa", "refresh_token") == 1
    # State is partitioned per account (and per marketplace where queries are).
    partitions = output.states[-1]["bookmarks"]["inbound_shipments"]["partitions"]
    assert {p["context"]["account"] for p in partitions} == {"acme-na", "acme-eu"}
    # One partition per account (the revoked one's holds no bookmark: see below).
    orders = output.states[-1]["bookmarks"]["outbound_orders"]["partitions"]
    assert sorted(p["context"]["account"] for p in orders) == ["acme-eu", "acme-na", "revoked"]


@SHARES_THE_RUN
def test_a_revoked_account_is_named_and_the_others_finish(three_accounts):
    result = three_accounts.result
    assert result.returncode == 1
    assert "account 'revoked'" in result.stderr
    assert "invalid_grant" in result.stderr
    assert REVOKED_TOKEN not in result.stdout + result.stderr
    output = three_accounts.output
    na_keys = expected_keys(three_accounts.na.dataset)
    eu_keys = expected_keys(three_accounts.eu.dataset)
    for stream in KEYS:
        found = keys_by_account(output, stream)
        assert "revoked" not in found, stream
        assert found.get("acme-na", set()) == na_keys[stream], stream
        assert found.get("acme-eu", set()) == eu_keys[stream], stream
    # The good accounts' bookmarks were saved; the revoked one has none to resume from.
    orders = output.states[-1]["bookmarks"]["outbound_orders"]["partitions"]
    saved = {p["context"]["account"] for p in orders if p.get("replication_key_value")}
    assert saved == {"acme-na", "acme-eu"}


@pytest.mark.parametrize("shard_count", [1, 2, 3, 5, 8])
def test_shards_cover_every_account_exactly_once(shard_count):
    names = [f"seller-{letter}{number}" for letter in string.ascii_lowercase for number in (1, 2)]
    shards = [
        {name for name in names if in_shard(name, index, shard_count)}
        for index in range(shard_count)
    ]
    assert set().union(*shards) == set(names)
    assert sum(len(shard) for shard in shards) == len(names)
    # Stable: a new account never moves an existing one to another shard.
    for index, shard in enumerate(shards):
        with_newcomer = {n for n in [*names, "newcomer"] if in_shard(n, index, shard_count)}
        assert with_newcomer - {"newcomer"} == shard


def test_a_shard_extracts_only_its_accounts(regions):
    na, eu = regions
    entries = [(account("acme-na", na, NA_TOKEN, "na"), na),
               (account("globex-na", na, SECOND_NA_TOKEN, "na"), na),
               (account("acme-eu", eu, EU_TOKEN, "eu"), eu)]  # fmt: skip
    seen: dict[str, int] = {}
    for index in range(2):
        config = accounts_config(entries, shard_index=index, shard_count=2)
        catalog_streams = {"marketplace_participations"}
        output = run_tap(config, catalog=select_only(config, catalog_streams))
        for name in keys_by_account(output, "marketplace_participations"):
            seen[name] = seen.get(name, 0) + 1
            assert in_shard(name, index, 2)
    assert seen == {"acme-na": 1, "globex-na": 1, "acme-eu": 1}


REWIND = datetime.timedelta(minutes=1)


def rewound(
    state: dict[str, Any], stream: str, by: datetime.timedelta
) -> tuple[dict[str, Any], datetime.datetime]:
    """`state` with every window bookmark of `stream` moved `by` back, and the earliest
    of them (the state is a copy; the run's own is left as it wrote it)."""
    state = copy.deepcopy(state)
    ends = []
    for partition in state["bookmarks"][stream]["partitions"]:
        end = datetime.datetime.fromisoformat(partition["window_end"]) - by
        partition["window_end"] = end.isoformat()
        ends.append(end)
    return state, min(ends)


def test_state_of_three_accounts_is_kept_when_a_fourth_is_added(regions):
    na, eu = regions
    three = [(account("acme-na", na, NA_TOKEN, "na"), na),
             (account("globex-na", na, SECOND_NA_TOKEN, "na"), na),
             (account("acme-eu", eu, EU_TOKEN, "eu"), eu)]  # fmt: skip
    streams = {"inbound_shipments"}
    config = accounts_config(three)
    first = run_tap(config, catalog=select_only(config, streams))
    assert set(keys_by_account(first, "inbound_shipments")) == {"acme-na", "globex-na", "acme-eu"}
    # A run's windows end when it starts, in whole seconds: a second run within the first
    # one's second would have an empty window. Rather than wait out that second, the
    # bookmarks move a minute back and the changes fall inside that minute.
    state, bookmark = rewound(first.states[-1], "inbound_shipments", REWIND)
    for server in (na, eu):
        newest = max(server.dataset.inbound_last_updated.values())
        assert newest < bookmark, "the minute before the first run must be free of changes"
    changed = set(na.touch("inbound_shipments", 2, at=bookmark + REWIND / 2))

    four = [*three, (account("initech-na", na, SECOND_NA_TOKEN, "na"), na)]
    config = accounts_config(four)
    second = run_tap(config, state=state, catalog=select_only(config, streams))

    found = keys_by_account(second, "inbound_shipments")
    # The newcomer starts from the beginning; the others continue from their bookmarks.
    assert found["initech-na"] == expected_keys(na.dataset)["inbound_shipments"]
    assert found["acme-na"] == changed
    assert found["globex-na"] == changed
    assert "acme-eu" not in found


def test_a_shard_without_accounts_extracts_nothing_and_succeeds(regions):
    na, _ = regions
    entries = [(account("acme-na", na, NA_TOKEN, "na"), na)]
    empty = next(i for i in range(4) if not in_shard("acme-na", i, 4))
    config = accounts_config(entries, shard_index=empty, shard_count=4)
    output = run_tap(config)
    assert not [m for m in output.messages if m["type"] == "RECORD"]
    assert na.stats.count("lwa", "refresh_token") == 0
