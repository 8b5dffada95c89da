"""Checks of the `--state` and `--catalog` inputs, so bad files give one clear line.

singer-sdk parses them itself and shows a JSON parser's traceback; and a bookmark in the
future (a state file from a machine with a wrong clock, or edited by hand) would make
every incremental stream silently skip everything until that date.
"""

from __future__ import annotations

import datetime
import io
import json
from pathlib import Path
from typing import IO, Any

from tap_spapi.errors import TapSpapiError
from tap_spapi.runtime.state import REPLICATION_KEY, TIME_BOOKMARKS, shape_error

# Clock skew allowed between the machine that wrote a bookmark and this one.
FUTURE_TOLERANCE = datetime.timedelta(hours=1)
# Top-level keys of a tap state (singer-sdk writes only "bookmarks").
STATE_KEYS = frozenset({"bookmarks", "currently_syncing"})


class StateFileError(TapSpapiError):
    """`--state` or `--catalog` cannot be used; the message names the file and the fault."""


def checked_json_file(option: str, handle: IO[str] | None) -> IO[str] | None:
    """`handle`'s text, if it is a JSON object; else a `StateFileError` naming `option`.

    A state file may also hold a whole Singer STATE message (what a target or a log
    shows) or Meltano's `{"singer_state": ...}` (what `meltano state get` prints): the
    state inside is used. A catalog must hold a list of stream entries.
    """
    if handle is None:
        return None
    name = getattr(handle, "name", option)
    document = _json_object(f"{option} {name}", handle.read())
    if option == "--state":
        document = unwrapped_state(document, f"{option} {name}")
    elif option == "--catalog":
        _check_catalog(document, f"{option} {name}")
    return io.StringIO(json.dumps(document))


def checked_config_file(path: str) -> dict[str, Any]:
    """The settings in config file `path` (a JSON object), or a one-line error naming it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StateFileError(f"--config {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StateFileError(f"--config {path}: cannot be read ({exc})") from None
    return _json_object(f"--config {path}", text)


def _json_object(where: str, text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise StateFileError(f"{where}: not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise StateFileError(f"{where}: must be a JSON object")
    return document


def unwrapped_state(document: dict[str, Any], where: str = "--state") -> dict[str, Any]:
    """The tap state in `document`: itself, a Singer STATE message's value, or Meltano's
    `singer_state`; anything else is refused naming the forms that are understood."""
    if document.get("type") == "STATE" and isinstance(document.get("value"), dict):
        return unwrapped_state(document["value"], where)
    if set(document) == {"singer_state"} and isinstance(document["singer_state"], dict):
        return unwrapped_state(document["singer_state"], where)
    unknown = sorted(set(document) - STATE_KEYS)
    if unknown:
        raise StateFileError(
            f"{where}: not a tap state (unexpected {', '.join(map(repr, unknown))}); expected "
            '{"bookmarks": {...}}, a Singer STATE message {"type": "STATE", "value": {...}} '
            'or Meltano\'s {"singer_state": {...}}'
        )
    return document


def _check_catalog(document: dict[str, Any], where: str) -> None:
    streams = document.get("streams")
    if not isinstance(streams, list) or not all(isinstance(entry, dict) for entry in streams):
        raise StateFileError(
            f"{where}: 'streams' must be a list of stream entries (as --discover writes them)"
        )


def check_state(state: dict[str, Any], now: datetime.datetime) -> None:
    """Raise `StateFileError` for a state singer-sdk would trip over, or a bookmark later
    than `now` (plus clock skew)."""
    bookmarks = state.get("bookmarks", {})
    if not isinstance(bookmarks, dict):
        raise StateFileError("--state: 'bookmarks' must be an object of streams")
    for stream, stream_state in bookmarks.items():
        if not isinstance(stream_state, dict):
            raise StateFileError(f"--state: bookmarks of stream '{stream}' must be an object")
        partitions = stream_state.get("partitions", [])
        if not isinstance(partitions, list) or not all(isinstance(p, dict) for p in partitions):
            raise StateFileError(
                f"--state: stream '{stream}' 'partitions' must be a list of objects"
            )
        for partition in [stream_state, *partitions]:
            fault = shape_error(stream, partition)
            if fault:
                raise StateFileError(f"--state: {fault}")
            for key in TIME_BOOKMARKS:
                _check_bookmark(stream, key, partition.get(key), now)
            markers = partition.get("progress_markers")
            if isinstance(markers, dict):
                _check_bookmark(stream, "progress_markers", markers.get(REPLICATION_KEY), now)


def unknown_accounts(state: dict[str, Any], accounts: set[str]) -> dict[str, set[str]]:
    """Streams of `state` whose partitions name an account not in `accounts`, by account."""
    found: dict[str, set[str]] = {}
    for stream, stream_state in (state.get("bookmarks") or {}).items():
        for partition in stream_state.get("partitions") or []:
            account = (partition.get("context") or {}).get("account")
            if account is not None and account not in accounts:
                found.setdefault(str(account), set()).add(stream)
    return found


def _check_bookmark(stream: str, key: str, value: Any, now: datetime.datetime) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        # Every bookmark of the tap is an ISO 8601 string; the SDK would fail on a number
        # or an object after emitting records.
        raise StateFileError(
            f"--state: stream '{stream}' {key} must be an ISO 8601 date-time string, "
            f"got {type(value).__name__}"
        )
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
