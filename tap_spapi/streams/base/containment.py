"""Failures contained to what they concern: the stream's side of failures.py.

An account whose credentials or endpoint fail is skipped, and so are its later contexts;
a stream that fails for good stops for that account; one per-id context Amazon refuses
fails alone. `get_records` (singer-sdk's hook) decides which, records it in the run's
`RunFailures`, and keeps the bookmarks that would move past what was missed.

A 403 Unauthorized means a missing role only for a stream that never succeeded for the
account, in this run or an earlier one: the state shows an earlier success by a bookmark
of the account's own, else by the stream's `succeeded_for` marker, which this module
writes at the end of the stream's sync (state.py). One run cannot tell a role never
granted from an outage or a proxy refusing the operation; the history can.
"""

from __future__ import annotations

import abc
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, cast

from typing_extensions import override

from tap_spapi.amazon.roles import missing_role_hint
from tap_spapi.errors import AccountUnavailableError, RefusedAfterSuccessError, TapSpapiError
from tap_spapi.keys import ACCOUNT_KEY
from tap_spapi.runtime.state import note_succeeded, succeeded_accounts
from tap_spapi.streams.base.fetch_ahead import FetchesAhead
from tap_spapi.wire.responses import SPAPIRequestError, operation_called

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

    from tap_spapi.amazon.operations import Operation
    from tap_spapi.runtime.failures import RunFailures
    from tap_spapi.wire.account import Account


