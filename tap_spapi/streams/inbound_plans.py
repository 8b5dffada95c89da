"""FBA inbound 2024-03-20 streams: Send to Amazon plans, their shipments, items and boxes.

v0 `getShipments` stays beside these (the only source of received quantities); a 2024
shipment's `shipmentConfirmationId` is the v0 `ShipmentId` (the `FBA...` id on the
labels), which is how the two join.
"""

from __future__ import annotations

import functools
import threading
from functools import cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar

from typing_extensions import override

from tap_spapi.keys import ACCOUNT_KEY
from tap_spapi.runtime.pools import context_key
from tap_spapi.runtime.state import FINAL_SHIPMENTS, READ_DOWN_TO, READ_FROM, REPLICATION_KEY
from tap_spapi.streams.base.fetch_ahead import AheadOfSync
from tap_spapi.streams.base.paging import DecodedBodyPaginator
from tap_spapi.streams.base.stream import SPAPIStream
from tap_spapi.streams.base.windows import instant
from tap_spapi.streams.tracking import CARRIER, NotesTrackingIdentifiers, seen_identifier
from tap_spapi.wire.ahead import Walk
from tap_spapi.wire.responses import SPAPIRequestError, decoded_body

if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable, Iterable

    import requests
    from singer_sdk.helpers.types import Context
    from singer_sdk.pagination import BaseAPIPaginator


# Shipment statuses after which a shipment never changes, from the "Possible values" of
# the model's `Shipment.status`: received and closed, cancelled, deleted, abandoned.
FINAL_SHIPMENT_STATUSES = frozenset({"CLOSED", "CANCELLED", "DELETED", "ABANDONED"})
PLANS_PAGE = 30  # listInboundPlans' largest pageSize
# Pages of plans the listing walk reads ahead of its consumer (wire/ahead.py `Walk`).
PAGES_AHEAD = 2
LIST_PAGE = 1000  # listShipmentItems' and listShipmentBoxes' largest pageSize
# getInboundPlan's refusal of plans of the cross-border programs (Seller Export and
# Delivery, Amazon Global Logistics): selling-partner-api-models #4641, #4091, #4337.
REFUSED_PLAN = "is not supported for the cross border"
_RESUME_LOCK = threading.Lock()  # readers and the main thread read `_read_before` alike


