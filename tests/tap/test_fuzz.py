"""Fuzzed Amazon answers: records still come out valid against their schema.

Each case starts from a model-shaped document the stand-in built, then drops optional
fields, nulls them, adds fields Amazon may add later, and fills strings with huge or
unusual Unicode text. The document goes through the stream's own parsing and
post-processing, and the record must validate against the schema the tap announces and
encode as JSON.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import jsonschema
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spapi_standin import StandIn, StandInConfig
from tap_spapi.tap import TapSpapi
from tap_spapi.wire.responses import MissingKeyError
from testkit import KEYS, parsed_records, tap_config

# Stream → (the list in the body where records sit, how to wrap one record).
BODIES = {
    "inbound_shipments": lambda r: {"payload": {"ShipmentData": [r]}},
    "outbound_orders": lambda r: {"payload": {"fulfillmentOrders": [r]}},
    "outbound_package_tracking": lambda r: {"payload": r},
    "shipping_tracking": lambda r: {"payload": r},
    "marketplace_participations": lambda r: {"payload": [r]},
}
# What a record may not lack: its key fields and its replication key.
BOOKMARKED = {name: (*KEYS[name], "statusUpdatedDate") for name in BODIES}
# Lone surrogates cannot be encoded as UTF-8 at all: no JSON text can carry them.
SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
ODD_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=SURROGATES), min_size=0, max_size=50
) | st.just("\u202e\u0000\ufeff😀" * 3) | st.just("x" * 100_000)  # fmt: skip
EXTRA_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ODD_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ODD_TEXT, inner, max_size=3),
    max_leaves=5,
)


@pytest.fixture(scope="module")
def world():
    """A stand-in's sample records per stream, and a tap whose streams parse them."""
    # The suite's `standin` data set (seed 11): a worker builds it once.
    with StandIn(StandInConfig(seed=11, rate_scale=50.0)) as server:
        data = server.dataset
        samples = {
            "inbound_shipments": data.all_inbound_shipments()[0],
            "outbound_orders": data.outbound_since(None)[0],
            "outbound_package_tracking": next(iter(data.package_tracking.values())),
            "shipping_tracking": data.shipping_trackings[0],
            "marketplace_participations": data.marketplace_participations[0],
        }
        tap = TapSpapi(config=tap_config(server, tracking_ids=data.tracking_labels()))
        yield tap, {name: _unwrap(sample) for name, sample in samples.items()}


def _unwrap(sample: Any) -> dict[str, Any]:
    return sample.get("payload", sample) if isinstance(sample, dict) else sample


@st.composite
def mutated(draw: st.DrawFn, value: Any, keys: tuple[str, ...] = (), depth: int = 0) -> Any:
    """`value` with optional fields dropped or nulled, extras added, strings replaced."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for name, item in value.items():
            if name in keys and draw(st.integers(0, 9)):
                out[name] = item  # key properties mostly stay (a missing one must fail)
                continue
            action = draw(st.sampled_from(["keep", "keep", "drop", "null", "mutate"]))
            if action == "null":
                out[name] = None
            elif action == "mutate" and depth < 4:
                out[name] = draw(mutated(item, depth=depth + 1))
            elif action != "drop":
                out[name] = item
        for extra in draw(st.lists(ODD_TEXT, max_size=2)):
            out.setdefault(f"new_{extra}", draw(EXTRA_VALUE))
        return out
    if isinstance(value, list):
        return [draw(mutated(item, depth=depth + 1)) for item in value[:3]]
    if isinstance(value, str):
        return draw(ODD_TEXT)
    return value


@pytest.mark.parametrize("stream_name", sorted(BODIES))
def test_fuzzed_documents_still_give_records_valid_against_the_schema(world, stream_name):
    tap, samples = world
    schema = tap.streams[stream_name].schema
    validator = jsonschema.Draft7Validator(schema)
    wrap = BODIES[stream_name]
    keys = tuple(k for k in BOOKMARKED[stream_name] if k in samples[stream_name])

    # The same 40 documents every run (derandomize, no example database): a failure here
    # is a change in the tap, never the luck of the draw or a file left by an earlier run.
    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(document=mutated(copy.deepcopy(samples[stream_name]), keys))
    def check(document: dict[str, Any]) -> None:
        try:
            records = parsed_records(tap, stream_name, wrap(document))
        except MissingKeyError as exc:
            # The one refusal allowed: a record without its key, named in the message.
            assert f"stream '{stream_name}'" in str(exc)
            assert any(f"'{key}'" in str(exc) for key in BOOKMARKED[stream_name])
            return
        for record in records:
            errors = sorted(validator.iter_errors(record), key=str)
            assert not errors, f"{errors[0].message} at {list(errors[0].path)}"
            msgspec.json.encode(record)  # what the Singer writer does with it

    check()
