"""Page tokens: opaque to clients, stateless here.

A token is base64 of the query and the offset (`"o"`), so the server keeps nothing per
client and a token stays valid while the process runs.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


def encode_token(state: dict[str, Any]) -> str:
    """The token of a query `state` (which holds its offset under "o")."""
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def decode_token(token: str | None) -> dict[str, Any] | None:
    """The query state of `token`, or None if it is not one of ours."""
    if not token:
        return None
    try:
        state = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("o"), int):
        return None
    return state
