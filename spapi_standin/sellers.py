"""Sellers v1: getMarketplaceParticipations, every participation of the data set on one page."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spapi_standin.data import Dataset
    from spapi_standin.replies import CachedBodies, Reply
    from spapi_standin.request import Request


class SellersService:
    """getMarketplaceParticipations."""

    def __init__(self, dataset: Dataset, cached: CachedBodies) -> None:
        self.data = dataset
        self.cached = cached

    def get_marketplace_participations(self, request: Request) -> Reply:
        """Every participation, one page."""
        return self.cached(
            ("participations",), lambda: {"payload": self.data.marketplace_participations}
        )
