"""What a plan-bound stream will cost, said before it starts, and how far it got.

A first run of report streams waits on createReport's plan (15 at once, then one a
minute) for tens of minutes; a user watching `meltano run` should see that coming and
see it move. Both lines go through the stream's logger (stderr), never stdout.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from singer_sdk.exceptions import AbortedSyncExceptionBase
from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from tap_spapi.wire.pacing import RateLimiter, UsagePlan

# Seconds between progress lines while a stream waits (tests set it lower).
PROGRESS_INTERVAL = 30.0
_PER = (("a second", 1.0), ("a minute", 60.0), ("an hour", 3600.0))


def describe_plan(operation_id: str, plan: UsagePlan) -> str:
    """`createReport allows 15 at once then 1 a minute`."""
    for unit, seconds in _PER:
        per_unit = plan.rate * seconds
        if per_unit >= 0.95:  # 0.0167/s is Amazon's "1 a minute"
            return f"{operation_id} allows {plan.burst} at once then {per_unit:.2g} {unit}"
    return f"{operation_id} allows {plan.burst} at once then {plan.rate * 86400:.2g} a day"


def about(seconds: float) -> str:
    """`about 40 s`, `about 2 min`, `about 1.5 h`."""
    if seconds < 90:
        return f"about {seconds:.0f} s"
    if seconds < 5400:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"


class Progress:
    """done/total of one stream's work and the time left, logged on `report()`."""

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        total: int,
        left: Callable[[int], float],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._what = what
        self._total = total
        self._left = left  # seconds left, given how many items are done
        self._clock = clock
        self._started = clock()
        self.done = 0

    def advance(self) -> None:
        """One more item finished."""
        self.done += 1

    def seconds_left(self) -> float:
        """The plan's estimate, or the pace so far if that says more (building and
        downloading take time the plan does not count)."""
        left = self._left(self.done)
        if self.done:
            elapsed = self._clock() - self._started
            left = max(left, elapsed / self.done * (self._total - self.done))
        return left

    def report(self) -> None:
        """Log `what: done/total, about N min left`."""
        self._logger.info(
            "%s: %d/%d done, %s left",
            self._what,
            self.done,
            self._total,
            about(self.seconds_left()),
        )


def report_cost(
    logger: logging.Logger,
    stream: str,
    account: str,
    windows: int,
    *,
    limiter: RateLimiter,
    unrequested: Callable[[], int],
    ahead_of_them: Callable[[], int],
) -> Progress:
    """Log what an account's `windows` reports ask of createReport's plan and how long
    that takes (`unrequested` of them still to create, `ahead_of_them` of other report
    streams first); the `Progress` that reports on the way."""

    def seconds_left(_done: int) -> float:
        return limiter.seconds_for("createReport", unrequested() + ahead_of_them())

    waiting = unrequested()
    logger.log(
        estimate_level(seconds_left(0)),
        "%s: %d reports for account '%s' (%d requested already, %d of other report "
        "streams ahead of them); %s: %s",
        stream,
        windows,
        account,
        windows - waiting,
        ahead_of_them(),
        describe_plan("createReport", limiter.plan("createReport")),
        about(seconds_left(0)),
    )
    return Progress(logger, f"{stream} reports", windows, seconds_left)


# singer-sdk's lines per context of a stream (a child has one per parent record: tens of
# thousands in a large seller's run): at DEBUG the first of each goes out, the rest not. Matched
# on the message as written (log redaction formats it into the record: redact.py).
SDK_PER_CONTEXT_LINES = (
    ("Beginning sync of '", " with context keys: "),
    ("Starting incremental sync of '", " with bookmark value: "),
)


# singer-sdk's note, for every partition of an unsorted stream, that its progress is not
# resumable if interrupted. Every unsorted stream of the tap says in `after_a_kill` what
# a killed run means for it (a unit test checks that each does), and the docs say it too;
# a warning on every run teaches users to skip warnings.
SDK_UNSORTED_NOTE = "Stream is assumed to be unsorted"

