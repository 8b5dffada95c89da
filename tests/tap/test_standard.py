"""singer-sdk's standard tap tests, run against a stand-in started for this module.

The SDK builds the test class at collection time, so the stand-in has to be up (and
its URL known) when this module is imported, before any fixture could start it.
"""

from __future__ import annotations

import atexit

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from spapi_standin import StandIn, StandInConfig
from tap_spapi.tap import TapSpapi
from testkit import tap_config

# The SDK warns when a schema field never appears in the sampled records. Optional
# fields that Amazon sends only in some marketplaces (MCF `deliveryWindow` exists for
# JP Scheduled Delivery only) are rightly absent from the stand-in's NA data.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Fields in transformed catalog but not in records:UserWarning"
)

_STANDIN = StandIn(StandInConfig(seed=21, rate_scale=50.0))
_STANDIN.start()
atexit.register(_STANDIN.stop)

TestTapSpapi = get_tap_test_class(
    TapSpapi,
    config=tap_config(_STANDIN, tracking_ids=_STANDIN.dataset.tracking_labels()),
    suite_config=SuiteConfig(max_records_limit=500),
)
