"""The tap's state: every bookmark key it writes beside singer-sdk's, and how STATE is written.

Bookmark keys (in a stream's state partition, beside the SDK's `replication_key` and
`replication_key_value`):

- `window_end` (WINDOW_BOOKMARK): the upper bound of the last query window read whole;
- `query_in_flight`, `interrupted_runs`: a range a run started and did not finish, and how
  many runs in a row did so (windows.py splits it into 2**n windows);
- `longest_accepted_range_days`: the longest range createReport accepted after refusing a
  longer one (report types whose limit Amazon does not document);
- `open`, `final` (shipment_tracking, shipping_tracking, in one partition per account):
  the identifiers (labels) to track, `{kind: {value: seconds}}` (`IdentifierBook`);
- `refused` (shipment_tracking, beside `open`): `{kind: {value: runs}}`, how many runs
  in a row Amazon answered 404 for an identifier still tracked or listed;
- `polled_at` (shipment_tracking, beside `open`): the start of the last run that polled
  the identifiers notifications cover, as their backstop (notifications.due);
- `processed` (notifications, one partition per account): `{notification id: second}`,
  the notifications emitted, so the next run deletes their messages from the queue;
- `final_shipments` (inbound_plan_shipments): `{shipmentId: seconds}`, the shipments
  seen in a final status, not asked again while their plan is re-read;
- `succeeded_for` (a stream's state): the accounts the stream succeeded for in a run
  that left it no bookmark of its own there (children, per-id streams): a 403 after
  that is an outage or a revoked role, not a role never granted (`succeeded_accounts`);
- `read_without_output` (a stream's state): read for other streams, never emitted;
- `read_from`, `read_down_to` (inbound_plans): a run that stopped part-way through the
  newest-first pages had emitted every plan last updated in (`read_down_to`,
  `read_from`]; the next run skips those plans instead of reading them again.

State holds what is still open. A final identifier, label or shipment stays for
`FINAL_GRACE` beyond the lookback window after its final event (a lookback re-read of
its parent then finds it final, not new), and leaves after that; a final identifier or
label the settings still list stays while listed, since asking it again every run
would cost a request each. `migrated` turns the state of 0.1.0 (a partition per
identifier and label, final shipments by status) into this form as it is loaded.

A partition's state is found through `IndexedStateManager`: singer-sdk searches the
stream's whole partition list for each context, several times per record; with a
partition per identifier or label that, too, grew with the square of the data.

STATE is written by `PacedStateWriter`: singer-sdk formats, compares and deep-copies the
whole state for every bookmark (its `StateWriter`), which made a run's cost grow with the
square of the identifiers it tracks. Here a bookmark only marks the state as changed; the
message writer (output.BatchFlushingWriter) encodes the state when it writes a STATE,
at most once per `STATE_INTERVAL` and at the end of the run.
"""

from __future__ import annotations

import contextlib
import datetime
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from singer_sdk.helpers._state import StateWriter
from singer_sdk.streams._state import StreamStateManager
from typing_extensions import override

from tap_spapi.keys import ACCOUNT_KEY

if TYPE_CHECKING:
    from collections.abc import Callable, Container, Hashable, Iterable, Mapping

    from singer_sdk.helpers.types import Context

