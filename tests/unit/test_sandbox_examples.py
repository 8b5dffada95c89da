"""Amazon's own examples as a second oracle: they parse into records the schema accepts.

The models carry 200-response examples: `x-amzn-api-sandbox` static and dynamic cases
(what Amazon's sandbox endpoints answer) and, for APIs without sandbox cases, the 200
response's `examples`. Written by Amazon, not by us or the stand-in, they catch a
parser or schema that only fits the stand-in's answers. Report streams are left out:
their records come from report documents, which the models do not describe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import jsonschema
import pytest

from tap_spapi.amazon.report_types import BY_STREAM
from tap_spapi.tap import TapSpapi
from testkit import load_model, parsed_records

if TYPE_CHECKING:
    from tap_spapi.streams.base.stream import SPAPIStream

TAP = TapSpapi(config={"client_id": "x", "client_secret": "y", "refresh_token": "z"})
# `notifications` reads the SQS queue, not an operation's answer: the notification
# schemas' examples are its oracle (tests/unit/test_notifications_inbox.py).
JSON_STREAMS = sorted(name for name in TAP.streams if name not in {*BY_STREAM, "notifications"})
# shippingV2's getTracking example is the GetTrackingResult alone, without the
# GetTrackingResponse `payload` envelope its own schema (and live Amazon) puts around it.
ENVELOPE_MISSING = {"getTracking": "payload"}
# getFulfillmentOrder's examples hold no return (both lists are empty): for these streams
# the oracle can only check that the list the stream reads is where the stream reads it.
EMPTY_IN_EXAMPLES = {
    "outbound_returns": "returnItems",
    "outbound_return_authorizations": "returnAuthorizations",
}


def _sandbox_bodies(node: dict[str, Any]) -> list[Any]:
    sandbox = node.get("x-amzn-api-sandbox") or {}
    cases = [case for kind in ("static", "dynamic") for case in sandbox.get(kind) or []]
    return [case["response"] for case in cases if isinstance(case, dict) and "response" in case]


def example_bodies(stream_name: str) -> list[Any]:
    """Every 200 body Amazon's model gives for the stream's operation."""
    operation = cast("SPAPIStream", TAP.streams[stream_name]).operation
    path_item = load_model(operation.api)["paths"][operation.path]
    success = path_item[operation.method.lower()]["responses"]["200"]
    bodies = _sandbox_bodies(success) + _sandbox_bodies(path_item)
    examples = success.get("examples") or {}
    if examples:  # Swagger's form ({"application/json": body}) or the body itself
        bodies.append(examples.get("application/json", examples))
    envelope = ENVELOPE_MISSING.get(operation.operation_id)
    return [{envelope: body} if envelope else body for body in bodies]


@pytest.mark.parametrize("stream_name", JSON_STREAMS)
def test_amazons_example_answers_give_records_valid_against_the_announced_schema(stream_name):
    bodies = example_bodies(stream_name)
    assert bodies, f"{stream_name}: the model has no 200 example"
    validator = jsonschema.Draft7Validator(
        TAP.streams[stream_name].schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    records = [record for body in bodies for record in parsed_records(TAP, stream_name, body)]
    if stream_name in EMPTY_IN_EXAMPLES:
        field = EMPTY_IN_EXAMPLES[stream_name]
        assert all(body["payload"][field] == [] for body in bodies), stream_name
        assert not records
        return
    assert records, f"{stream_name}: no record in Amazon's examples"
    for record in records:
        errors = sorted(validator.iter_errors(record), key=str)
        assert not errors, f"{stream_name}: {errors[0].message} at {list(errors[0].path)}"
