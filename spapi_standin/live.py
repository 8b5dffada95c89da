"""Where live Amazon differs from its models, and how the stand-in does the same.

Amazon's models say what an operation accepts and returns; users of the live API report
where it behaves otherwise. The stand-in does what live Amazon does, each behaviour
named in `BEHAVIOURS` with its public source (bare `#N` = an issue of
github.com/amzn/selling-partner-api-models, `docs #N` = of
github.com/amzn/selling-partner-api-docs), enforced by default and switched off one by
one with `StandInConfig.live` (tests of the model's letter turn them off).
docs/live-amazon.md lists the same entries; tests prove the tap copes with each
(tests/tap/test_live_amazon.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spapi_standin.replies import Reply, error, invalid_input

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


@dataclass(frozen=True)
class Behaviour:
    """One live behaviour: the switch that controls it, where it applies, its source."""

    switch: str
    operation: str
    behaviour: str
    source: str


BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour(
        "date_range_needs_a_list",
        "getShipments (FBA inbound v0)",
        "QueryType=DATE_RANGE without ShipmentStatusList or ShipmentIdList is refused: "
        '400 InvalidInput "At least one of ShipmentStatusList and ShipmentIdList must be '
        'provided" (the model marks both optional)',
        "#888; docs #3304, docs #234; saleweaver/python-amazon-sp-api #307",
    ),
    Behaviour(
        "next_token_with_filters_restarts",
        "getShipments (FBA inbound v0)",
        "QueryType=NEXT_TOKEN sent together with the first query's filters returns the "
        "first page again",
        "#822; docs #164",
    ),
    Behaviour(
        "no_rate_limit_header_on_429",
        "every operation",
        "a 429 carries no x-amzn-RateLimit-Limit (the models list it on 2xx answers only)",
        "the models' response headers",
    ),
    Behaviour(
        "null_tracking_payloads",
        "getTracking (Amazon Shipping v2)",
        "for some tracking ids the payload echoes trackingId and has every other field "
        "null, eventHistory included",
        "#4923",
    ),
    Behaviour(
        "empty_reports_cancelled",
        "createReport / getReport",
        "a report with no data for its range ends CANCELLED, without a document",
        "Reports API model (processingStatus CANCELLED); #2292, #2668",
    ),
    Behaviour(
        "package_detailed_status_absent",
        "searchOrders / getOrder (Orders 2026-01-01)",
        "packages[].packageStatus carries `status` but never `detailedStatus` (the model "
        "documents both)",
        "#5127",
    ),
    Behaviour(
        "cross_border_plans_refused",
        "getInboundPlan (FBA inbound 2024-03-20)",
        "a plan of the cross-border Seller Export / Amazon Global Logistics programs is "
        'listed by listInboundPlans but refused: 400 BadRequest "ERROR: GetInboundPlan is '
        'not supported for the cross border Seller Export and Delivery program."',
        "#4641, #4091, #4337",
    ),
    Behaviour(
        "partnered_tracking_absent",
        "getShipment (FBA inbound 2024-03-20)",
        "a shipment by an Amazon-partnered carrier comes without `trackingDetails`",
        "#4606, #4337",
    ),
    Behaviour(
        "uncompressed_documents",
        "getReportDocument",
        "some report documents are not compressed: the answer has no compressionAlgorithm "
        "(the model: returned only 'if the report document contents have been compressed')",
        "a user's live GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE document, 2025-08",
    ),
    Behaviour(
        "notification_duplicates",
        "Notifications API (SQS delivery)",
        "delivery is at least once: a share of the notifications arrives 2 to 10 times, "
        "each copy with the same notificationId",
        "#2616, #4509",
    ),
    Behaviour(
        "notification_reorder",
        "Notifications API (SQS delivery)",
        "notifications arrive out of order: those of one change in any order, and late "
        "copies of an earlier notification after a newer one about the same record",
        "#2616, #4509",
    ),
    Behaviour(
        "awd_inventory_token_repeats",
        "listInventory (Amazon Warehousing and Distribution 2024-05-09)",
        "the third page answers with the very nextToken it was asked with (the first "
        "time it is asked; asked again, with the next page's token)",
        "#4713",
    ),
    Behaviour(
        "document_link_seconds",
        "getReportDocument",
        "the document URL expires after 5 minutes; S3 then answers 403 AccessDenied",
        'Reports API use case guide ("Retrieve a report")',
    ),
)


@dataclass
class LiveBehaviours:
    """The switches of `BEHAVIOURS`; every behaviour is on by default."""

    date_range_needs_a_list: bool = True
    next_token_with_filters_restarts: bool = True
    no_rate_limit_header_on_429: bool = True
    null_tracking_payloads: bool = True  # read when the data set is built
    null_tracking_share: float = 0.1  # of the labels, chosen from the seed
    empty_reports_cancelled: bool = True
    document_link_seconds: float = 300.0  # 0 = links never expire
    package_detailed_status_absent: bool = True
    cross_border_plans_refused: bool = True  # read when the data set is built
    cross_border_plan_share: float = 0.1  # of the inbound plans, chosen from the seed
    partnered_tracking_absent: bool = True
    uncompressed_documents: bool = True
    uncompressed_document_share: float = 0.3  # of the reports, chosen from the seed
    notification_duplicates: float = 0.1  # share sent 2 to 10 times (seeded); 0 = once each
    notification_reorder: bool = True
    awd_inventory_token_repeats: bool = True

    @classmethod
    def models_letter(cls) -> LiveBehaviours:
        """Every behaviour off: the stand-in answers as the models say."""
        return cls(
            date_range_needs_a_list=False,
            next_token_with_filters_restarts=False,
            no_rate_limit_header_on_429=False,
            null_tracking_payloads=False,
            empty_reports_cancelled=False,
            document_link_seconds=0.0,
            package_detailed_status_absent=False,
            cross_border_plans_refused=False,
            partnered_tracking_absent=False,
            uncompressed_documents=False,
            notification_duplicates=0.0,
            notification_reorder=False,
            awd_inventory_token_repeats=False,
        )


# -- getShipments ------------------------------------------------------------------------------

DATE_RANGE_WITHOUT_LIST = "At least one of ShipmentStatusList and ShipmentIdList must be provided"
# The filters of a first getShipments query, which a NEXT_TOKEN query must not repeat.
FIRST_QUERY_FILTERS = (
    "LastUpdatedAfter",
    "LastUpdatedBefore",
    "ShipmentStatusList",
    "ShipmentIdList",
)


def _given(query: Mapping[str, list[str]], name: str) -> bool:
    return any(value for value in query.get(name, ()))


def date_range_refusal(live: LiveBehaviours, query: Mapping[str, list[str]]) -> Reply | None:
    """Live Amazon's 400 for a DATE_RANGE query that names neither list."""
    if not live.date_range_needs_a_list:
        return None
    if _given(query, "ShipmentStatusList") or _given(query, "ShipmentIdList"):
        return None
    return invalid_input(DATE_RANGE_WITHOUT_LIST)


