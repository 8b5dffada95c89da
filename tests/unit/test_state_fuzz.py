"""A state file with any value or shape where a bookmark belongs: one line or a warning,
never a traceback, and no other stream's bookmark moved (hypothesis mutates a real state
file)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tap_spapi.errors import TapSpapiError
from tap_spapi.tap import TapSpapi
from testkit import VALID

# Written by 0.1.0 (tests/tap/test_state_upgrade.py), and the same migrated: both forms.
FIXTURE = Path(__file__).parents[1] / "data" / "state-0.1.0-main-4b3dfb3.json"
OLD: dict[str, Any] = json.loads(FIXTURE.read_text())
NEW: dict[str, Any] = dict(TapSpapi(config=VALID, state=copy.deepcopy(OLD)).state)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in `node` a value sits (keys of objects, indexes of lists)."""
    found = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*path, index))
    return found


OLD_PATHS, NEW_PATHS = _paths(OLD), _paths(NEW)


def _replaced(state: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(state)
    node = changed
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return changed


# The same 150 states every run (derandomize, no example database): a failure is a
# change in the tap, never the luck of the draw.
@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    form=st.sampled_from(["old", "new"]),
    index=st.integers(min_value=0),
    value=JSON,
)
def test_any_value_anywhere_in_a_state_is_a_clear_error_or_taken(form, index, value) -> None:
    state, paths = (OLD, OLD_PATHS) if form == "old" else (NEW, NEW_PATHS)
    path = paths[index % len(paths)]
    mutated = _replaced(state, path, value)
    try:
        tap = TapSpapi(config=VALID, state=mutated)
    except TapSpapiError as exc:  # one line naming the stream or the file
        assert "\n" not in str(exc) and str(exc).startswith("--state"), str(exc)
        return
    # Taken: what the tap holds is a state it can write out again,
    json.dumps(tap.state)
    # and every bookmark of the streams the change did not touch is where it was (in the
    # new form: migrating the old one stamps its final shipments with the clock).
    touched = path[1] if path[0] == "bookmarks" and len(path) > 1 else None
    if form == "new" and (path[0] != "bookmarks" or touched is not None):
        kept = {k: v for k, v in _bookmarks(NEW).items() if k[0] != touched}
        found = _bookmarks(dict(tap.state))
        assert {k: found.get(k) for k in kept} == kept


def _bookmarks(state: dict[str, Any]) -> dict[tuple[str, str, str], Any]:
    """(stream, context, key) -> value of every bookmark value in a state."""
    values: dict[tuple[str, str, str], Any] = {}
    for stream, bookmark in (state.get("bookmarks") or {}).items():
        if not isinstance(bookmark, dict):
            continue
        for part in [bookmark, *(bookmark.get("partitions") or [])]:
            if not isinstance(part, dict):
                continue
            where = json.dumps(part.get("context"), sort_keys=True)
            for key, value in part.items():
                if key not in {"context", "partitions"}:
                    values[stream, where, key] = value
    return values
