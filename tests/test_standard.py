"""singer-sdk's standard tap tests, run against a stand-in started for this module.

The SDK builds the test class at collection time, so the stand-in has to be up (and
its URL known) when this module is imported, before any fixture could start it.
"""

from __future__ import annotations

import atexit

from conftest import tap_config
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from spapi_standin import StandIn, StandInConfig
from tap_spapi.tap import TapSpapi

_STANDIN = StandIn(StandInConfig(seed=21, rate_scale=50.0))
_STANDIN.start()
atexit.register(_STANDIN.stop)

TestTapSpapi = get_tap_test_class(
    TapSpapi,
    config=tap_config(_STANDIN),
    suite_config=SuiteConfig(max_records_limit=500),
)
