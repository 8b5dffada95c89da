"""The generated schemas and operation table match Amazon's models and are usable."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema

from tap_spapi.amazon.operations import load_catalog
from tap_spapi.tap import TapSpapi
from testkit import MODELS

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "scripts" / "generate_from_models.py"


def test_generated_files_are_up_to_date_with_the_models() -> None:
    # The vendored models: the check runs in any clone and never skips.
    assert (MODELS / "fulfillmentInboundV0.json").is_file()
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--models", str(MODELS), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def _schema_files() -> list[Path]:
    folder = resources.files("tap_spapi.amazon") / "schemas"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".json"))


def test_every_stream_has_a_packaged_schema_with_its_keys_required() -> None:
    tap = TapSpapi(config={"client_id": "x", "client_secret": "y", "refresh_token": "z"})
    names = {path.stem for path in _schema_files()}
    for stream in tap.streams.values():
        assert stream.name in names
        schema = json.loads((REPO / "schemas" / f"{stream.name}.json").read_text())
        jsonschema.Draft7Validator.check_schema(schema)
        for key in stream.primary_keys or []:
            assert key in schema["required"], (stream.name, key)
            assert "null" not in schema["properties"][key]["type"], (stream.name, key)


def test_schemas_are_lenient_where_amazon_may_change_values() -> None:
    tracking = json.loads((REPO / "schemas" / "shipping_tracking.json").read_text())
    status = tracking["properties"]["summary"]["properties"]["status"]
    assert "enum" not in status and "null" in status["type"]
    event_time = tracking["properties"]["eventHistory"]["items"]["properties"]["eventTime"]
    assert event_time["format"] == "date-time"


def test_operation_table_has_usage_plans_and_restricted_flags() -> None:
    catalog = load_catalog()
    tracking = catalog["getPackageTrackingDetails"]
    assert (tracking.method, tracking.rate, tracking.burst) == ("GET", 2.0, 30)
    assert catalog["getCarrierAccounts"].method == "PUT"
    assert (
        catalog["getShipment"].restricted and catalog["getShipment"].api == "merchantFulfillmentV0"
    )
    assert not catalog["getShipments"].restricted
    for operation in catalog:
        assert operation.rate > 0 and operation.burst >= 1, operation.operation_id
    matched = catalog.match("GET", "/fba/outbound/2020-07-01/fulfillmentOrders/ABC-1")
    assert matched is not None and matched.operation_id == "getFulfillmentOrder"
