"""The taps the command line made while it runs: one registry for its end.

singer-sdk's CLI builds the Tap inside `invoke`, which the entry point never sees, and
`sync_all` is final. So each TapSpapi registers itself as it is made, and at the end
the entry point finishes what each holds: the records and STATE its writer still holds
(records emitted before a failure still reach the target), its closing lines, its run's
threads and exit status. Only the taps made while the block runs: a process holding
other taps (tests, an embedding program) must not get their held STATE written into
this run's output (a killed tap's stale STATE once came last in another test's output).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

_MADE: list[Any] | None = None


@contextlib.contextmanager
def made_while_running() -> Iterator[list[Any]]:
    """The objects `register`ed while the block runs (the command line's tap, usually)."""
    global _MADE
    made: list[Any] = []
    _MADE = made
    try:
        yield made
    finally:
        _MADE = None


def register(made: Any) -> None:
    """Note `made` for the entry point's end, if an entry point is running."""
    if _MADE is not None:
        _MADE.append(made)
