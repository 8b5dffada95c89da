"""Checks of the `--state` and `--catalog` inputs, so bad files give one clear line.

singer-sdk parses them itself and shows a JSON parser's traceback; and a bookmark in the
future (a state file from a machine with a wrong clock, or edited by hand) would make
every incremental stream silently skip everything until that date.
"""

from __future__ import annotations

import datetime
import io
import json
from typing import IO, Any

from tap_spapi.errors import TapSpapiError

# Clock skew allowed between the machine that wrote a bookmark and this one.
FUTURE_TOLERANCE = datetime.timedelta(hours=1)
BOOKMARK_KEYS = ("replication_key_value", "window_end")


class StateFileError(TapSpapiError):
    """`--state` or `--catalog` cannot be used; the message names the file and the fault."""


def checked_json_file(option: str, handle: IO[str] | None) -> IO[str] | None:
    """`handle`'s text, if it is a JSON object; else a `StateFileError` naming `option`."""
    if handle is None:
        return None
    text = handle.read()
    name = getattr(handle, "name", option)
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise StateFileError(f"{option} {name}: not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise StateFileError(f"{option} {name}: must be a JSON object")
    return io.StringIO(text)


def check_state(state: dict[str, Any], now: datetime.datetime) -> None:
    """Raise `StateFileError` for a bookmark later than `now` (plus clock skew)."""
    bookmarks = state.get("bookmarks", {})
    if not isinstance(bookmarks, dict):
        raise StateFileError("--state: 'bookmarks' must be an object of streams")
    for stream, stream_state in bookmarks.items():
        if not isinstance(stream_state, dict):
            raise StateFileError(f"--state: bookmarks of stream '{stream}' must be an object")
        for partition in [stream_state, *stream_state.get("partitions", [])]:
            for key in BOOKMARK_KEYS:
                _check_bookmark(stream, key, partition.get(key), now)


def _check_bookmark(stream: str, key: str, value: Any, now: datetime.datetime) -> None:
    if not isinstance(value, str):
        return
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise StateFileError(
            f"--state: stream '{stream}' {key} {value!r} is not an ISO 8601 date-time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    if moment > now + FUTURE_TOLERANCE:
        raise StateFileError(
            f"--state: stream '{stream}' {key} {value} is in the future; the run would skip "
            "everything until then. Fix the clock that wrote it or remove the bookmark."
        )
