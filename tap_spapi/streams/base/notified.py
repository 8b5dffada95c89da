"""Reading the ids a notification named, one get operation each (`notified_bodies`).

What it reads of its stream is `NotifiedStream`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from tap_spapi.wire.responses import SPAPIRequestError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

    from tap_spapi.runtime.run import Run
    from tap_spapi.wire.account import Account
    from tap_spapi.wire.client import SPAPIClient


class NotifiedStream(Protocol):
    """What reading notified ids needs of its stream (SPAPIStream has it all)."""

    name: str

    @property
    def run(self) -> Run: ...
    def account_for(self, context: Context | None) -> Account: ...
    def abandoned(self, context: Context | None) -> bool: ...
    def client(self, context: Context | None) -> SPAPIClient: ...


def notified_bodies(
    stream: NotifiedStream,
    context: Context,
    ids: Iterable[str],
    operation_id: str,
    path_key: str,
    *,
    params: dict[str, Any] | None = None,
    backstop: str,
) -> Iterator[tuple[str, Any]]:
    """(id, decoded answer) of `operation_id` for each id a notification named, in
    turn, until the account is abandoned. An id Amazon refuses is left to the
    `backstop` operation (its listing or search), gathered into one warning."""
    account = stream.account_for(context)
    for item in ids:
        if stream.abandoned(context):
            return
        asked = {**context, path_key: item}
        try:
            yield (
                item,
                stream.client(asked).call(
                    operation_id, where=stream.name, path_values={path_key: item}, params=params
                ),
            )
        except SPAPIRequestError as exc:
            name = operation_id.rsplit(".", 1)[-1]
            stream.run.gather(
                f"{name} refused {{}} notified ids ({backstop} reads them)",
                f"{account.name}/{item} (HTTP {exc.status})",
            )
