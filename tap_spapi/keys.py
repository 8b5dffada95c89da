"""Fields every record and context carries, whichever stream made it.

Every record and every context names its account (a key property of every stream), so
one run can extract several sellers into the same tables and state.
"""

from __future__ import annotations

ACCOUNT_KEY = "account"
SELLER_KEY = "selling_partner_id"
