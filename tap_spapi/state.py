"""The tap's state: every bookmark key it writes beside singer-sdk's, and how STATE is written.

Bookmark keys (in a stream's state partition, beside the SDK's `replication_key` and
`replication_key_value`):

- `window_end` (WINDOW_BOOKMARK): the upper bound of the last query window read whole;
- `query_in_flight`, `interrupted_runs`: a range a run started and did not finish, and how
  many runs in a row did so (windows.py splits it into 2**n windows);
- `longest_accepted_range_days`: the longest range createReport accepted after refusing a
  longer one (report types whose limit Amazon does not document);
- `final_milestone` (shipment_tracking), `final_status` (shipping_tracking): the
  identifier's or label's tracking ended, it is not asked again;
- `final_shipments` (inbound_plans): `{shipmentId: status}` of shipments in a final status.

A partition's state is found through `IndexedStateManager`: singer-sdk searches the
stream's whole partition list for each context, several times per record; with a
partition per identifier or label that, too, grew with the square of the data.

STATE is written by `PacedStateWriter`: singer-sdk formats, compares and deep-copies the
whole state for every bookmark (its `StateWriter`), which made a run's cost grow with the
square of the identifiers it tracks. Here a bookmark only marks the state as changed; the
message writer (output.BatchFlushingWriter) encodes the state when it writes a STATE,
at most once per `STATE_INTERVAL` and at the end of the run.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any, Protocol

from singer_sdk.helpers._state import StateWriter
from singer_sdk.streams._state import StreamStateManager
from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Hashable, Mapping

    from singer_sdk.helpers.types import Context

REPLICATION_KEY = "replication_key_value"  # singer-sdk's
WINDOW_BOOKMARK = "window_end"
# Set when a run starts querying a partition's range, removed when the range was read:
# found set at the start of a run, it means the previous run did not finish the range.
QUERY_IN_FLIGHT = "query_in_flight"
# How many runs in a row left the range unfinished: the range is split in 2**n windows.
INTERRUPTED_RUNS = "interrupted_runs"
LONGEST_ACCEPTED = "longest_accepted_range_days"
FINAL_MILESTONE = "final_milestone"
FINAL_STATUS = "final_status"
FINAL_SHIPMENTS = "final_shipments"
# The bookmarks that hold a time (checked against the clock when a state file is read).
TIME_BOOKMARKS = (REPLICATION_KEY, WINDOW_BOOKMARK)


class HoldsState(Protocol):
    """A message writer that writes the newest state when a STATE is due."""

    def hold_state(self, state: Mapping[str, Any]) -> None: ...


class PacedStateWriter(StateWriter):
    """singer-sdk's `StateWriter`, without the per-call work: the state is handed to the
    message writer by reference and encoded only when a STATE message is written."""

    def __init__(self, message_writer: HoldsState) -> None:
        super().__init__(message_writer)  # type: ignore[arg-type]
        self._holder = message_writer

    @override
    def write_state(self, state: Mapping[str, Any]) -> None:
        """The state changed: the next STATE the writer writes holds it (O(1))."""
        self._holder.hold_state(state)


class IndexedStateManager(StreamStateManager):
    """singer-sdk's state manager, finding a partition's state through a dict.

    The index follows the partition list: entries appended by anyone (singer-sdk, a
    parent noting identifiers) are indexed when next looked up; a list replaced or
    shortened is indexed again. Streams' worker threads look partitions up too (`wants`):
    one lock keeps the index and the list in step.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self._indexed: list[dict[str, Any]] | None = None
        self._indexed_count = 0
        self._index: dict[Hashable, dict[str, Any]] = {}

    @override
    def get_context_state(self, context: Context | None) -> dict[str, Any]:
        """The partition's writable state (created if missing), as singer-sdk's."""
        partition = self.get_state_partition_context(context)
        if not partition:
            return self.stream_state
        try:
            key = _partition_key(partition)
        except TypeError:  # a context value that is not hashable: singer-sdk's search
            return super().get_context_state(context)
        with self._lock:
            partitions: list[dict[str, Any]] = self.stream_state.setdefault("partitions", [])
            self._follow(partitions)
            found = self._index.get(key)
            if found is None:
                found = {"context": dict(partition)}
                partitions.append(found)
                self._index[key] = found
                self._indexed_count += 1
            return found

    def _follow(self, partitions: list[dict[str, Any]]) -> None:
        if partitions is not self._indexed or len(partitions) < self._indexed_count:
            self._indexed, self._indexed_count = partitions, 0
            self._index = {}
        for entry in partitions[self._indexed_count :]:
            context = entry.get("context")
            if isinstance(context, dict):
                # A context that is not hashable is found by singer-sdk's search only.
                with contextlib.suppress(TypeError):
                    self._index.setdefault(_partition_key(context), entry)
        self._indexed_count = len(partitions)


def _partition_key(context: Mapping[str, Any]) -> Hashable:
    return frozenset(context.items())