REPLICATION_KEY = "replication_key_value"  # singer-sdk's
WINDOW_BOOKMARK = "window_end"
# Set when a run starts querying a partition's range, removed when the range was read:
# found set at the start of a run, it means the previous run did not finish the range.
QUERY_IN_FLIGHT = "query_in_flight"
# How many runs in a row left the range unfinished: the range is split in 2**n windows.
INTERRUPTED_RUNS = "interrupted_runs"
LONGEST_ACCEPTED = "longest_accepted_range_days"
OPEN_IDS = "open"
FINAL_IDS = "final"
# shipment_tracking, beside `open`: when a run last polled what notifications cover.
POLLED_AT = "polled_at"
FINAL_SHIPMENTS = "final_shipments"
# On a stream's state (beside "partitions"): its bookmarks were moved by runs that read it
# only for other streams, without emitting it. Once selected, it starts afresh.
READ_WITHOUT_OUTPUT = "read_without_output"
# A newest-first listing a run stopped in (inbound_plans): the newest update it saw at
# the top, and the oldest update down to which it had emitted every plan.
READ_FROM = "read_from"
READ_DOWN_TO = "read_down_to"
# 0.1.0's per-identifier and per-label bookmarks, read by `migrated` only.
FINAL_MILESTONE = "final_milestone"
FINAL_STATUS = "final_status"
# On a stream's state (beside "partitions"): the accounts it succeeded for without a
# bookmark of its own to show it. A stream refused with 403 for an account it succeeded
# for before fails the run (an outage, a revoked role); one never seen to succeed is
# skipped for a missing role (containment.py).
SUCCEEDED_FOR = "succeeded_for"
# How long, beyond the lookback window, a final identifier, label or shipment stays in
# the state after its final event. A package's order or a shipment's plan is updated
# about when the parcel arrives, and re-read for a lookback window after: a week more
# covers parents updated days after the final event (a late delivery scan, a plan
# closed after its last shipment). An identifier a parent sees again after that is
# asked once more and found final again: one request, no lost or duplicated row.
FINAL_GRACE = datetime.timedelta(days=7)
# An open identifier with no event for this long (or none at all since it was noted:
# Amazon answers 404 for it) is given up, unless listed. Parcels end within weeks and
# containers within two months; without a limit, every identifier Amazon never tracks
# would cost a request per run forever.
NO_NEWS_LIMIT = datetime.timedelta(days=90)
# Runs in a row in which Amazon answered 404 for an identifier (it tracks nothing under
# it) before the tap stops asking it, unless listed. One 404 may be a parcel the carrier
# has not scanned yet; three in a row (three days on a daily schedule) an identifier
# Amazon does not track, which would otherwise cost a request a run until NO_NEWS_LIMIT.
REFUSED_IDS = "refused"
REFUSAL_LIMIT = 3
# The bookmarks that hold a time (checked against the clock when a state file is read).
TIME_BOOKMARKS = (REPLICATION_KEY, WINDOW_BOOKMARK)


class HoldsState(Protocol):
    """A message writer that writes the newest state when a STATE is due."""

    def hold_state(self, state: Mapping[str, Any]) -> None: ...


class PacedStateWriter(StateWriter):
    """singer-sdk's `StateWriter`, without the per-call work: the state is handed to the
    message writer by reference and encoded only when a STATE message is written."""

    def __init__(self, message_writer: HoldsState) -> None:
        super().__init__(message_writer)  # type: ignore[arg-type]
        self._holder = message_writer

    @override
    def write_state(self, state: Mapping[str, Any]) -> None:
        """The state changed: the next STATE the writer writes holds it (O(1))."""
        self._holder.hold_state(state)


