"""Tracking API 2026-01-30 streams: milestones of parcels and freight, by identifier.

Amazon's Tracking API cannot list shipments either: it answers one identifier at a time.
The tap asks it for the identifiers it sees itself, the `amazonFulfillmentTrackingNumber`
of each MCF package (outbound_shipments) and the carrier tracking number of each box of
an inbound 2024 small-parcel shipment (inbound_plan_shipments), plus those a user lists
(`shipment_tracking_ids`, `shipment_tracking_ids_file`).

The identifiers the tap sees are written into this stream's state as they are emitted
(`note_identifier`), not held in memory: the STATE message that moves the parent's
bookmark past a package already carries its identifier, so a run killed between the
parent and this stream still tracks it on resume. They are kept compactly, one
partition per account (state.IdentifierBook); an identifier whose latest milestone is
final is not requested again, and leaves the state after a grace period (state.py).
An identifier Amazon answers 404 for `REFUSAL_LIMIT` runs in a row is given up: not
asked again unless listed (tracking_refusals.py). Nothing is noted while this stream
(and its milestones) is not selected.
"""

from __future__ import annotations

import copy
from functools import cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar

from typing_extensions import override

from tap_spapi.config.accounts_setting import account_names
from tap_spapi.config.shipment_identifiers import CARRIER, ShipmentIdentifier
from tap_spapi.keys import ACCOUNT_KEY, SELLER_KEY
from tap_spapi.runtime.inbox import TRACKING_CHANGED, due
from tap_spapi.runtime.state import (
    FINAL_MILESTONE,
    PerIdentifierLayout,
    grace_start,
    news_start,
)
from tap_spapi.streams.base.stream import SPAPIStream
from tap_spapi.streams.base.windows import instant
from tap_spapi.streams.tracking_refusals import Asked, Refusals, asked
from tap_spapi.wire.redact import redact
from tap_spapi.wire.responses import amazon_error, decode, decoded_body

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import requests
    from singer_sdk.helpers.types import Context

TRACKING_STREAM = "shipment_tracking"
# `latestMilestone.status.code` values after which nothing more happens to the parcel or
# container, from the model's TrackingMilestoneStatus enum: delivered or picked up,
# lost or destroyed, cancelled, back with the sender, an empty container returned.
FINAL_MILESTONES = frozenset(
    {
        "DELIVERED",
        "CUSTOMER_PICKUP_COMPLETED",
        "LOST",
        "UNDELIVERABLE_DESTROY_IN_FIELD",
        "ORDER_CANCELLED",
        "BOOKING_CANCELLED",
        "RETURN_RECEIVED",
        "EMPTY_RETURN",
    }
)


# 0.1.0 kept a state partition per identifier (state.migrated reads it).
TRACKING_LAYOUT = PerIdentifierLayout(
    stream=TRACKING_STREAM,
    kind_key="identifierType",
    value_key="identifierValue",
    final_key=FINAL_MILESTONE,
    finals=FINAL_MILESTONES,
    noun="identifier",
)


class NotesTrackingIdentifiers(SPAPIStream):
    """A stream whose records carry identifiers the Tracking API answers for."""

    def note_identifier(self, account: str, identifier: ShipmentIdentifier | None) -> None:
        """Add `identifier` to the tracking stream's state (if it is not there yet).

        Called on the main thread while this stream emits the record that carries it, so
        the next STATE message (the one that may move the parent's bookmark) persists it.
        Nothing is noted when shipment_tracking (and its milestones) is not selected.
        """
        tracking = self._tracking
        if identifier is None or tracking is None:
            return
        if tracking.bookmarks.book(account).note(
            identifier.kind, identifier.value, self.run.started_second
        ):
            context = {ACCOUNT_KEY: account, **identifier.as_context()}
            tracking.ahead.fetch_early(context)  # asked now, not after every parent synced

    @cached_property
    def _tracking(self) -> ShipmentTrackingStream | None:
        stream = self._tap.streams.get(TRACKING_STREAM)
        if isinstance(stream, ShipmentTrackingStream) and (
            stream.selected or stream.has_selected_descendents
        ):
            return stream
        return None


