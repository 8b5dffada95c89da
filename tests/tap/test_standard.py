"""singer-sdk's standard tap tests, run against a stand-in started for this module.

The SDK builds the test class when pytest collects this module: it makes a tap from the
settings given here to list the streams and their properties, without sending a request.
So the settings start as the stand-in's credentials with a placeholder address, and the
stand-in (its data set built, its server bound) starts only when a test of this module
runs, in a module fixture that fills in its address, start date and labels. Collecting
(each xdist worker, `pytest --collect-only`) builds no data and starts no server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from spapi_standin import StandIn
from tap_spapi.notifications_setup import main as setup_main
from tap_spapi.tap import TapSpapi
from testkit import create_queue, every_stream, tap_config

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [
    # The SDK warns when a schema field never appears in the sampled records. Optional
    # fields that Amazon sends only in some marketplaces (MCF `deliveryWindow` exists for
    # JP Scheduled Delivery only) are rightly absent from the stand-in's NA data.
    pytest.mark.filterwarnings(
        "ignore:Fields in transformed catalog but not in records:UserWarning"
    ),
    # The suite's runner syncs once per process (a class fixture): keep its few hundred
    # tests on one xdist worker rather than one sync on each worker that gets some.
    pytest.mark.xdist_group("sdk_standard"),
]

# The tiny data set with records in every stream, so every standard test has records to
# look at, at a tenth of the small data set's sync.
STANDIN = every_stream()
# Nothing listens on the discard port: should the SDK ever copy the settings instead of
# keeping the dict given to it, the sync fails at once on a refused connection instead
# of reaching Amazon.
UNSTARTED = "http://127.0.0.1:9"

# The settings the SDK keeps (the same dict: its runner makes each tap from it), filled
# in by `standin_for_suite` before the suite's first sync.
SETTINGS: dict[str, Any] = {
    "client_id": STANDIN.client_id,
    "client_secret": STANDIN.client_secret,
    "refresh_token": min(STANDIN.refresh_tokens),
    "api_url": UNSTARTED,
    "lwa_token_url": f"{UNSTARTED}/auth/o2/token",
}


@pytest.fixture(scope="module", autouse=True)
def standin_for_suite(sqs_endpoint: str) -> Iterator[StandIn]:
    """The stand-in the suite syncs from; its address, start date and labels in SETTINGS
    (a module fixture comes before the SDK's class-scoped runner, which syncs). It
    publishes to moto's SQS, subscribed by the setup command, and a few trackings have
    changed: the `notifications` stream has records too."""
    queue_url, arn = create_queue(sqs_endpoint, "standard-tests")
    aws = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    with (
        StandIn(dataclasses.replace(STANDIN, sqs_endpoint_url=sqs_endpoint)) as server,
        mock.patch.dict(os.environ, aws),
        tempfile.TemporaryDirectory() as folder,
    ):
        SETTINGS.update(tap_config(server, tracking_ids=server.dataset.tracking_labels()))
        SETTINGS.update(notifications_queue_url=queue_url, notifications_endpoint_url=sqs_endpoint)
        config = Path(folder) / "config.json"
        config.write_text(json.dumps(SETTINGS))
        with contextlib.redirect_stdout(io.StringIO()):
            assert setup_main(["setup", "--config", str(config), "--queue-arn", arn]) == 0
        assert server.touch("shipment_trackings", 3)
        yield server


TestTapSpapi = get_tap_test_class(
    TapSpapi,
    config=SETTINGS,
    suite_config=SuiteConfig(max_records_limit=500),
)
