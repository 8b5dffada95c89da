"""SP-API regions: hosts, AWS signing regions and which marketplaces belong where.

The models name only the NA production host; the region table and marketplace ids come
from Amazon's "SP-API Endpoints" and "Marketplace IDs" developer pages, which are not
part of the models (see ../shared/spapi-reference.md section 1). They change rarely;
an id missing here is let through with a warning rather than refused.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Region:
    """One SP-API region."""

    code: str
    host: str
    aws_region: str

    @property
    def production_url(self) -> str:
        """Base URL of the production endpoint."""
        return f"https://{self.host}"

    @property
    def sandbox_url(self) -> str:
        """Base URL of Amazon's sandbox endpoint for this region."""
        return f"https://sandbox.{self.host}"


REGIONS: dict[str, Region] = {
    "na": Region("na", "sellingpartnerapi-na.amazon.com", "us-east-1"),
    "eu": Region("eu", "sellingpartnerapi-eu.amazon.com", "eu-west-1"),
    "fe": Region("fe", "sellingpartnerapi-fe.amazon.com", "us-west-2"),
}

LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"

MARKETPLACE_REGIONS: dict[str, str] = {
    # North America
    "A2EUQ1WTGCTBG2": "na",  # Canada
    "ATVPDKIKX0DER": "na",  # United States
    "A1AM78C64UM0Y8": "na",  # Mexico
    "A2Q3Y263D00KWC": "na",  # Brazil
    # Europe (incl. Middle East, Africa and India)
    "A28R8C7NBKEWEA": "eu",  # Ireland
    "A1RKKUPIHCS9HS": "eu",  # Spain
    "A1F83G8C2ARO7P": "eu",  # United Kingdom
    "A13V1IB3VIYZZH": "eu",  # France
    "AMEN7PMS3EDWL": "eu",  # Belgium
    "A1805IZSGTT6HS": "eu",  # Netherlands
    "A1PA6795UKMFR9": "eu",  # Germany
    "APJ6JRA9NG5V4": "eu",  # Italy
    "A2NODRKZP88ZB9": "eu",  # Sweden
    "AE08WJ6YKNBMC": "eu",  # South Africa
    "A1C3SOZRARQ6R3": "eu",  # Poland
    "ARBP9OOSHTCHU": "eu",  # Egypt
    "A33AVAJ2PDY3EV": "eu",  # Turkey
    "A17E79C6D8DWNP": "eu",  # Saudi Arabia
    "A2VIGQ35RCS4UG": "eu",  # United Arab Emirates
    "A21TJRUUN4KGV": "eu",  # India
    # Far East
    "A19VAU5U5O7RUS": "fe",  # Singapore
    "A39IBJ37TRP1C6": "fe",  # Australia
    "A1VC38T7YXB528": "fe",  # Japan
}