class ShipmentTrackingStream(SPAPIStream):
    """Tracking of each identifier (getShipmentTracking), one state partition per account."""

    name = TRACKING_STREAM
    prefetch = True
    fetches_early = True
    operation_id = "getShipmentTracking"
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "identifierType", "identifierValue"]
    replication_key = "latestMilestoneTime"
    after_a_kill = "each identifier's newest milestone is noted as it is emitted (IdentifierBook)"
    derived_keys = ("identifierType", "identifierValue", "latestMilestoneTime")
    records_jsonpath = "$.trackingDetail"
    # The identifiers of an account share its partition (state.IdentifierBook); the
    # SDK's own bookmark there is the newest milestone of any of them.
    state_partitioning_keys: ClassVar[list[str]] = [ACCOUNT_KEY]
    # The shipments whose packages and boxes carry the identifiers: read (not emitted)
    # when this stream is selected without them, so it is complete on its own.
    needs = ("outbound_shipments", "inbound_plan_shipments")

    @cached_property
    def _listed(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        """The identifiers of the settings, by (account, kind, value): their contexts."""
        settings = self.run.settings
        first = account_names(settings)[0]
        return {
            (ident.account or first, ident.kind, ident.value): {
                ACCOUNT_KEY: ident.account or first,
                **ident.as_context(),
            }
            for ident in settings.identifiers
        }

    @property
    @override
    def partitions(self) -> list[dict[str, Any]]:
        """Identifiers notified this run, listed ones (under their account, else the
        first) and the open ones noted by the parents in this and earlier runs, each
        once (`_asks`); of those notifications cover, only the backstop's share (`_due`)."""
        contexts = {
            key: context for key, context in self._listed.items() if key[0] in self.run.accounts
        }
        for key in self._notified:
            contexts.setdefault(key, _context(*key))
        for account in self.run.accounts:
            for kind, value in self.bookmarks.book(account).open_identifiers():
                contexts.setdefault((account, kind, value), _context(account, kind, value))
        return [
            context
            for key, context in contexts.items()
            if self._asks(*key) and (key in self._notified or self._due(*key))
        ]

    def _asks(self, account: str, kind: str, value: str) -> bool:
        """Whether the identifier is asked this run: not final, and not given up after
        Amazon refused it `REFUSAL_LIMIT` runs in a row, unless listed or notified.

        A listed identifier Amazon refuses stays asked: the user named it (a container
        number listed when booked may be unknown to Amazon for days, until the carrier
        reports it), and what it costs is the list the user keeps, not the history.
        """
        book = self.bookmarks.book(account)
        if book.is_final(kind, value):
            return False
        key = (account, kind, value)
        return key in self._listed or key in self._notified or not book.given_up(kind, value)

    def _due(self, account: str, kind: str, value: str) -> bool:
        """Whether Amazon is asked for an identifier not notified this run: always
        without notifications, and for one never answered yet; else once per
        `notifications_poll_hours` (notifications.due), in case one was lost."""
        if account not in self._covered:
            return True
        book = self.bookmarks.book(account)
        if not book.latest(kind, value):
            return True
        period = self.run.settings.notifications_poll_hours * 3600
        return due(kind, value, book.polled_at(), self.run.started_second, period)

    @cached_property
    def _covered(self) -> frozenset[str]:
        """The run's accounts whose tracking changes Amazon notifies (a subscription)."""
        inbox = self.run.inbox
        if inbox is None:
            return frozenset()
        return frozenset(a for a in self.run.accounts if inbox.covers(a, TRACKING_CHANGED))

    @cached_property
    def _notified(self) -> dict[Asked, dict[str, Any]]:
        """The newest trackingDetail notified this run per identifier (none asked)."""
        inbox = self.run.inbox
        if inbox is None:
            return {}
        return {
            (account, kind, value): detail
            for account in self.run.accounts
            for (kind, value), detail in inbox.trackings(account).items()
        }

    @override
    def request_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """A notified identifier's tracking from its notification, with no request; any
        other identifier's from getShipmentTracking."""
        detail = self._notified.get(asked(context)) if context else None
        if detail is None:
            yield from super().request_records(context)
            return
        assert context is not None
        self._refusals.answered(asked(context), None)  # Amazon tracks it: refusals end
        account = self.account_for(context)
        yield from self.records.in_body({"trackingDetail": copy.deepcopy(detail)}, account)

    @override
    def finalize_state_progress_markers(self, state: dict[str, Any] | None = None) -> None:
        """singer-sdk's end of the stream's sync (`Tap.sync_all` calls it after `sync`);
        first, final identifiers past the grace period and open ones without news for
        too long leave the state (after the parents named again those they re-read,
        state.IdentifierBook.note)."""
        if not state:
            now = self.run.run_started_at
            for account in self.run.accounts:
                listed = {(kind, value) for (name, kind, value) in self._listed if name == account}
                book = self.bookmarks.book(account)
                book.forget(
                    final_before=grace_start(now, self.bookmarks.lookback),
                    open_before=news_start(now),
                    listed=listed,
                )
                if account in self._covered:
                    book.polled(self.run.started_second)
            self.state_manager.is_flushed = False
        super().finalize_state_progress_markers(state)

    @override
    def wants(self, context: Context | None) -> bool:
        """Identifiers whose latest milestone was final, or given up, are not asked."""
        if not context:
            return True
        return self._asks(*asked(context))

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """The one identifier of the context."""
        assert context is not None
        return _identifier(context).query()

    @override
    def validate_response(self, response: requests.Response) -> None:
        """404: Amazon tracks nothing under the identifier (yet), which is not a failure;
        `get_records` counts it and warns, naming the identifier."""
        if response.status_code == HTTPStatus.NOT_FOUND:
            decode(response, self.response_error_message)
            self._refusals.answered_in(response, redact(amazon_error(response).describe()))
            return
        super().validate_response(response)
        self._refusals.answered_in(response, None)

    @cached_property
    def _refusals(self) -> Refusals:
        """What Amazon answered per identifier this run, counted once it is synced."""
        return Refusals(
            self.name,
            self.logger,
            listed=lambda key: key in self._listed,
            account_of=lambda response: self._account_of(response).name,
        )

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """The tracking detail (none for a 404)."""
        if response.status_code == HTTPStatus.NOT_FOUND:
            return iter(())
        if not (decoded_body(response) or {}).get("trackingDetail"):
            return iter(())
        return super().parse_response(response)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The identifier's record; its newest milestone (final or not) kept once emitted."""
        if context is None:
            return
        book = self.bookmarks.book(context[ACCOUNT_KEY])
        for record in super().get_records(context):
            code = ((record.get("latestMilestone") or {}).get("status") or {}).get("code")
            yield record
            self.bookmarks.keep(book, context["identifierType"], context["identifierValue"], record,
                       final=code in FINAL_MILESTONES)  # fmt: skip
        if self._refusals.count(book, context):
            self.state_manager.is_flushed = False

    @override
    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        """Name the identifier; hand the milestones over; drop it if nothing is new.

        An answer without a milestone status, milestones or estimates (the rule of
        getTracking's empty payloads, #4923) is dropped with a warning: a record of
        nulls would overwrite what a merge target holds. It is asked again next run.
        """
        context = context or {}
        status = ((row.get("latestMilestone") or {}).get("status") or {}).get("code")
        if not status and not row.get("milestoneHistory") and not row.get("trackingEstimates"):
            self.logger.warning(
                "getShipmentTracking returned an empty tracking (no status, milestones or "
                "estimates) for %s %s; nothing loaded for it, it is asked again next run.",
                context.get("identifierType"),
                context.get("identifierValue"),
            )
            return None
        row["identifierType"] = context.get("identifierType")
        row["identifierValue"] = context.get("identifierValue")
        row["carrierCode"] = context.get("carrierCode")
        milestones = row.pop("milestoneHistory", None) or []
        times = [m.get("occurredAt") for m in milestones]
        latest = max((t for t in times if t), default=None)
        row[self.replication_key] = latest
        known = self.bookmarks.book(context[ACCOUNT_KEY]).latest(
            context["identifierType"], context["identifierValue"]
        )
        if known and latest and instant(latest).timestamp() < known + 1:
            return None  # nothing after the newest milestone loaded (to the second)
        for child in self.child_streams:
            if isinstance(child, ShipmentTrackingMilestonesStream):
                child.keep(row, milestones)
        return super().post_process(row, context)

    @override
    def get_child_context(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:
        """Milestones belong to one identifier."""
        return {
            ACCOUNT_KEY: record[ACCOUNT_KEY],
            "identifierType": record["identifierType"],
            "identifierValue": record["identifierValue"],
        }


class ShipmentTrackingMilestonesStream(SPAPIStream):
    """One row per milestone of each tracking emitted (its `milestoneHistory`).

    From the parent's response, without a request of its own: the parent hands each
    identifier's milestones over in `post_process`, and singer-sdk syncs this stream for
    that identifier right after.
    """

    name = "shipment_tracking_milestones"
    operation_id = "getShipmentTracking"
    parent_stream_type = ShipmentTrackingStream
    primary_keys: ClassVar[list[str]] = [
        ACCOUNT_KEY,
        "identifierType",
        "identifierValue",
        "occurredAt",
        "statusCode",
    ]
    derived_keys = ("identifierType", "identifierValue", "statusCode")
    state_partitioning_keys: ClassVar[list[str]] = []

    @cached_property
    def _held(self) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
        return {}

    def keep(self, tracking: dict[str, Any], milestones: list[dict[str, Any]]) -> None:
        """Hold the milestones of `tracking` for the sync of its child context."""
        if self.selected:
            self._held[_key(self.parent_context_of(tracking))] = self._rows(tracking, milestones)

    def _rows(
        self, tracking: dict[str, Any], milestones: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        rows = []
        for milestone in milestones:
            row = {
                **milestone,
                "statusCode": (milestone.get("status") or {}).get("code"),
                "identifierType": tracking["identifierType"],
                "identifierValue": tracking["identifierValue"],
                ACCOUNT_KEY: tracking[ACCOUNT_KEY],
                SELLER_KEY: tracking.get(SELLER_KEY),
            }
            self.records.check(row)
            rows.append(row)
        return rows

    @staticmethod
    def parent_context_of(tracking: dict[str, Any]) -> dict[str, Any]:
        """The child context the SDK will sync these milestones under."""
        return {
            ACCOUNT_KEY: tracking[ACCOUNT_KEY],
            "identifierType": tracking["identifierType"],
            "identifierValue": tracking["identifierValue"],
        }

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """The milestones of a getShipmentTracking answer (the parent's), each naming the
        identifier the answer gives."""
        account = self._account_of(response)
        detail = (decoded_body(response) or {}).get("trackingDetail") or {}
        kind, value = next(iter((detail.get("identifier") or {"id": None}).items()))
        if isinstance(value, dict):  # carrierTracking: {trackingNumber, carrierCode}
            value = value.get("trackingNumber")
        tracking = {
            "identifierType": kind,
            "identifierValue": value,
            ACCOUNT_KEY: account.name,
            SELLER_KEY: account.settings.selling_partner_id,
        }
        yield from self._rows(tracking, detail.get("milestoneHistory") or [])

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """The milestones held for the context's identifier."""
        assert context is not None
        yield from self._held.pop(_key(context), [])


def _context(account: str, kind: str, value: str) -> dict[str, Any]:
    return {ACCOUNT_KEY: account, "identifierType": kind, "identifierValue": value}


def _identifier(context: Context) -> ShipmentIdentifier:
    return ShipmentIdentifier(
        context["identifierType"], context["identifierValue"], context.get("carrierCode")
    )


def _key(context: Context | None) -> tuple[Any, ...]:
    return tuple(sorted((k, v) for k, v in (context or {}).items() if k != "carrierCode"))


def seen_identifier(kind: str, value: str | None) -> ShipmentIdentifier | None:
    """An identifier found in a record (None when the record has none)."""
    return ShipmentIdentifier(kind, value) if value else None


TRACKING_STREAM_TYPES: tuple[type[SPAPIStream], ...] = (
    ShipmentTrackingStream,
    ShipmentTrackingMilestonesStream,
)
__all__ = [
    "CARRIER",
    "TRACKING_LAYOUT",
    "TRACKING_STREAM_TYPES",
    "NotesTrackingIdentifiers",
    "seen_identifier",
]
