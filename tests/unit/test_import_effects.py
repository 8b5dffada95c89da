"""Importing the tap changes nothing in the process: no log-record factory is installed
and singer-sdk is not patched (`unittest.mock` is not even imported). The redaction of
secrets comes with a tap (and the commands' entry points), not with an import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Run in a process of its own: this test session has long installed the redaction.
PROBE = """
import logging, sys
base = logging.getLogRecordFactory()
import tap_spapi.tap, tap_spapi.notifications_setup, tap_spapi.planner
assert logging.getLogRecordFactory() is base, "log redaction installed by an import"
assert "unittest.mock" not in sys.modules, "unittest.mock imported by the tap"
from testkit import VALID
tap_spapi.tap.TapSpapi(config=VALID)
assert logging.getLogRecordFactory() is not base, "a tap did not install it"
"""


def test_importing_the_tap_has_no_side_effect_and_a_tap_installs_log_redaction():
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