def restarts_from_first_page(live: LiveBehaviours, query: Mapping[str, list[str]]) -> bool:
    """A NEXT_TOKEN query that repeats the first query's filters starts over."""
    return live.next_token_with_filters_restarts and any(
        _given(query, name) for name in FIRST_QUERY_FILTERS
    )


# -- getTracking -------------------------------------------------------------------------------


def null_tracking_ids(seed: int, tracking_ids: Iterable[str], share: float) -> set[str]:
    """The labels whose payload comes back empty: the same ones for the same seed."""
    return {
        tracking_id
        for tracking_id in tracking_ids
        if random.Random(f"{seed}:null-tracking:{tracking_id}").random() < share
    }


def null_tracking_payload(result: Mapping[str, Any]) -> dict[str, Any]:
    """A GetTrackingResult that echoes its `trackingId` with every other field null,
    `eventHistory` and `summary` included (#4923: the payloads users posted)."""
    return {name: result[name] if name == "trackingId" else None for name in result}


# -- getReportDocument ---------------------------------------------------------------------------


def uncompressed_document(seed: int, report_id: str, live: LiveBehaviours) -> bool:
    """Whether the document of `report_id` is served uncompressed: the same for a seed."""
    if not live.uncompressed_documents:
        return False
    return random.Random(f"{seed}:uncompressed:{report_id}").random() < (
        live.uncompressed_document_share
    )


# -- getInboundPlan (FBA inbound 2024-03-20) ---------------------------------------------------

CROSS_BORDER_REFUSAL = (
    "ERROR: GetInboundPlan is not supported for the cross border Seller Export and Delivery "
    "program."
)


def refused_plan_ids(seed: int, plan_ids: Iterable[str], live: LiveBehaviours) -> set[str]:
    """The cross-border plans getInboundPlan refuses: the same ones for the same seed."""
    return {
        plan_id
        for plan_id in plan_ids
        if random.Random(f"{seed}:cross-border:{plan_id}").random() < live.cross_border_plan_share
    }


def cross_border_refusal() -> Reply:
    """Live Amazon's answer to getInboundPlan for a cross-border plan (#4641, #4091)."""
    return error(400, "BadRequest", CROSS_BORDER_REFUSAL)


# -- searchOrders / getOrder -------------------------------------------------------------------


def without_detailed_status(package: Mapping[str, Any]) -> dict[str, Any]:
    """An OrderPackage as live Amazon sends it: `packageStatus` without `detailedStatus`."""
    status = {
        k: v for k, v in (package.get("packageStatus") or {}).items() if k != "detailedStatus"
    }
    return {**package, "packageStatus": status} if "packageStatus" in package else dict(package)


# -- report documents --------------------------------------------------------------------------

EXPIRED_LINK = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message></Error>"
)


def expired_link() -> Reply:
    """S3's answer to a pre-signed URL past its expiry."""
    return Reply(403, EXPIRED_LINK, (("Content-Type", "application/xml"),))


# -- notifications (SQS delivery) ----------------------------------------------------------

MOST_COPIES = 10  # "the same notification up to 10x" (#2616, #4509)
LATE_SHARE = 0.5  # of a duplicated notification's extra copies, held back for later


def notification_copies(rng: random.Random, live: LiveBehaviours) -> tuple[int, int]:
    """How often one notification is delivered now, and how many more copies are held
    back to arrive after a newer notification about the same record."""
    if rng.random() >= live.notification_duplicates:
        return 1, 0
    extra = rng.randint(2, MOST_COPIES) - 1
    late = sum(rng.random() < LATE_SHARE for _ in range(extra)) if live.notification_reorder else 0
    return 1 + extra - late, late
