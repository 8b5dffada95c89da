"""Which of a stand-in's PII sentinels a run's output holds, found in one pass.

A data set plants thousands of sentinels and a run writes megabytes of messages: asking
`sentinel in text` for each scans the text thousands of times (tens of seconds of CPU
for a full sync). Every sentinel starts with the stand-in's `PII_PREFIX`, so one scan
for the prefix finds every place a sentinel can start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spapi_standin.instances import PII_PREFIX

if TYPE_CHECKING:
    from collections.abc import Iterable


def leaked(text: str, sentinels: Iterable[str]) -> set[str]:
    """The `sentinels` that occur in `text`: `{s for s in sentinels if s in text}`."""
    wanted = set(sentinels)
    if not all(sentinel.startswith(PII_PREFIX) for sentinel in wanted):
        raise ValueError(f"a sentinel without the prefix {PII_PREFIX!r}")
    lengths = {len(sentinel) for sentinel in wanted}  # a handful: one look-up each
    found: set[str] = set()
    start = text.find(PII_PREFIX)
    while start != -1:
        found |= {text[start : start + n] for n in lengths} & wanted
        start = text.find(PII_PREFIX, start + 1)
    return found
