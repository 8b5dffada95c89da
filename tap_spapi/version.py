"""The tap's version, read from the installed package's metadata (pyproject's `version`).

One place, so the User-Agent Amazon sees, `--version` and `--about` cannot drift from
the release.
"""

from __future__ import annotations

from importlib.metadata import version

__version__ = version("tap-spapi")
# Amazon asks for `AppId/Version`; users who do not set `user_agent` are this tap.
DEFAULT_USER_AGENT = f"tap-spapi/{__version__}"
