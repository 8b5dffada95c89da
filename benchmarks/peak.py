"""Run the tap in a child process and learn its own peak memory (benchmarks, and the test of
report memory).

Not `ru_maxrss` from wait4: Linux carries the parent's high-water mark into a forked
child across exec, so the child would report the parent's size (a test process holding
a stand-in's data set) instead of the tap's. The child writes its VmHWM at exit instead.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

RUN_TAP_REPORTING_PEAK = """
import atexit, runpy, sys
def report(path=sys.argv[1]):
    with open("/proc/self/status") as status:
        peak = next(line for line in status if line.startswith("VmHWM:"))
    with open(path, "w") as out:
        out.write(peak)
atexit.register(report)
sys.argv = ["tap-spapi", *sys.argv[2:]]
runpy.run_module("tap_spapi", run_name="__main__")
"""


def run_tap_with_peak(
    args: list[str], *, stdout: IO[Any] | int, stderr: IO[Any] | int, cwd: Path
) -> tuple[int, float]:
    """`python -m tap_spapi ARGS`; its exit code and its peak resident memory in MB."""
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp, "peak")
        exit_code = subprocess.call(
            [sys.executable, "-c", RUN_TAP_REPORTING_PEAK, str(peak_file), *args],
            stdout=stdout,
            stderr=stderr,
            cwd=cwd,
        )
        text = peak_file.read_text() if peak_file.exists() else "VmHWM: 0 kB"
    return exit_code, int(text.split()[1]) / 1024
