"""Failures contained to what they concern: the stream's side of failures.py.

An account whose credentials or endpoint fail is skipped, and so are its later contexts;
a stream that fails for good stops for that account; one per-id context Amazon refuses
fails alone. `Containment`, a collaborator each stream holds (`SPAPIStream.contained`),
decides which, records it in the run's `RunFailures`, and keeps the bookmarks that
would move past what was missed.

A 403 Unauthorized means a missing role only for a stream that never succeeded for the
account, in this run or an earlier one: the state shows an earlier success by a bookmark
of the account's own, else by the stream's `succeeded_for` marker, which this module
writes at the end of the stream's sync (state.py). One run cannot tell a role never
granted from an outage or a proxy refusing the operation; the history can.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from tap_spapi.amazon.roles import missing_role_hint
from tap_spapi.errors import AccountUnavailableError, RefusedAfterSuccessError, TapSpapiError
from tap_spapi.keys import ACCOUNT_KEY
from tap_spapi.runtime.state import note_succeeded, succeeded_accounts
from tap_spapi.wire.headers import account_of
from tap_spapi.wire.responses import SPAPIRequestError, operation_called

if TYPE_CHECKING:
    import logging
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

    from tap_spapi.amazon.operations import Operation
    from tap_spapi.runtime.run import Run
    from tap_spapi.streams.base.bookmarks import Bookmarks
    from tap_spapi.streams.base.fetch_ahead import AheadOfSync
    from tap_spapi.wire.account import Account


class ContainedStream(Protocol):
    """What containment reads of its stream (SPAPIStream has it all)."""

    name: str

    @property
    def logger(self) -> logging.Logger: ...

    @property
    def operation(self) -> Operation: ...
    @property
    def operation_id(self) -> str: ...
    @property
    def run(self) -> Run: ...
    @property
    def stream_state(self) -> dict[str, Any]: ...
    @property
    def parent_stream_type(self) -> Any: ...
    @property
    def ahead(self) -> AheadOfSync: ...
    @property
    def bookmarks(self) -> Bookmarks: ...
    def account_for(self, context: Context | None) -> Account: ...
    def get_context_state(self, context: Context | None) -> dict[str, Any]: ...
    def abandoned(self, context: Context | None) -> bool: ...
    def wants(self, context: Context | None) -> bool: ...


class Containment:
    """What a failure of one stream stops: the account, the stream for the account, or
    one per-id context (`per_id`). `keys`: the fields that tell records of one query
    apart as Amazon sends them, `repeats`: whether one query's pages may repeat a record
    (then `once_per_key` drops the repeats); `role`: the role the stream's operation
    needs, if the stream names one."""

    def __init__(
        self,
        stream: ContainedStream,
        *,
        per_id: bool,
        keys: list[str],
        repeats: bool,
        role: str | None,
    ) -> None:
        self._stream = stream
        self._per_id = per_id
        self._keys = keys
        self._repeats = repeats
        self._role = role
        #: Accounts a context of this stream was read for, whole, this run (main thread).
        self._succeeded_this_run: set[str] = set()
        self._succeeded_noted = 0  # of them, already noted in the state

    def records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """`context`'s records (`SPAPIStream.get_records`), prefetched when announced,
        their children announced ahead, failures contained.

        An account whose credentials or endpoint fail is skipped with an error naming it,
        and so are its later contexts; a stream that fails for good stops for that
        account; one per-id context Amazon refuses fails alone. The others finish,
        bookmarks that would move past what was missed stay, and the run exits non-zero
        at the end.
        """
        stream = self._stream
        if not (context or {}).get(ACCOUNT_KEY):
            return  # no account in this run's shard: singer-sdk syncs once without context
        name = stream.account_for(context).name
        if stream.abandoned(context) or not stream.wants(context):
            return
        try:
            records = stream.ahead.announcing_children(stream.ahead.records_of(context), context)
            yield from self.once_per_key(records) if self._repeats else records
        except TapSpapiError as exc:
            self.settle(exc, context)
        else:
            self.succeeded(name)
        if stream.run.failures.holds(stream.name, name):
            # An unsorted stream's new bookmark waits in its progress markers until the
            # SDK finalizes the partition, right after this: it must not move.
            stream.get_context_state(context).pop("progress_markers", None)

    @property
    def ancestors(self) -> list[str]:
        """Names of the stream's parent, grandparent, ...: their bookmarks cover its data."""
        names, parent = [], self._stream.parent_stream_type
        while parent is not None:
            names.append(str(parent.name))  # a class attribute of ours
            parent = parent.parent_stream_type
        return names

    def _succeeded_before(self, error: SPAPIRequestError) -> bool:
        """Whether the refused operation ever succeeded for the account this run."""
        operation = operation_called(error.response.request, self._stream.operation_id)
        account = self._stream.run.account_named(account_of(error.response.request))
        return operation in account.adapter.succeeded

    @cached_property
    def _succeeded_earlier(self) -> frozenset[str]:
        """Accounts the state shows this stream succeeded for in an earlier run, read at
        the first refusal (a success this run also shows in `_succeeded_before`)."""
        return frozenset(succeeded_accounts(self._stream.stream_state))

    def succeeded(self, account: str) -> None:
        """A context of `account` was read whole: the stream has the role it needs there."""
        stream = self._stream
        if not stream.run.failures.abandoned(stream.name, account):
            self._succeeded_this_run.add(account)

    def note_succeeded(self) -> None:
        """After singer-sdk finalized the stream's state: the accounts it succeeded for
        this run and keeps no bookmark of its own for join its `succeeded_for` (state.py)."""
        accounts = self._succeeded_this_run
        # singer-sdk finalizes a child once per parent record: only a newly succeeded
        # account is worth looking through the state for (the set only grows).
        if not accounts or len(accounts) == self._succeeded_noted:
            return
        self._succeeded_noted = len(accounts)
        if note_succeeded(self._stream.stream_state, accounts):
            self._stream.bookmarks.flush()

    def settle(self, error: TapSpapiError, context: Context | None) -> None:
        """Record a failure of `context`: the account's (credentials, endpoint), else what
        `contain` decides; the partition's pending bookmark is dropped either way."""
        self._stream.get_context_state(context).pop("progress_markers", None)
        if isinstance(error, AccountUnavailableError):
            self._stream.run.failures.account_failed(self._stream.account_for(context).name, error)
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
        stream = self._stream
        name, failures, ancestors = (
            stream.account_for(context).name,
            stream.run.failures,
            self.ancestors,
        )
        if not isinstance(error, SPAPIRequestError):
            failures.stream_stopped(stream.name, name, error, ancestors)
        elif error.missing_role and not self._succeeded_before(error):
            if name in self._succeeded_earlier:
                refused = self._refused_after_success(error)
                failures.stream_stopped(stream.name, name, refused, ancestors)
                return
            message = f"{missing_role_hint(stream.operation.api, self._role)}. {error}"
            failures.stream_skipped(stream.name, name, message, ancestors)
        elif self._per_id:
            what = ", ".join(f"{k}={v}" for k, v in (context or {}).items() if k != ACCOUNT_KEY)
            failures.context_failed(stream.name, name, what, error, ancestors)
        else:
            failures.stream_stopped(stream.name, name, error, ancestors)

    def _refused_after_success(self, error: SPAPIRequestError) -> RefusedAfterSuccessError:
        default = self._stream.operation.operation_id
        operation = operation_called(error.response.request, default)
        return RefusedAfterSuccessError(
            f"{operation} refused with 403 although this stream succeeded for the account "
            "in an earlier run: an outage, a proxy refusing it, or a role revoked since "
            f"(not skipped as a missing role); its bookmarks stay: {error}"
        )

    def once_per_key(self, records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """`records` without repeats of a key within one query.

        Amazon has returned a record on two consecutive pages; targets that append would
        load it twice. Records that lack a key field here (it is added later) pass.
        """
        keys = self._keys
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
            self._stream.logger.warning(
                "%s returned %d record(s) twice within one query; each was emitted once.",
                self._stream.operation.operation_id,
                repeats,
            )