# singer-sdk's lines that say nothing a user acts on: left out. Its start-up lines per
# stream (the catalog says which streams are selected), and the note above.
SDK_DROPPED_LINES = (
    ("Skipping deselected stream '", "'."),
    ("Added '", "' as child stream to '"),
    ("Skipping parse of env var settings", "..."),
    (SDK_UNSORTED_NOTE, "not resumable"),
)

# singer-sdk's lines at the start of each stream and when a paginator finds nothing: at
# INFO a run says what it did in its closing lines instead (one per stream), so these go
# out only when the logger is set to DEBUG (`TAP_SPAPI_LOGLEVEL=debug`).
SDK_DEBUG_LINES = (
    ("Beginning sync of '", "' in "),
    ("Starting incremental sync of '", " with bookmark value: "),
    ("Pagination stopped after ", " pages because "),
)


def estimate_level(seconds: float) -> int:
    """A cost estimate is news at INFO when it means a wait worth watching (a progress
    line's interval or more); a few seconds' estimate goes out at DEBUG only."""
    return logging.INFO if seconds >= PROGRESS_INTERVAL else logging.DEBUG


class _OncePerRun(logging.Filter):
    """Lets the first record of each of singer-sdk's per-context lines through, none of
    the lines it drops (`SDK_DROPPED_LINES`), its DEBUG-only lines (`SDK_DEBUG_LINES`)
    only when the logger is set to DEBUG, and no ERROR line for the signal that stops a
    stream after its first record in a connection test (`--test`): a test that passed
    is no error."""

    def __init__(self) -> None:
        super().__init__()
        self.said: set[int] = set()

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and isinstance(
            sys.exc_info()[1], AbortedSyncExceptionBase
        ):
            return False  # logged while the signal is handled, in its thread
        message = record.getMessage()
        if any(message.startswith(a) and b in message for a, b in SDK_DROPPED_LINES):
            return False
        if any(message.startswith(a) and b in message for a, b in SDK_DEBUG_LINES) and (
            not logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        ):
            return False
        for kind, (start, middle) in enumerate(SDK_PER_CONTEXT_LINES):
            if message.startswith(start) and middle in message:
                if kind in self.said:
                    return False
                self.said.add(kind)
        return True


def sdk_lines_once(logger: logging.Logger) -> None:
    """From now on, singer-sdk's per-context lines go out once through `logger` (the
    tap's, a stream's or singer-sdk's own; called for each of a new tap, which starts
    counting afresh), and the lines it drops not at all."""
    for found in logger.filters:
        if isinstance(found, _OncePerRun):
            found.said.clear()
            return
    logger.addFilter(_OncePerRun())


def closing_lines(
    streams: Mapping[str, StreamTally], operations: Mapping[str, Mapping[str, float]]
) -> list[str]:
    """The run's closing lines: one per stream it emitted (records, time from its SCHEMA to
    its last record), then one for its requests per operation and its 429s (`operations`:
    the accounts' limiters' snapshots, added up)."""
    lines = [
        f"{stream}: {tally.records:,} records in {about(tally.last - tally.first)}"
        for stream, tally in streams.items()
    ]
    requests = int(sum(op["requests"] for op in operations.values()))
    throttled = {name: int(op["throttled"]) for name, op in operations.items() if op["throttled"]}
    busiest = sorted(operations.items(), key=lambda item: -item[1]["requests"])[:5]
    listed = ", ".join(f"{name} {int(op['requests']):,}" for name, op in busiest)
    more = ", ..." if len(operations) > len(busiest) else ""
    if throttled:
        limits = "429s: " + ", ".join(f"{name} {n}" for name, n in sorted(throttled.items()))
    else:
        limits = "no 429s"
    records = sum(tally.records for tally in streams.values())
    lines.append(
        f"run: {records:,} records in {len(streams)} streams, {requests:,} requests "
        f"({listed}{more}), {limits}"
    )
    return lines


@dataclass
class StreamTally:
    """What the output saw of one stream: its records, its first and last message times."""

    records: int
    first: float
    last: float
