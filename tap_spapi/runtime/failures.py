"""What failed in a run, what that means for later contexts and bookmarks, and the exit.

A failure is contained to what it concerns: an account whose credentials or endpoint
fail (every stream of it), a stream of one account (retries exhausted, a pagination
loop, a record without its key, a missing role, a 403 all run where the stream
succeeded before), or one per-id context (one order or label Amazon refused). Whatever
was not read keeps the bookmarks that would move past it (its own and its parents'), so
the next run reads it again; the rest of the run goes on, and the run exits non-zero at
the end with one line per failure and a summary. A missing role alone exits non-zero
only with `strict`.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field

from tap_spapi.wire.redact import redact

LOGGER = logging.getLogger("tap-spapi")

StreamAccount = tuple[str, str]


@dataclass
class RunFailures:
    """The failures of one tap run, by account and (stream, account)."""

    strict: bool = False
    accounts: dict[str, str] = field(default_factory=dict)
    #: (stream, account) skipped for a missing role.
    skipped: dict[StreamAccount, str] = field(default_factory=dict)
    #: (stream, account) stopped for good this run.
    stopped: dict[StreamAccount, str] = field(default_factory=dict)
    #: Per-id contexts that failed, per (stream, account).
    failed_contexts: Counter[StreamAccount] = field(default_factory=Counter)
    #: (stream, account) whose bookmark must not move this run.
    held: set[StreamAccount] = field(default_factory=set)
    #: What makes the run exit non-zero, one message per account or stream, in the
    #: order they failed: the entry point's last lines (see `Run.final_lines`).
    reported: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def account_failed(self, account: str, error: Exception) -> None:
        """`account` cannot be extracted: its later contexts are skipped, bookmarks kept."""
        with self._lock:
            if account in self.accounts:
                return
            message = self.accounts[account] = redact(str(error))
        self._record(f"account '{account}'", message)
        LOGGER.error("Account '%s' skipped for the rest of the run: %s", account, message)

    def stream_skipped(self, stream: str, account: str, message: str, ancestors: list[str]) -> None:
        """Amazon refuses `stream` for lack of a role: skip it for `account`, keep going.

        Its bookmark and its parents' stay, so the data arrives once the role is granted;
        with setting `strict` the run also exits non-zero.
        """
        with self._lock:
            if (stream, account) in self.skipped:
                return
            self.skipped[(stream, account)] = message = redact(message)
            self.held.update((name, account) for name in [stream, *ancestors])
        LOGGER.warning("Stream '%s' skipped for account '%s': %s", stream, account, message)
        if self.strict:
            self._record(f"stream '{stream}' of account '{account}'", message)

    def stream_stopped(
        self, stream: str, account: str, error: Exception, ancestors: list[str]
    ) -> None:
        """`stream` cannot go on for `account` this run; the other streams and accounts do."""
        message = redact(str(error))
        with self._lock:
            if (stream, account) in self.stopped:
                return
            self.stopped[(stream, account)] = message
            self.held.update((name, account) for name in [stream, *ancestors])
        self._record(f"stream '{stream}' of account '{account}'", message)
        LOGGER.error(
            "Stream '%s' stopped for account '%s'; its bookmark stays for the next run: %s",
            stream,
            account,
            message,
        )

    def context_failed(
        self, stream: str, account: str, what: str, error: Exception, ancestors: list[str]
    ) -> None:
        """One per-id context (`what`) of `stream` failed; the stream goes on.

        The parents' bookmarks stay, so the next run asks for it again.
        """
        message = redact(str(error))
        with self._lock:
            self.failed_contexts[(stream, account)] += 1
            count = self.failed_contexts[(stream, account)]
            self.held.update((name, account) for name in ancestors)
        self._record(
            f"stream '{stream}' of account '{account}'", f"{count} context(s) failed, last {what}: "
            f"{message}"
        )  # fmt: skip
        LOGGER.error(
            "Stream '%s' of account '%s' could not read %s; the parent bookmarks stay for the "
            "next run: %s",
            stream,
            account,
            what,
            message,
        )

    def abandoned(self, stream: str, account: str) -> bool:
        """Whether `stream` is not to be read for `account` any more this run."""
        key = (stream, account)
        return account in self.accounts or key in self.skipped or key in self.stopped

    def holds(self, stream: str, account: str) -> bool:
        """Whether `stream`'s bookmark of `account` must stay where the run found it."""
        return account in self.accounts or (stream, account) in self.held

    def _record(self, what: str, message: str) -> None:
        self.reported[what] = message


def summary(failures: dict[str, str]) -> str:
    """The last line of a run that did not get everything: what failed, in one line."""
    return (
        f"the run is incomplete: {len(failures)} failure(s) ({', '.join(failures)}); "
        "their bookmarks were kept, so the next run reads what was missed"
    )