class ContainsFailures(FetchesAhead):
    """A stream whose failures stop no more than the account, stream or context they
    concern (see failures.py)."""

    #: The fields that tell records of one query apart as Amazon sends them, where the
    #: primary key is only built in `post_process` (default: the primary key).
    query_keys: ClassVar[tuple[str, ...]] = ()

    @abc.abstractmethod
    def account_for(self, context: Context | None) -> Account:
        """The account `context` belongs to (see `SPAPIStream.account_for`)."""

    @property
    @abc.abstractmethod
    def operation(self) -> Operation:
        """The stream's operation: its API names the role a 403 may lack."""

    @abc.abstractmethod
    def _succeeded_before(self, error: SPAPIRequestError) -> bool:
        """Whether the refused operation ever succeeded for the account this run."""

    @cached_property
    def _succeeded_this_run(self) -> set[str]:
        """Accounts a context of this stream was read for, whole, this run (main thread)."""
        return set()

    @cached_property
    def _succeeded_earlier(self) -> frozenset[str]:
        """Accounts the state shows this stream succeeded for in an earlier run, read at
        the first refusal (a success this run also shows in `_succeeded_before`)."""
        return frozenset(succeeded_accounts(self.stream_state))

    def succeeded(self, account: str) -> None:
        """A context of `account` was read whole: the stream has the role it needs there."""
        if not self.failures.abandoned(self.name, account):
            self._succeeded_this_run.add(account)

    @override
    def finalize_state_progress_markers(self, state: dict[str, Any] | None = None) -> None:
        """singer-sdk's, then the accounts this stream succeeded for this run and keeps
        no bookmark of its own for are added to its `succeeded_for` (state.py)."""
        super().finalize_state_progress_markers(state)
        accounts = self.__dict__.get("_succeeded_this_run")
        # singer-sdk finalizes a child once per parent record: only a newly succeeded
        # account is worth looking through the state for (the set only grows).
        if not accounts or len(accounts) == self._succeeded_noted:
            return
        self._succeeded_noted = len(accounts)
        if note_succeeded(self.stream_state, accounts):
            self.state_manager.is_flushed = False
            self._write_state_message()

    _succeeded_noted = 0  # accounts of `_succeeded_this_run` already noted

    @property
    def failures(self) -> RunFailures:
        """The run's failures (see failures.py)."""
        return self.run.failures

    @override
    def abandoned(self, context: Context | None) -> bool:
        """Whether `context`'s account failed or this stream stopped for it this run:
        later windows must not move its bookmark past data that was never read."""
        return self.failures.abandoned(self.name, (context or {}).get(ACCOUNT_KEY, ""))

    @property
    def ancestors(self) -> list[str]:
        """Names of the parent, grandparent, ...: their bookmarks cover this stream's data."""
        names, parent = [], self.parent_stream_type
        while parent is not None:
            names.append(str(cast("Any", parent).name))  # a class attribute of ours
            parent = parent.parent_stream_type
        return names

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Records of `context` (prefetched when announced), announcing children ahead.

        Failures are contained (see failures.py): an account whose credentials or
        endpoint fail is skipped with an error naming it, and so are its later contexts;
        a stream that fails for good stops for that account; one per-id context Amazon
        refuses fails alone. The others finish, bookmarks that would move past what was
        missed stay, and the run exits non-zero at the end.
        """
        if not (context or {}).get(ACCOUNT_KEY):
            return  # no account in this run's shard: singer-sdk syncs once without context
        name = self.account_for(context).name
        if self.abandoned(context) or not self.wants(context):
            return
        try:
            records = self._announcing_children(self._records_of(context), context)
            yield from self._once_per_key(records)
        except TapSpapiError as exc:
            self.settle(exc, context)
        else:
            self.succeeded(name)
        if self.failures.holds(self.name, name):
            # An unsorted stream's new bookmark waits in its progress markers until the
            # SDK finalizes the partition, right after this: it must not move.
            self.get_context_state(context).pop("progress_markers", None)

    def settle(self, error: TapSpapiError, context: Context | None) -> None:
        """Record a failure of `context`: the account's (credentials, endpoint), else what
        `contain` decides; the partition's pending bookmark is dropped either way."""
        self.get_context_state(context).pop("progress_markers", None)
        if isinstance(error, AccountUnavailableError):
            self.failures.account_failed(self.account_for(context).name, error)
        else:
            self.contain(error, context)

    def contain(self, error: TapSpapiError, context: Context | None) -> None:
        """Decide what `error` stops: the stream for the account, or only `context`.

        A 403 from an operation that has not succeeded for the account this run means
        a missing role if the stream never succeeded for it before either (skipped, the
        role named), else an outage or a revoked role (the stream stops, the run fails);
        one from an operation that did succeed this run, or another refusal of one id,
        fails that per-id context alone; anything else (retries exhausted, a pagination
        loop, a record without its key) stops the stream for the account.
        """
        name = self.account_for(context).name
        if not isinstance(error, SPAPIRequestError):
            self.failures.stream_stopped(self.name, name, error, self.ancestors)
        elif error.missing_role and not self._succeeded_before(error):
            if name in self._succeeded_earlier:
                refused = self._refused_after_success(error)
                self.failures.stream_stopped(self.name, name, refused, self.ancestors)
                return
            role = missing_role_hint(self.operation.api, getattr(self, "required_role", None))
            message = f"{role}. {error}"
            self.failures.stream_skipped(self.name, name, message, self.ancestors)
        elif self.prefetch:
            what = ", ".join(f"{k}={v}" for k, v in (context or {}).items() if k != ACCOUNT_KEY)
            self.failures.context_failed(self.name, name, what, error, self.ancestors)
        else:
            self.failures.stream_stopped(self.name, name, error, self.ancestors)

    def _refused_after_success(self, error: SPAPIRequestError) -> RefusedAfterSuccessError:
        operation = operation_called(error.response.request, self.operation.operation_id)
        return RefusedAfterSuccessError(
            f"{operation} refused with 403 although this stream succeeded for the account "
            "in an earlier run: an outage, a proxy refusing it, or a role revoked since "
            f"(not skipped as a missing role); its bookmarks stay: {error}"
        )

    def _once_per_key(self, records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """`records` without repeats of a primary key within one query.

        Amazon has returned a record on two consecutive pages; targets that append would
        load it twice. Records that lack a key field here (it is added later) pass.
        """
        keys = list(self.query_keys or self.primary_keys or [])
        seen: set[tuple[Any, ...]] = set()  # key fields are strings or numbers (the schemas)
        repeats = 0
        for record in records:
            if keys and all(field in record for field in keys):
                key = tuple([record[field] for field in keys])
                try:
                    repeated = key in seen
                except TypeError:  # a key Amazon sent as an object or list
                    key = tuple(map(repr, key))
                    repeated = key in seen
                if repeated:
                    repeats += 1
                    continue
                seen.add(key)
            yield record
        if repeats:
            self.logger.warning(
                "%s returned %d record(s) twice within one query; each was emitted once.",
                self.operation.operation_id,
                repeats,
            )
