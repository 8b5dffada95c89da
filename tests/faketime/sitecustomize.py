"""Loaded (through PYTHONPATH) only by `make timeshift`, which runs tests under libfaketime.

The time-shifted run moves the wall clock and leaves the monotonic clock alone
(FAKETIME_DONT_FAKE_MONOTONIC=1): with both faked, Python's timed lock waits use
sem_clockwait on a monotonic deadline libfaketime has moved by the shift, and hang. With
only the wall clock faked, Debian's libfaketime 0.9.10 answers Python's own sleep
(clock_nanosleep on an absolute monotonic deadline) with EINVAL. A timed wait on an event
that is never set sleeps just as long and goes through sem_clockwait, which libfaketime
leaves alone; every other clock call is still faked.
"""

from __future__ import annotations

import os
import threading
import time
from typing import SupportsIndex

if os.environ.get("FAKETIME"):
    _NEVER_SET = threading.Event()

    def _sleep(seconds: float | SupportsIndex, /) -> None:
        wait = float(seconds)
        if wait < 0:
            raise ValueError("sleep length must be non-negative")
        _NEVER_SET.wait(wait)

    time.sleep = _sleep
