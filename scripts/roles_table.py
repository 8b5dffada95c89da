"""Write the README's table of the SP-API role each stream needs, from the tap's code.

The roles come from where the tap names them in its 403 message: a report type's `role`
(tap_spapi/amazon/report_types.py) and `ROLE_OF_API` (tap_spapi/amazon/roles.py), both taken from
Amazon's "Role Mappings" pages. An API the tap maps to no single role (any one of several
roles grants it) points to Amazon's page instead of guessing. Generated, not typed, so the
README cannot name a role the tap does not: tests/unit/test_readme.py fails until the
committed table matches a fresh generation.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as `python scripts/roles_table.py` from a checkout

from tap_spapi.amazon.roles import ROLE_OF_API  # noqa: E402
from tap_spapi.streams.base.stream import SPAPIStream  # noqa: E402
from tap_spapi.tap import TapSpapi  # noqa: E402

README = REPO / "README.md"
START, END = "<!-- roles:start -->", "<!-- roles:end -->"
# Building the streams asks Amazon nothing; any credentials do. A queue URL, so that the
# `notifications` stream (which exists only with one) has its row too.
OFFLINE = {
    "client_id": "-",
    "client_secret": "-",
    "refresh_token": "-",
    "notifications_queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/spapi",
}


def roles_table() -> str:
    """One row per stream: the operation it calls and the role Amazon requires for it."""
    rows = ["| stream | operation (API) | role |", "|---|---|---|"]
    for stream in TapSpapi(config=OFFLINE).streams.values():  # in sync order
        assert isinstance(stream, SPAPIStream), stream.name
        operation = stream.operation
        role = getattr(stream, "required_role", None) or ROLE_OF_API.get(operation.api)
        name = operation.operation_id.rsplit(".", 1)[-1]  # "<api>.getShipment" -> getShipment
        needed = role or "any one of the roles [Role Mappings][role-mappings] lists for it"
        rows.append(f"| `{stream.name}` | `{name}` ({operation.api}) | {needed} |")
    return "\n".join(rows) + "\n"


def with_table(readme: str) -> str:
    """`readme` with the text between the roles markers replaced by a fresh table."""
    before, rest = readme.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{roles_table()}{END}{after}"


def main() -> None:
    README.write_text(with_table(README.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main()
