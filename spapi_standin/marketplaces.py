"""Amazon's marketplace ids with their real names, countries, currencies and domains.

Clients map marketplace ids to regions, so the stand-in uses the genuine ids and
metadata (a client must, for example, drop the German participation in NA).
"""

from __future__ import annotations

from typing import NamedTuple


class Marketplace(NamedTuple):
    """The fields of the Sellers API `Marketplace` object."""

    id: str
    name: str
    country_code: str
    currency: str
    language: str
    domain: str

    def as_model(self) -> dict[str, str]:
        """The Sellers API `Marketplace` shape."""
        return {
            "id": self.id,
            "name": self.name,
            "countryCode": self.country_code,
            "defaultCurrencyCode": self.currency,
            "defaultLanguageCode": self.language,
            "domainName": self.domain,
        }


MARKETPLACES = {
    m.id: m
    for m in (
        Marketplace("ATVPDKIKX0DER", "Amazon.com", "US", "USD", "en_US", "www.amazon.com"),
        Marketplace("A2EUQ1WTGCTBG2", "Amazon.ca", "CA", "CAD", "en_CA", "www.amazon.ca"),
        Marketplace("A1AM78C64UM0Y8", "Amazon.com.mx", "MX", "MXN", "es_MX", "www.amazon.com.mx"),
        Marketplace("A2Q3Y263D00KWC", "Amazon.com.br", "BR", "BRL", "pt_BR", "www.amazon.com.br"),
        Marketplace("A1PA6795UKMFR9", "Amazon.de", "DE", "EUR", "de_DE", "www.amazon.de"),
        Marketplace("A1F83G8C2ARO7P", "Amazon.co.uk", "GB", "GBP", "en_GB", "www.amazon.co.uk"),
        Marketplace("A13V1IB3VIYZZH", "Amazon.fr", "FR", "EUR", "fr_FR", "www.amazon.fr"),
        Marketplace("APJ6JRA9NG5V4", "Amazon.it", "IT", "EUR", "it_IT", "www.amazon.it"),
        Marketplace("A1RKKUPIHCS9HS", "Amazon.es", "ES", "EUR", "es_ES", "www.amazon.es"),
        Marketplace("A1805IZSGTT6HS", "Amazon.nl", "NL", "EUR", "nl_NL", "www.amazon.nl"),
        Marketplace("A1VC38T7YXB528", "Amazon.co.jp", "JP", "JPY", "ja_JP", "www.amazon.co.jp"),
        Marketplace("A39IBJ37TRP1C6", "Amazon.com.au", "AU", "AUD", "en_AU", "www.amazon.com.au"),
    )
}


def marketplace(marketplace_id: str) -> Marketplace:
    """The metadata of `marketplace_id` (made-up but well-formed for unknown ids)."""
    return MARKETPLACES.get(
        marketplace_id,
        Marketplace(
            marketplace_id, f"Marketplace {marketplace_id}", "US", "USD", "en_US", "www.example.com"
        ),
    )
