"""Which SP-API role an operation needs, for the message when Amazon says 403 Unauthorized.

Amazon answers an operation the application has no role for with 403 `Unauthorized`
and no hint. The roles below are from Amazon's "Role Mappings for SP-API Operations"
page for the APIs whose role is unambiguous; for the others the message points there.
"""

from __future__ import annotations

ROLE_OF_API = {
    "awd_2024-05-09": "Amazon Warehousing and Distribution",
    "fulfillmentInboundV0": "Amazon Fulfillment",
    "fulfillmentInbound_2024-03-20": "Amazon Fulfillment",
    "fulfillmentOutbound_2020-07-01": "Amazon Fulfillment",
    "fulfillmentOutbound_2026-07-04": "Amazon Fulfillment",
}


def missing_role_hint(api: str, role: str | None = None) -> str:
    """What to tell the user to do about a 403 Unauthorized from `api` (or a stream that
    knows its `role`, such as a report type)."""
    role = role or ROLE_OF_API.get(api)
    needed = f"the '{role}' role" if role else f"a role that Amazon's Role Mappings list for {api}"
    return (
        f"the application needs {needed}: add it to the developer profile and the app, "
        "then have the seller authorize the app again"
    )