class InboundPlansStream(SPAPIStream):
    """Inbound plans changed since the bookmark (listInboundPlans).

    listInboundPlans has no "updated since" filter: the stream asks for plans sorted by
    LAST_UPDATED_TIME, newest first, and stops paging at the first plan last updated
    before the bookmark minus `lookback_window`. That relies on Amazon's sort being by
    `lastUpdatedAt` and on a change to a plan's shipments updating the plan (see
    docs/streams.md); the lookback absorbs a plan updated while the run pages.
    """

    name = "inbound_plans"
    operation_id = "listInboundPlans"
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "inboundPlanId"]
    replication_key = "lastUpdatedAt"
    is_sorted = False  # newest first: the bookmark moves when the stream completes
    after_a_kill = "the next run reads the plans again from the top (read_from after a stop)"
    records_jsonpath = "$.inboundPlans[*]"
    next_token_path = "pagination.nextToken"
    partitioned_by_account = True

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """Newest first, the largest page; later pages add the token."""
        params: dict[str, Any] = {
            "sortBy": "LAST_UPDATED_TIME",
            "sortOrder": "DESC",
            "pageSize": PLANS_PAGE,
        }
        if next_page_token:
            params["paginationToken"] = next_page_token
        return params

    # Plans (and, through the pool, their shipments) are read ahead from the start of
    # the run: the plans' getInboundPlan requests are then not held back by the sync of
    # their shipments (getShipment has twice the requests at the same plan).
    read_ahead = True

    @override
    def request_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The account's pages, from the newest plan to the first older than the cutoff.

        The pages are asked by a thread of their own (streams/base/paging.py) while the plans
        are announced to the pool. In the SDK's loop, a chain of 14 pages took 1.09-1.16
        times a bare loop's time in the inbound-plans benchmark; walked so, 1.02.
        """
        if context is not None:
            self.bookmarks.since(context[ACCOUNT_KEY])
        if self.run.sequential:
            yield from super().request_records(context)
        else:
            sdk_loop = super().request_records
            yield from Walk(
                lambda: sdk_loop(context),
                limit=PAGES_AHEAD * PLANS_PAGE,
                name=f"{self.name}-pages",
            )

    # --- a run that stopped part-way (a page Amazon kept answering wrongly) ---------
    # The listing has no "updated before" filter, so a stopped run's successor pages
    # from the top again; it skips the plans the stopped run emitted (their shipments
    # were read with them) instead of asking their getInboundPlan and getShipments again.

    def _read_before(self, account: str) -> tuple[datetime.datetime, datetime.datetime] | None:
        """(`read_down_to`, `read_from`) a stopped run left for `account`, if any."""
        with _RESUME_LOCK:
            if account not in self._resume:
                state = self.bookmarks.state_at_start(account)
                low, high = state.get(READ_DOWN_TO), state.get(READ_FROM)
                self._resume[account] = (
                    (instant(low), instant(high))
                    if isinstance(low, str) and isinstance(high, str)
                    else None
                )
            return self._resume[account]

    @cached_property
    def _resume(self) -> dict[str, tuple[datetime.datetime, datetime.datetime] | None]:
        return {}

    def _read_already(self, account: str, plan: dict[str, Any]) -> bool:
        """Whether the stopped run before this one emitted `plan` as it is now."""
        read = self._read_before(account)
        updated = plan.get(self.replication_key)
        return (
            read is not None and isinstance(updated, str) and read[0] < instant(updated) <= read[1]
        )

    @cached_property
    def _top(self) -> dict[str, str]:
        """Per account, the last update of the first plan of this run's first page."""
        return {}

    @cached_property
    def _emitted_down_to(self) -> dict[str, str]:
        """Per account, the last update of the oldest plan emitted so far this run."""
        return {}

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The changed plans; where a run stops part-way, what it read is noted."""
        if context is None:
            return
        account = context[ACCOUNT_KEY]
        for record in super().get_records(context):
            yield record  # written, with its shipments, when the generator resumes
            self._emitted_down_to[account] = record[self.replication_key]
        if (self.name, account) in self.run.failures.stopped:
            self._note_read(context, account)
        elif not self.abandoned(context):
            self._finish_read(context, account)

    def _note_read(self, context: Context, account: str) -> None:
        """The run stopped in the listing: note what it emitted, if the next run can
        skip it (nothing under those plans failed, and it joins what a run before read)."""
        top, low = self._top.get(account), self._emitted_down_to.get(account)
        if (
            top is None
            or low is None
            or any(
                self.run.failures.abandoned(child, account)
                or self.run.failures.failed_contexts[(child, account)]
                for child in self._descendants
            )
        ):
            return
        before = self._read_before(account)
        if before is not None and instant(low) > before[1]:
            return  # stopped above the range read before: that range is kept as it was
        if before is not None:
            low = min(low, before[0].isoformat(), key=instant)
        # A note beside the held bookmark, not a bookmark: written although the stream
        # failed for the account.
        self.bookmarks.note(context, **{READ_FROM: top, READ_DOWN_TO: low})

    def _finish_read(self, context: Context, account: str) -> None:
        """The listing was read to its end: the plans skipped count for the bookmark."""
        state = self.get_context_state(context)
        before, newest = self._read_before(account), state.get(READ_FROM)
        state.pop(READ_FROM, None)
        state.pop(READ_DOWN_TO, None)
        if before is None or self.run.failures.holds(self.name, account):
            return
        markers = state.get("progress_markers")  # singer-sdk's, finalized after this
        target = markers if isinstance(markers, dict) else state
        current = target.get(REPLICATION_KEY)
        if current is None or instant(current) < before[1]:
            target[REPLICATION_KEY] = newest
            target["replication_key"] = self.replication_key

    @cached_property
    def _descendants(self) -> list[str]:
        names, streams = [], list(self.child_streams)
        while streams:
            child = streams.pop()
            names.append(child.name)
            streams.extend(child.child_streams)
        return names

    def _older(self, response: requests.Response, plan: dict[str, Any]) -> bool:
        """Whether `plan` predates what this run reads of the response's account."""
        since = self.bookmarks.since_if_asked(self._account_of(response).name)
        updated = plan.get(self.replication_key)
        return since is not None and isinstance(updated, str) and instant(updated) < since

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """The page's plans changed since the bookmark (minus the lookback), but those
        a stopped run before this one emitted already."""
        account = self._account_of(response).name
        for record in super().parse_response(response):
            if isinstance(record.get(self.replication_key), str):
                self._top.setdefault(account, record[self.replication_key])
            if self._older(response, record):
                return  # sorted newest first: every later plan is older still
            if not self._read_already(account, record):
                yield record

    @override
    def get_new_paginator(self) -> BaseAPIPaginator[Any]:
        """The token paginator, stopping after a page that reached an older plan."""
        return _StopAtOlderPlan.of(self, older=self._older)

    @override
    def get_child_context(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:
        """Shipments are read per changed plan."""
        return {ACCOUNT_KEY: record[ACCOUNT_KEY], "inboundPlanId": record["inboundPlanId"]}


class _StopAtOlderPlan(DecodedBodyPaginator):
    """No next page once a page holds a plan older than what the run reads."""

    def __init__(
        self,
        jsonpath: str,
        where: str,
        wait: Callable[[int], float],
        *,
        older: Callable[[requests.Response, dict[str, Any]], bool],
    ) -> None:
        super().__init__(jsonpath, where, wait)
        self._older = older  # whether a plan of the page predates what the run reads

    @override
    def get_next(self, response: requests.Response) -> str | None:
        plans = (decoded_body(response) or {}).get("inboundPlans") or []
        if any(self._older(response, plan) for plan in plans):
            return None
        return super().get_next(response)

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        """A page whose plans a stopped run emitted already yields none here: the
        listing goes on past it (an empty page from Amazon still ends it)."""
        return bool((decoded_body(response) or {}).get("inboundPlans"))


class InboundPlanShipmentsStream(NotesTrackingIdentifiers):
    """Shipments of each changed plan: getInboundPlan for their ids, then getShipment.

    A shipment emitted in a final status is not requested again while its plan is re-read
    (its id stays in the state for the grace period of state.py). A plan Amazon refuses
    by design (cross-border programs) is skipped with a warning naming it. Shipments by
    an Amazon-partnered carrier come without `trackingDetails` (#4606): the column is
    null then. Each box's carrier tracking number is noted for shipment_tracking.
    """

    name = "inbound_plan_shipments"
    prefetch = True
    operation_id = "fulfillmentInbound_2024-03-20.getShipment"
    parent_stream_type = InboundPlansStream
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "shipmentId"]
    records_jsonpath = "$"
    context_keys_on_records = ("inboundPlanId",)
    # One state per account: the shipments emitted in a final status.
    state_partitioning_keys: ClassVar[list[str]] = [ACCOUNT_KEY]
    path_params: ClassVar[dict[str, str]] = {
        "inboundPlanId": "inboundPlanId",
        "shipmentId": "shipmentId",
    }

    @cached_property
    @override
    def ahead(self) -> AheadOfSync:
        """A plan's fetch asks getInboundPlan only (in its lane) and hands each shipment's
        getShipment to the pool as a fetch of its own, in getShipment's lane: a worker
        that held the plan until its shipments were fetched paced getInboundPlan to
        getShipment's queue (1.80 of its minimum). The sync takes the shipments plan by
        plan, one by one (`request_records`)."""
        return AheadOfSync(
            self,
            prefetch=self.prefetch,
            lane=lambda plan: self.account_for(plan).limiter.lane("getInboundPlan"),
            fetch=self._plan_ahead,
            records=self.request_records,
        )

    def _plan_ahead(self, context: Context | None) -> list[dict[str, Any]]:
        """In a worker: the plan's non-final shipments, each one's fetch announced."""
        assert context is not None
        return [] if self.abandoned(context) else self._shipments_to_fetch(context)

    @override
    def request_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """getInboundPlan for the plan's shipments, then each non-final one's getShipment
        (each taken from the pool if it was fetched ahead, else asked here)."""
        assert context is not None
        shipments = self.run.prefetcher.take(
            context_key(self.name, context),
            functools.partial(self._shipments_to_fetch, context),
        )
        for shipment in shipments:
            yield from self.run.prefetcher.take(
                context_key(self.name, shipment), functools.partial(self._shipment, shipment)
            )

    def _shipments_to_fetch(self, context: Context) -> list[dict[str, Any]]:
        """The contexts of the plan's shipments not final before the run (getInboundPlan),
        each one's getShipment announced to the pool."""
        final = self._final_before_run.get(context[ACCOUNT_KEY], frozenset())
        shipments = [
            {**context, "shipmentId": shipment["shipmentId"]}
            for shipment in self._shipments_of(context)
            if shipment["shipmentId"] not in final
        ]
        lane = self.account_for(context).limiter.lane(self.operation_id)  # getShipment's
        for shipment in shipments:
            self.run.prefetcher.submit(
                context_key(self.name, shipment),
                functools.partial(self._shipment_ahead, shipment, context),
                priority=-self.ahead.depth,
                lane=lane,
            )
        return shipments

    def _shipment_ahead(self, shipment: Context, plan: Context) -> list[dict[str, Any]]:
        """In a worker: one shipment (getShipment), its items and boxes announced."""
        return self.ahead.fetched_with_children(plan, functools.partial(self._shipment, shipment))

    def _shipment(self, context: Context) -> list[dict[str, Any]]:
        """getShipment of one shipment of the plan."""
        return list(super().request_records(context))

    def _shipments_of(self, context: Context) -> list[dict[str, Any]]:
        plan_id = context["inboundPlanId"]
        try:
            plan = self.client(context).call(
                "getInboundPlan", where=self.name, path_values={"inboundPlanId": plan_id}
            )
        except SPAPIRequestError as exc:
            if exc.status != HTTPStatus.BAD_REQUEST or REFUSED_PLAN not in str(exc):
                raise
            self.logger.debug("Inbound plan %s left out: %s", plan_id, exc)
            self.run.gather(
                "{} inbound plans left out: Amazon does not return plans of its "
                "cross-border programs through getInboundPlan (a 400 that says so, "
                "selling-partner-api-models #4337); nothing to do. Account/plan",
                f"{context[ACCOUNT_KEY]}/{plan_id}",
            )
            return []
        shipments: list[dict[str, Any]] = (plan or {}).get("shipments") or []
        return shipments

    @cached_property
    def _final_before_run(self) -> dict[str, frozenset[str]]:
        """Per account, the shipments final in the state when the stream started (read,
        never written, here: workers call this)."""
        partitions = self.tap_state.get("bookmarks", {}).get(self.name, {}).get("partitions")
        return {
            p["context"][ACCOUNT_KEY]: frozenset(p.get(FINAL_SHIPMENTS) or ())
            for p in partitions or []
            if ACCOUNT_KEY in p.get("context", {})
        }

    @override
    def parse_response(self, response: Any) -> Iterable[dict[str, Any]]:
        """The shipment (the body is the Shipment itself)."""
        if decoded_body(response):
            yield from super().parse_response(response)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The plan's shipments; note tracking numbers and final statuses once emitted."""
        for record in super().get_records(context):
            spd = (record.get("trackingDetails") or {}).get("spdTrackingDetail") or {}
            for item in spd.get("spdTrackingItems") or []:
                self.note_identifier(
                    record[ACCOUNT_KEY], seen_identifier(CARRIER, item.get("trackingId"))
                )
            yield record
            if record.get("status") in FINAL_SHIPMENT_STATUSES:
                self._note_final(context, record["shipmentId"])

    def _note_final(self, context: Context | None, shipment_id: str) -> None:
        """Keep `shipment_id` (emitted in a final status) out of later runs' requests,
        for the grace period (the state is changed in place: O(1) per shipment)."""
        if self.run.failures.holds(self.name, (context or {}).get(ACCOUNT_KEY, "")):
            return
        final = self.get_context_state(context).setdefault(FINAL_SHIPMENTS, {})
        final[shipment_id] = self.run.started_second
        self.bookmarks.save(context)

    @override
    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        """`trackingDetails` null when Amazon leaves it out (partnered carriers, #4606)."""
        row.setdefault("trackingDetails", None)
        return super().post_process(row, context)

    @override
    def get_child_context(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:
        """Items and boxes are listed per shipment."""
        return {
            ACCOUNT_KEY: record[ACCOUNT_KEY],
            "inboundPlanId": record["inboundPlanId"],
            "shipmentId": record["shipmentId"],
        }


class ShipmentListStream(SPAPIStream):
    """A paginated list of one inbound 2024 shipment (items or boxes)."""

    prefetch = True
    parent_stream_type = InboundPlanShipmentsStream
    next_token_path = "pagination.nextToken"
    context_keys_on_records = ("inboundPlanId", "shipmentId")
    derived_keys = ("shipmentId",)
    # Bookmarks live with the parent; one state partition per shipment would grow forever.
    state_partitioning_keys: ClassVar[list[str]] = []
    path_params: ClassVar[dict[str, str]] = {
        "inboundPlanId": "inboundPlanId",
        "shipmentId": "shipmentId",
    }

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """The largest page, then the token."""
        params: dict[str, Any] = {"pageSize": LIST_PAGE}
        if next_page_token:
            params["paginationToken"] = next_page_token
        return params


class InboundPlanShipmentItemsStream(ShipmentListStream):
    """Items of each shipment emitted (listShipmentItems)."""

    name = "inbound_plan_shipment_items"
    operation_id = "listShipmentItems"
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "shipmentId", "msku"]
    query_keys = (ACCOUNT_KEY, "msku")  # one shipment's query; shipmentId comes after
    records_jsonpath = "$.items[*]"


class InboundPlanShipmentBoxesStream(ShipmentListStream):
    """Boxes of each shipment emitted (listShipmentBoxes)."""

    name = "inbound_plan_shipment_boxes"
    operation_id = "listShipmentBoxes"
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "shipmentId", "packageId"]
    query_keys = (ACCOUNT_KEY, "packageId")  # one shipment's query; shipmentId comes after
    records_jsonpath = "$.boxes[*]"


INBOUND_PLAN_STREAM_TYPES: tuple[type[SPAPIStream], ...] = (
    InboundPlansStream,
    InboundPlanShipmentsStream,
    InboundPlanShipmentItemsStream,
    InboundPlanShipmentBoxesStream,
)