class IndexedStateManager(StreamStateManager):
    """singer-sdk's state manager, finding a partition's state through a dict.

    The index follows the partition list: entries appended by anyone (singer-sdk, a
    parent noting identifiers) are indexed when next looked up; a list replaced or
    shortened is indexed again. Streams' worker threads look partitions up too (`wants`):
    one lock keeps the index and the list in step.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self._indexed: list[dict[str, Any]] | None = None
        self._indexed_count = 0
        self._index: dict[Hashable, dict[str, Any]] = {}

    @override
    def get_context_state(self, context: Context | None) -> dict[str, Any]:
        """The partition's writable state (created if missing), as singer-sdk's."""
        partition = self.get_state_partition_context(context)
        if not partition:
            return self.stream_state
        try:
            key = _partition_key(partition)
        except TypeError:  # a context value that is not hashable: singer-sdk's search
            return super().get_context_state(context)
        with self._lock:
            partitions: list[dict[str, Any]] = self.stream_state.setdefault("partitions", [])
            self._follow(partitions)
            found = self._index.get(key)
            if found is None:
                found = {"context": dict(partition)}
                partitions.append(found)
                self._index[key] = found
                self._indexed_count += 1
            return found

    def _follow(self, partitions: list[dict[str, Any]]) -> None:
        if partitions is not self._indexed or len(partitions) < self._indexed_count:
            self._indexed, self._indexed_count = partitions, 0
            self._index = {}
        for entry in partitions[self._indexed_count :]:
            context = entry.get("context")
            if isinstance(context, dict):
                # A context that is not hashable is found by singer-sdk's search only.
                with contextlib.suppress(TypeError):
                    self._index.setdefault(_partition_key(context), entry)
        self._indexed_count = len(partitions)


def _partition_key(context: Mapping[str, Any]) -> Hashable:
    return frozenset(context.items())


class IdentifierBook:
    """One account's identifiers to track, in the account's state partition.

    `open`: `{kind: {value: second}}`, the epoch second of the newest event loaded for
    the identifier, or minus the second it was noted while none was; `final`: the same
    for identifiers whose tracking ended, with the second of the final event or of the
    last run whose parents named it again, whichever is later. About 30
    bytes per identifier, against about 200 for 0.1.0's partition each. Kinds are
    getShipmentTracking's identifier types (shipment_tracking) or carrier ids
    (shipping_tracking's labels).

    `refused`: `{kind: {value: runs}}`, the runs in a row Amazon answered 404 for an
    identifier (`REFUSAL_LIMIT` at most: then it is given up, `given_up`); only while
    the identifier is open or listed, and written only when there is one, so a state
    without refusals keeps its shape.

    Written on the main thread only; workers read single entries (`is_final`).
    """

    def __init__(self, partition: dict[str, Any]) -> None:
        self._partition = partition
        self._open: dict[str, dict[str, int]] = partition.setdefault(OPEN_IDS, {})
        self._final: dict[str, dict[str, int]] = partition.setdefault(FINAL_IDS, {})

    def note(self, kind: str, value: str, second: int) -> bool:
        """Track `value` from now (`second`) on, unless it is known; whether it was new.

        A final one seen again (its parent re-read) stays for the grace period from now:
        a box whose shipment is still being received is named by every re-read of its
        plan, and is not asked again while that goes on."""
        finals = self._final.get(kind)
        if finals is not None and value in finals:
            finals[value] = max(finals[value], second)
            return False
        if value in self._open.get(kind, ()):
            return False
        self._open.setdefault(kind, {})[value] = -second
        return True

    def is_final(self, kind: str, value: str) -> bool:
        """Whether the identifier's tracking ended (and it is still remembered)."""
        return value in self._final.get(kind, ())

    def latest(self, kind: str, value: str) -> int:
        """The epoch second of the newest event loaded for it (0: none)."""
        found = self._open.get(kind, {}).get(value)
        if found is None:
            found = self._final.get(kind, {}).get(value, 0)
        return max(found, 0)

    def loaded(self, kind: str, value: str, second: int, *, final: bool) -> None:
        """Its record up to the event at `second` was emitted; `final`: tracking ended."""
        kept = max(second, self.latest(kind, value))
        self.answered(kind, value)
        if final:
            _discard(self._open, kind, value)
            self._final.setdefault(kind, {})[value] = kept
        elif not self.is_final(kind, value):
            self._open.setdefault(kind, {})[value] = kept

    def refused(self, kind: str, value: str) -> int:
        """Amazon answered 404 for it this run: the runs in a row it did so (at most
        `REFUSAL_LIMIT`). Called once per run and identifier."""
        refusals: dict[str, dict[str, int]] = self._partition.setdefault(REFUSED_IDS, {})
        values = refusals.setdefault(kind, {})
        values[value] = min(values.get(value, 0) + 1, REFUSAL_LIMIT)
        return values[value]

    def answered(self, kind: str, value: str) -> None:
        """Amazon answered for it (a tracking, or an empty one): its refusals end."""
        refusals = self._partition.get(REFUSED_IDS)
        if refusals:
            _discard(refusals, kind, value)
            if not refusals:
                del self._partition[REFUSED_IDS]

    def given_up(self, kind: str, value: str) -> bool:
        """Whether Amazon refused it `REFUSAL_LIMIT` runs in a row (not asked again
        unless listed)."""
        refusals = self._partition.get(REFUSED_IDS) or {}
        return refusals.get(kind, {}).get(value, 0) >= REFUSAL_LIMIT

    def polled_at(self) -> int | None:
        """The start (epoch second) of the last run that polled the identifiers that
        notifications cover, as their backstop (notifications.due); None: never."""
        found = self._partition.get(POLLED_AT)
        return found if type(found) is int else None

    def polled(self, second: int) -> None:
        """This run (started at `second`) polled the backstop's share."""
        self._partition[POLLED_AT] = second

    def open_identifiers(self) -> list[tuple[str, str]]:
        """(kind, value) of every open identifier, in the order they were noted."""
        return [(kind, value) for kind, values in self._open.items() for value in values]

    def forget(
        self, *, final_before: float, open_before: float, listed: Container[tuple[str, str]]
    ) -> None:
        """Drop what is not listed and final before `final_before`, or open with no
        news (event, or noted) since `open_before` (epoch seconds); and the refusals of
        identifiers neither open nor listed any more."""
        for book, before in ((self._final, final_before), (self._open, open_before)):
            for kind, values in list(book.items()):
                for value in [v for v, second in values.items() if abs(second) < before]:
                    if (kind, value) not in listed:
                        del values[value]
                if not values:
                    del book[kind]
        for kind, values in list((self._partition.get(REFUSED_IDS) or {}).items()):
            for value in list(values):
                if value not in self._open.get(kind, ()) and (kind, value) not in listed:
                    self.answered(kind, value)


def _discard(book: dict[str, dict[str, int]], kind: str, value: str) -> None:
    values = book.get(kind)
    if values is not None:
        values.pop(value, None)
        if not values:
            del book[kind]


def epoch_second(moment: str | None) -> int:
    """The epoch second of an ISO 8601 time (0 for none); naive times are UTC."""
    if not moment:
        return 0
    parsed = datetime.datetime.fromisoformat(moment)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return int(parsed.timestamp())


def grace_start(now: datetime.datetime, lookback: datetime.timedelta) -> int:
    """The epoch second before which a final event has left the state."""
    return int((now - lookback - FINAL_GRACE).timestamp())


def news_start(now: datetime.datetime) -> int:
    """The epoch second before which an open identifier with no news has left it."""
    return int((now - NO_NEWS_LIMIT).timestamp())


@dataclass(frozen=True)
class PerIdentifierLayout:
    """How 0.1.0 kept a per-identifier stream's state: one partition per identifier,
    `{context: {account, <kind_key>, <value_key>, ...}, replication_key_value,
    <final_key>}`, final when `<final_key>` holds one of `finals`."""

    stream: str
    kind_key: str
    value_key: str
    final_key: str
    finals: frozenset[str]
    #: What the stream calls one identifier, for the warning.
    noun: str


def migrated(
    state: dict[str, Any],
    layouts: Iterable[PerIdentifierLayout],
    now: datetime.datetime,
    warn: Callable[[str], None],
) -> None:
    """Turn 0.1.0's state in `state` into this release's, in place (see the module doc).

    A partition per identifier becomes an entry of its account's `IdentifierBook`, with
    its newest event time; a final one with no time gets `now` (kept for the grace).
    `final_shipments` statuses become the epoch second of `now`. State already in this
    form is left as it is.
    """
    bookmarks = state.get("bookmarks") or {}
    for layout in layouts:
        stream_state = bookmarks.get(layout.stream)
        if isinstance(stream_state, dict):
            _migrate_partitions(stream_state, layout, now, warn)
    shipments = bookmarks.get("inbound_plan_shipments")
    for partition in (shipments or {}).get("partitions") or []:
        final = partition.get(FINAL_SHIPMENTS)
        if isinstance(final, dict):
            second = int(now.timestamp())
            for shipment, value in final.items():
                if not isinstance(value, int):
                    final[shipment] = second


def _migrate_partitions(
    stream_state: dict[str, Any],
    layout: PerIdentifierLayout,
    now: datetime.datetime,
    warn: Callable[[str], None],
) -> None:
    kept: list[dict[str, Any]] = []
    accounts: dict[str, dict[str, Any]] = {}
    old = []
    for partition in stream_state.get("partitions") or []:
        context = partition.get("context") or {}
        if layout.value_key in context and layout.kind_key in context:
            old.append(partition)
            continue
        kept.append(partition)
        if set(context) == {"account"}:
            accounts[context["account"]] = partition
    for partition in old:
        context = partition["context"]
        account = str(context.get("account"))
        if account not in accounts:
            accounts[account] = {"context": {"account": account}}
            kept.append(accounts[account])
        book = IdentifierBook(accounts[account])
        kind, value = str(context[layout.kind_key]), str(context[layout.value_key])
        second = epoch_second(partition.get(REPLICATION_KEY))
        status = partition.get(layout.final_key)
        final = isinstance(status, str) and status in layout.finals
        if status is not None and not final:
            warn(
                f"State of {layout.noun} {value} has {layout.final_key} {status!r}, which is "
                f"not a final status ({', '.join(sorted(layout.finals))}); tracking it."
            )
        book.note(kind, value, int(now.timestamp()))
        if second or final:
            book.loaded(kind, value, second or int(now.timestamp()), final=final)
    if old:
        stream_state["partitions"] = kept


def forget_final_shipments(state: dict[str, Any], before: int) -> None:
    """Drop from `final_shipments` the shipments noted final before `before` (epoch s)."""
    shipments = (state.get("bookmarks") or {}).get("inbound_plan_shipments") or {}
    for partition in shipments.get("partitions") or []:
        final = partition.get(FINAL_SHIPMENTS)
        if isinstance(final, dict):
            for shipment in [s for s, second in final.items() if second < before]:
                del final[shipment]


def shape_error(stream: str, partition: Mapping[str, Any]) -> str | None:
    """What is wrong with the tap's own bookmarks of `partition`, if anything (a state
    edited by hand, or written by another program): `open`, `final` and `refused` must
    map kinds to `{value: integer}`, `final_shipments` shipment ids to an integer or a status."""
    context = partition.get("context")
    if context is not None and not isinstance(context, dict):
        return (
            f"stream '{stream}' partition context must be an object, got {type(context).__name__}"
        )
    if context and any(isinstance(value, (dict, list)) for value in context.values()):
        return f"stream '{stream}' partition context must hold plain values (ids), not objects"
    for key in (OPEN_IDS, FINAL_IDS, REFUSED_IDS):
        book = partition.get(key)
        if book is None:
            continue
        if not isinstance(book, dict) or not all(
            isinstance(values, dict) and all(type(v) is int for v in values.values())
            for values in book.values()
        ):
            return f"stream '{stream}' {key} must be an object of {{identifier: integer}} objects"
    final = partition.get(FINAL_SHIPMENTS)
    if final is not None and (
        not isinstance(final, dict)
        or not all(type(v) is int or isinstance(v, str) for v in final.values())
    ):
        return f"stream '{stream}' {FINAL_SHIPMENTS} must be an object of shipment ids"
    succeeded = partition.get(SUCCEEDED_FOR)
    if succeeded is not None and (
        not isinstance(succeeded, list) or not all(isinstance(a, str) for a in succeeded)
    ):
        return f"stream '{stream}' {SUCCEEDED_FOR} must be a list of account names"
    return None


def succeeded_accounts(stream_state: Mapping[str, Any]) -> set[str]:
    """The accounts a stream's state shows it succeeded for in an earlier run: those of
    a partition with a bookmark of its own (a replication key value or a window end),
    and those of its `succeeded_for` marker. Bounded by the partitions of the stream."""
    found = set(stream_state.get(SUCCEEDED_FOR) or ())
    for partition in stream_state.get("partitions") or ():
        context = partition.get("context")
        own = any(partition.get(key) for key in TIME_BOOKMARKS)
        if own and isinstance(context, dict) and ACCOUNT_KEY in context:
            found.add(str(context[ACCOUNT_KEY]))
    return found


def note_succeeded(stream_state: dict[str, Any], accounts: Iterable[str]) -> bool:
    """Add to the stream's `succeeded_for` those of `accounts` its state does not show
    a success of yet (no bookmark of their own); whether the state changed."""
    new = set(accounts) - succeeded_accounts(stream_state)
    if not new:
        return False
    stream_state[SUCCEEDED_FOR] = sorted({*(stream_state.get(SUCCEEDED_FOR) or ()), *new})
    return True
