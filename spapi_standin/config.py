"""Every knob of the stand-in, in one dataclass with defaults fit for fast tests.

The server reads the live object on every request, so tests may change latency, fault
rates or rate limits while it runs; counts, seed and `now` only matter when the data
set is built (at construction).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spapi_standin.live import LiveBehaviours

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from pathlib import Path

NA_MARKETPLACES = ("ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8")
# A German participation: a client configured for the NA region must filter it out.
EU_MARKETPLACE = "A1PA6795UKMFR9"
GRANTLESS_SCOPES = frozenset({"sellingpartnerapi::notifications", "sellingpartnerapi::migration"})
# Record counts times these: `tiny` for checks that need a few records of each kind.
SIZES = {"tiny": 0.1, "small": 1, "medium": 10, "large": 100}

# The demo credentials (meltano.yml's `demo` environment uses the same made-up values).
DEMO_CLIENT_ID = "demo-client-id"
DEMO_CLIENT_SECRET = "demo-client-secret-not-a-real-secret"
DEMO_REFRESH_TOKEN = "Atzr|demo-refresh-token-not-real"


# The fields read while serving, never while the data set is built: stand-ins that
# differ only in these share one data set (`data_key`).
SERVING_FIELDS = frozenset({
    "host", "port", "report_processing_seconds", "report_longest_range_days",
    "report_charset", "document_bytes_per_second", "report_rows", "inbound_page_size",
    "outbound_page_size", "orders_page_size", "shipment_list_page_size", "overlapping_pages",
    "looping_page_tokens", "awd_page_size",
    "client_id", "client_secret", "refresh_tokens", "grantless_scopes", "token_lifetime",
    "rdt_lifetime", "require_sigv4", "aws_credentials", "aws_secret_lookup", "aws_region",
    "rate_limits", "rate_scale", "rate_overrides", "per_account_buckets", "plans_path",
    "latency_ms", "latency_jitter_ms", "error_rate", "drop_rate", "storm_rate",
    "sqs_endpoint_url",
})  # fmt: skip


@dataclass
class StandInConfig:
    """Configuration of one stand-in; every field has a default."""

    # Server
    host: str = "127.0.0.1"
    port: int = 0  # 0 = any free port

    # Data set (read once, when the data set is built)
    seed: int = 1
    now: datetime | None = None  # end of the data's time span; None = real now (UTC)
    history_days: int = 90
    size: str = "small"  # tiny | small | medium | large: counts x0.1, x1, x10, x100
    marketplaces: list[str] = field(default_factory=lambda: [*NA_MARKETPLACES, EU_MARKETPLACE])
    inbound_marketplaces: list[str] = field(default_factory=lambda: list(NA_MARKETPLACES[:2]))
    inbound_shipments_per_marketplace: int = 120
    outbound_orders: int = 150
    shipping_trackings: int = 40
    carrier_accounts: int = 3
    mfn_shipments: int = 5
    # Orders 2026-01-01 (x size): one searchOrders page of 100 at the default page size,
    # so suites that run the tap many times stay inside the burst of 20.
    orders: int = 80
    orders_merchant_share: float = 0.5  # FBM orders (the others are FBA)
    # FBA inbound 2024-03-20 plans (x size), over the newest v0 shipments (one to three
    # shipments a plan), and the share of shipments by an Amazon-partnered carrier.
    inbound_plans: int = 40
    inbound_partnered_share: float = 0.25
    # Amazon Warehousing and Distribution (x size): inbound shipments into AWD, outbound
    # orders out of it, and the SKUs it stores (spapi_standin/awd.py).
    awd_inbound_shipments: int = 60
    awd_outbound_orders: int = 30
    awd_skus: int = 80
    # Tracking identifiers of each kind (container, HBL, ACSIN, carrier number) that only
    # a seller's own records hold (tests list them in `shipment_tracking_ids`).
    listed_shipment_trackings: int = 2
    response_schemas_path: Path | None = None  # None = the packaged response_schemas.json
    report_rows: int = 60  # rows per report type over the history (x size)

    # Reports API: how long Amazon takes to build a report, the documents' charset, and
    # how fast a document downloads (0 = at once; > 0 sends it in paced chunks)
    report_processing_seconds: float = 0.2
    # The longest dataStartTime..dataEndTime range createReport accepts, per report type
    # (days), over the documented limits of report_fixtures.py (one month for
    # GET_AMAZON_FULFILLED_SHIPMENTS_DATA_GENERAL only); types with neither accept any
    # range. Tests set limits Amazon does not document to prove the tap finds them.
    report_longest_range_days: dict[str, float] = field(default_factory=dict)
    report_charset: str = "UTF-8"
    document_bytes_per_second: float = 0.0

    # Pagination
    inbound_page_size: int = 50
    outbound_page_size: int = 50
    # searchOrders pages hold at most this many orders (and maxResultsPerPage).
    orders_page_size: int = 100
    # listShipmentItems / listShipmentBoxes pages hold at most this many (and pageSize).
    shipment_list_page_size: int = 1000
    # AWD list pages (listInboundShipments, listOutbounds, listInventory) hold at most
    # this many, whatever `maxResults` asks (the model allows up to 200, or 100).
    awd_page_size: int = 200
    # Misbehaving pagination of listAllFulfillmentOrders, as Amazon has been seen to do:
    # every page after the first also repeats the previous page's last order; or the
    # third page's token leads back to the second page (tokens A, B, A, B, ...).
    overlapping_pages: bool = False
    looping_page_tokens: bool = False

    # Login with Amazon and access tokens
    client_id: str = DEMO_CLIENT_ID
    client_secret: str = DEMO_CLIENT_SECRET
    refresh_tokens: set[str] = field(default_factory=lambda: {DEMO_REFRESH_TOKEN})
    grantless_scopes: set[str] = field(default_factory=lambda: set(GRANTLESS_SCOPES))
    token_lifetime: int = 3600
    rdt_lifetime: int = 3600

    # AWS Signature V4 (off unless required or credentials are given)
    require_sigv4: bool = False
    aws_credentials: dict[str, str] = field(default_factory=dict)
    aws_secret_lookup: Callable[[str], str | None] | None = None
    aws_region: str = "us-east-1"

    # Usage plans
    rate_limits: bool = True
    rate_scale: float = 1.0  # multiplies every rate; bursts stay as Amazon prints them
    rate_overrides: dict[str, tuple[float, int]] = field(default_factory=dict)
    per_account_buckets: bool = True  # one bucket per (refresh token | "grantless", operation)
    plans_path: Path | None = None  # None = the packaged usage_plans.json (from the models)

    # Where live Amazon differs from its models (spapi_standin/live.py): all on
    live: LiveBehaviours = field(default_factory=LiveBehaviours)

    # Notifications: the SQS endpoint their destinations' queues live at (moto's server in
    # tests: testkit.sqs_server); None = nothing is published (notifications.py).
    sqs_endpoint_url: str | None = None

    # Faults (nothing random happens while the rates are 0)
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    error_rate: float = 0.0  # share of requests answered 500 InternalFailure / 503
    drop_rate: float = 0.0  # share of requests whose connection is closed unanswered
    # Share of requests answered 429 although the usage plan has tokens for this client:
    # a 429 storm its own pacing cannot prevent, such as another job spending the same
    # seller's quota (the issue-14 probe answered half the requests this way). Seeded.
    storm_rate: float = 0.0

    def data_key(self) -> tuple[object, ...]:
        """What the data set depends on: every field but those read while serving
        (`SERVING_FIELDS`). Two configs with the same key get the same records."""
        return tuple(
            (name, repr(getattr(self, name)))
            for name in self.__dataclass_fields__
            if name not in SERVING_FIELDS
        )

    @property
    def count_multiplier(self) -> float:
        """How much `size` multiplies the record counts."""
        try:
            return SIZES[self.size]
        except KeyError:
            raise ValueError(f"size must be one of {', '.join(SIZES)}, not {self.size!r}") from None

    def scaled(self, count: int) -> int:
        """`count` records at this `size` (at least one)."""
        return max(1, round(count * self.count_multiplier))
