#!/usr/bin/env python3
"""Generate the tap's schemas and operation table from Amazon's SP-API models.

Amazon's Swagger models are the source of truth for field names, types, paths and
usage plans, so nothing here is typed by hand. The script writes:

- `tap_spapi/amazon/schemas/<stream>.json`: one Singer JSON Schema per stream (report streams
  from the columns in `tap_spapi/amazon/report_types.py`: the models do not describe report
  documents);
- `tap_spapi/amazon/operations.json`: method, path, usage plan (rate, burst), restricted and
  grantless flags of every operation the tap or its stand-in uses, and the enum values
  of its query parameters (getShipments must send every `ShipmentStatusList` value);
- `spapi_standin/response_schemas.json`: the faithful resolved 200/201 body of those
  operations, from which the local stand-in builds its answers;
- `spapi_standin/usage_plans.json`: the stand-in's own table of every operation of every
  model file (by method and path: rate, burst, query enums), built apart from the tap's
  selection so that tests/test_cross_check.py can compare the two.

Usage:
    python scripts/generate_from_models.py [--models DIR] [--check]

`--check` writes nothing and exits 1 listing the files that differ from what the
models give (CI and the tests use it to catch hand edits and stale output).
Standard library only, so it runs before the package is installed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Amazon's models, vendored with the code (models/README.md records the upstream commit).
DEFAULT_MODELS = REPO / "models"

Json = dict[str, Any]

# Model files (stem) the tap reads from; every read operation of each is catalogued so
# pacing and auth know all of them, not only those a stream uses today.
READ_APIS = (
    "sellers",
    "fulfillmentInboundV0",
    "fulfillmentOutbound_2020-07-01",
    "shippingV2",
    "reports_2021-06-30",
    "merchantFulfillmentV0",
    "ordersV0",
    "orders_2026-01-01",
    "fulfillmentInbound_2024-03-20",
    "tracking_2026-01-30",
    # Notifications v1: the subscriptions that say which messages of the queue are whose
    # (the `notifications` setting), and the destinations the setup command checks.
    "notifications",
    # Amazon Warehousing and Distribution: inbound shipments, outbound orders, inventory.
    "awd_2024-05-09",
    # Last, so that its `getOrder` is the one keyed `<api>.getOrder` (ordersV0 keeps its key).
    "fulfillmentOutbound_2026-07-04",
)
# Non-read operations the tap calls: RDT issuance, and report creation (reports issue).
EXTRA_OPERATIONS = {
    "tokens_2021-03-01": ("createRestrictedDataToken",),
    "reports_2021-06-30": ("createReport",),
    # tap-spapi-notifications setup (tap_spapi/notifications_setup.py).
    "notifications": ("createDestination", "createSubscription", "deleteSubscriptionById"),
}
# The models do not say which operations need a Restricted Data Token ("see the Tokens
# API Use Case Guide"). This list is the one of ../shared/spapi-reference.md section 7:
# Tokens model path examples plus the restricted lists of Amazon's client signers.
# getReportDocument is restricted only for some report types, so the reports code asks
# for an RDT itself where the type needs one.
RESTRICTED = {
    ("ordersV0", "getOrders"),
    ("ordersV0", "getOrder"),
    ("ordersV0", "getOrderItems"),
    ("ordersV0", "getOrderAddress"),
    ("ordersV0", "getOrderBuyerInfo"),
    ("ordersV0", "getOrderItemsBuyerInfo"),
    ("ordersV0", "getOrderRegulatedInfo"),
    ("merchantFulfillmentV0", "getShipment"),
}
# Grantless operations among those catalogued, and the LWA scope each asks for: Amazon's
# "Grantless operations" list names these of Notifications v1 (the destinations, and a
# subscription by id); none of the other APIs above has any.
GRANTLESS_SCOPES = {
    ("notifications", op_id): "sellingpartnerapi::notifications"
    for op_id in (
        "getDestinations",
        "createDestination",
        "getDestination",
        "deleteDestination",
        "getSubscriptionById",
        "deleteSubscriptionById",
    )
}

# Operations whose model prints no usage-plan table, by name: they get FALLBACK_PLAN,
# one request a second without a burst (the tap's most cautious plan), marked
# `fallback_plan` in operations.json. The pacer adopts the rate Amazon sends in
# `x-amzn-RateLimit-Limit` with the first answer, so a higher real plan is used from the
# second request on (with an assumed burst of 2 at 2/s or more: pacing.py says why).
# Any other operation without a table still stops the generator:
# a fallback is a decision taken per operation, never a silent default.
FALLBACK_PLAN = (1.0, 1)
FALLBACK_PLAN_OPERATIONS = {
    ("tracking_2026-01-30", "getShipmentTracking"),
    ("fulfillmentInbound_2024-03-20", "getSelfShipAppointmentSlots"),
    ("fulfillmentInbound_2024-03-20", "listPrepDetails"),
    # AWD replenishment orders: read operations of the model no stream calls yet.
    ("awd_2024-05-09", "listReplenishmentOrders"),
    ("awd_2024-05-09", "getReplenishmentOrder"),
}

READ_PREFIX = re.compile(r"^(get|list|search|query)")
METHODS = ("get", "put", "post", "delete", "patch")
# | Rate (requests per second) | Burst |\n| ---- | ---- |\n| 0.0167 | 20 |
# Some models escape the newlines, so only the cells are matched.
RATE_TABLE = re.compile(
    r"\|\s*Rate[^|]*\|\s*Burst\s*\|.*?\|\s*-+\s*\|\s*-+\s*\|(?:\\n|\s)*"
    r"\|\s*([0-9.]+)\s*\|\s*([0-9]+)\s*\|",
    re.DOTALL | re.IGNORECASE,
)


@dataclass(frozen=True)
class StreamSpec:
    """How one stream's schema derives from a model definition."""

    api: str
    definition: str
    key_properties: tuple[str, ...]
    # Fields the tap adds to Amazon's record (parent keys, copied-up ids, bookmarks).
    added: dict[str, Json] = field(default_factory=dict)
    # Fields whose type the tap pins (e.g. a replication key that must be a date-time).
    overrides: dict[str, Json] = field(default_factory=dict)
    # Fields of the definition the tap moves to streams of their own (embedded lists).
    removed: tuple[str, ...] = ()
    # Top-level fields whose nested date-times are declared as plain strings: Amazon's
    # own examples write them in a shorter form than JSON Schema's `date-time`.
    unformatted: tuple[str, ...] = ()


STRING = {"type": ["string", "null"]}
DATE_TIME = {"type": ["string", "null"], "format": "date-time"}
# What the tap adds to every record: the `accounts` entry it came from (the first key
# property of every stream, so two accounts never collide) and its seller id.
ACCOUNT_FIELDS: dict[str, Json] = {
    "account": {
        "type": ["string"],
        "description": 'Name of the tap\'s `accounts` entry ("default" for one account).',
    },
    "selling_partner_id": {
        "type": ["string", "null"],
        "description": "The account's seller id, when configured.",
    },
}

STREAMS: dict[str, StreamSpec] = {
    "marketplace_participations": StreamSpec(
        "sellers", "MarketplaceParticipation", ("marketplace_id",), {"marketplace_id": STRING}
    ),
    "inbound_shipments": StreamSpec(
        "fulfillmentInboundV0", "InboundShipmentInfo", ("ShipmentId",), {"marketplace_id": STRING}
    ),
    "inbound_shipment_items": StreamSpec(
        "fulfillmentInboundV0",
        "InboundShipmentItem",
        ("ShipmentId", "SellerSKU"),
        {"marketplace_id": STRING},
    ),
    "outbound_orders": StreamSpec(
        "fulfillmentOutbound_2020-07-01",
        "FulfillmentOrder",
        ("sellerFulfillmentOrderId",),
        overrides={"statusUpdatedDate": {"type": ["string"], "format": "date-time"}},
    ),
    "outbound_shipments": StreamSpec(
        "fulfillmentOutbound_2020-07-01",
        "FulfillmentShipment",
        ("amazonShipmentId",),
        {"sellerFulfillmentOrderId": STRING},
    ),
    "outbound_package_tracking": StreamSpec(
        "fulfillmentOutbound_2020-07-01",
        "PackageTrackingDetails",
        ("packageNumber",),
        {"amazonShipmentId": STRING, "sellerFulfillmentOrderId": STRING},
    ),
    # The rest of each order's getFulfillmentOrder answer (the same request as shipments).
    "outbound_order_items": StreamSpec(
        "fulfillmentOutbound_2020-07-01",
        "FulfillmentOrderItem",
        ("sellerFulfillmentOrderId", "sellerFulfillmentOrderItemId"),
        {"sellerFulfillmentOrderId": STRING},
    ),
    "outbound_returns": StreamSpec(
        "fulfillmentOutbound_2020-07-01",
        "ReturnItem",
        ("sellerFulfillmentOrderId", "sellerReturnItemId"),
        {"sellerFulfillmentOrderId": STRING},
    ),
    "outbound_return_authorizations": StreamSpec(
        "fulfillmentOutbound_2020-07-01",
        "ReturnAuthorization",
        ("sellerFulfillmentOrderId", "returnAuthorizationId"),
        {"sellerFulfillmentOrderId": STRING},
    ),
    # MCF read through FBA Outbound 2026-07-04 listOrders (`mcf_api_version`): the same
    # stream names and keys, the 2026-07-04 model's columns; an order's `lineItems` and
    # `shipments` are streams of their own. `sellerFulfillmentOrderId` (= `orderId`, the
    # seller's id) and `sellerFulfillmentOrderItemId` (= `lineItemId`) keep 2020's keys.
    "outbound_orders_2026": StreamSpec(
        "fulfillmentOutbound_2026-07-04",
        "FulfillmentOrder",
        ("sellerFulfillmentOrderId",),
        {"sellerFulfillmentOrderId": STRING},
        overrides={"statusUpdateTime": {"type": ["string"], "format": "date-time"}},
        removed=("lineItems", "shipments"),
    ),
    "outbound_shipments_2026": StreamSpec(
        "fulfillmentOutbound_2026-07-04",
        "Shipment",
        ("amazonShipmentId",),
        {"sellerFulfillmentOrderId": STRING},
    ),
    "outbound_order_items_2026": StreamSpec(
        "fulfillmentOutbound_2026-07-04",
        "OrderLineItem",
        ("sellerFulfillmentOrderId", "sellerFulfillmentOrderItemId"),
        {"sellerFulfillmentOrderId": STRING, "sellerFulfillmentOrderItemId": STRING},
    ),
    "shipping_tracking": StreamSpec(
        "shippingV2",
        "GetTrackingResult",
        ("trackingId",),
        {"carrierId": STRING, "latestEventTime": DATE_TIME},
    ),
    "shipping_carrier_accounts": StreamSpec(
        "shippingV2",
        "ActiveAccount",
        ("carrierId", "accountId"),
        {"shipping_business_id": STRING},
    ),
    # Orders 2026-01-01: an order's `orderItems` and `packages` are streams of their own.
    "orders": StreamSpec(
        "orders_2026-01-01",
        "Order",
        ("orderId",),
        overrides={"lastUpdatedTime": {"type": ["string"], "format": "date-time"}},
        removed=("orderItems", "packages"),
    ),
    "order_items": StreamSpec(
        "orders_2026-01-01", "OrderItem", ("orderId", "orderItemId"), {"orderId": STRING}
    ),
    "order_packages": StreamSpec(
        "orders_2026-01-01", "OrderPackage", ("orderId", "packageReferenceId"), {"orderId": STRING}
    ),
    # FBA inbound 2024-03-20: plans (listInboundPlans summaries), their shipments
    # (getShipment), and each shipment's items and boxes.
    "inbound_plans": StreamSpec(
        "fulfillmentInbound_2024-03-20",
        "InboundPlanSummary",
        ("inboundPlanId",),
        overrides={"lastUpdatedAt": {"type": ["string"], "format": "date-time"}},
    ),
    # getShipment's sandbox answers give `dates.readyToShipWindow` times without
    # seconds ("2024-01-01T00:00Z"), which a strict target rejects as a date-time.
    "inbound_plan_shipments": StreamSpec(
        "fulfillmentInbound_2024-03-20",
        "Shipment",
        ("shipmentId",),
        {"inboundPlanId": STRING},
        unformatted=("dates",),
    ),
    "inbound_plan_shipment_items": StreamSpec(
        "fulfillmentInbound_2024-03-20",
        "Item",
        ("shipmentId", "msku"),
        {"inboundPlanId": STRING, "shipmentId": STRING},
    ),
    "inbound_plan_shipment_boxes": StreamSpec(
        "fulfillmentInbound_2024-03-20",
        "Box",
        ("shipmentId", "packageId"),
        {"inboundPlanId": STRING, "shipmentId": STRING},
    ),
    # Tracking 2026-01-30: one record per identifier (its milestones are a stream of
    # their own); the identifier it was asked by is the key.
    "shipment_tracking": StreamSpec(
        "tracking_2026-01-30",
        "TrackingDetail",
        ("identifierType", "identifierValue"),
        {
            "identifierType": {
                "type": ["string"],
                "description": "The query parameter the identifier was asked by: aftn, "
                "acsin, containerNumber, houseBillOfLadingNumber, id, or carrierTracking "
                "(carrierTracking.trackingNumber, with carrierCode when known).",
            },
            "identifierValue": {"type": ["string"]},
            "carrierCode": STRING,
            "latestMilestoneTime": DATE_TIME,
        },
        removed=("milestoneHistory",),
    ),
    "shipment_tracking_milestones": StreamSpec(
        "tracking_2026-01-30",
        "TrackingMilestone",
        ("identifierType", "identifierValue", "occurredAt", "statusCode"),
        {
            "identifierType": {"type": ["string"]},
            "identifierValue": {"type": ["string"]},
            "statusCode": {"type": ["string"], "description": "`status.code`, copied up."},
        },
        overrides={"occurredAt": {"type": ["string"], "format": "date-time"}},
    ),
    # Amazon Warehousing and Distribution 2024-05-09: inbound shipments (listInboundShipments
    # summaries), their SKU quantities (getInboundShipment's `shipmentSkuQuantities`),
    # outbound orders (listOutbounds, whole orders) and the inventory (listInventory).
    # `updatedAt` (the bookmark) stays nullable: the model makes it optional, and Amazon's
    # own listOutbounds example is an order with neither `updatedAt` nor `createdAt`.
    "awd_inbound_shipments": StreamSpec(
        "awd_2024-05-09", "InboundShipmentSummary", ("shipmentId",)
    ),
    "awd_inbound_shipment_items": StreamSpec(
        "awd_2024-05-09",
        "SkuQuantity",
        ("shipmentId", "sku"),
        {"shipmentId": STRING, "orderId": STRING},
    ),
    "awd_outbound_orders": StreamSpec("awd_2024-05-09", "OutboundOrder", ("orderId",)),
    "awd_inventory": StreamSpec("awd_2024-05-09", "InventorySummary", ("sku",)),
}

# Validation keywords dropped from Singer schemas: Amazon adds enum values and widens
# limits without a model bump, and a strict target would then reject real records.
DROPPED_KEYWORDS = {
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "example",
    "examples",
    "readOnly",
    "required",
    "title",
}
EXAMPLE_KEYS = {"example", "examples", "x-example"}
# Swagger formats to JSON Schema formats (Amazon writes `dateTime` in places).
FORMATS = {"date-time": "date-time", "dateTime": "date-time", "date": "date"}


# ---------------------------------------------------------------- model reading


def load_model(models: Path, api: str) -> Json:
    path = models / f"{api}.json"
    try:
        model: Json = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"model {path} not found (use --models DIR)") from None
    return model


def resolve(node: Any, definitions: Json, stack: tuple[str, ...] = ()) -> Any:
    """`node` with every local $ref inlined; a recursive reference becomes an open object."""
    if isinstance(node, list):
        return [resolve(item, definitions, stack) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in stack:
            return {"type": "object"}
        return resolve(definitions[name], definitions, (*stack, name))
    return {
        key: resolve(value, definitions, stack)
        for key, value in node.items()
        if key not in EXAMPLE_KEYS and not key.startswith("x-")
    }


def usage_plan(description: str) -> tuple[float, int] | None:
    match = RATE_TABLE.search(description or "")
    if not match:
        return None
    return float(match.group(1)), int(match.group(2))


def query_enums(path_item: Json, operation: Json) -> Json:
    """Query parameter -> its enum values (of the items, for an array), in model order."""
    enums: Json = {}
    for parameter in path_item.get("parameters", []) + operation.get("parameters", []):
        if not isinstance(parameter, dict) or parameter.get("in") != "query":
            continue
        values = parameter.get("enum") or (parameter.get("items") or {}).get("enum")
        if values:
            enums[parameter["name"]] = list(values)
    return enums


def iter_operations(model: Json) -> Any:
    for path, item in model.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                yield path, method, item, item[method]


def is_read(method: str, operation_id: str) -> bool:
    return method == "get" or READ_PREFIX.match(operation_id) is not None


def success_body(operation: Json, definitions: Json) -> Json | None:
    for code in ("200", "201"):
        response = operation.get("responses", {}).get(code)
        if response and "schema" in response:
            body: Json = resolve(response["schema"], definitions)
            return body
    return None


def request_body(path_item: Json, operation: Json, definitions: Json) -> Json | None:
    for parameter in path_item.get("parameters", []) + operation.get("parameters", []):
        if isinstance(parameter, dict) and parameter.get("in") == "body":
            body: Json = resolve(parameter["schema"], definitions)
            return body
    return None


# ---------------------------------------------------------------- operations


def selected_operations(models: Path) -> list[tuple[str, str, str, Json, Json, Json]]:
    """(api, path, method, path item, operation, model) of every operation we catalogue."""
    selected = []
    for api in dict.fromkeys((*READ_APIS, *EXTRA_OPERATIONS)):
        model = load_model(models, api)
        extras = EXTRA_OPERATIONS.get(api, ())
        for path, method, item, operation in iter_operations(model):
            op_id = operation["operationId"]
            wanted = (api in READ_APIS and is_read(method, op_id)) or op_id in extras
            if wanted:
                selected.append((api, path, method, item, operation, model))
    return selected


def operation_key(taken: dict[str, Any], api: str, op_id: str) -> str:
    """The plain id, or `<api>.<id>` when an earlier API already uses it."""
    return op_id if op_id not in taken else f"{api}.{op_id}"


def build_operations(models: Path) -> tuple[Json, Json]:
    """(operations.json, response_schemas.json) contents."""
    catalog: Json = {}
    responses: Json = {}
    for api, path, method, item, operation, model in selected_operations(models):
        op_id = operation["operationId"]
        plan = usage_plan(operation.get("description", ""))
        fallback = plan is None and (api, op_id) in FALLBACK_PLAN_OPERATIONS
        if fallback:
            plan = FALLBACK_PLAN
        if plan is None:
            raise SystemExit(
                f"{api}.{op_id}: no usage plan table in its description (add it to "
                "FALLBACK_PLAN_OPERATIONS if a fallback plan is right for it)"
            )
        if not fallback and (api, op_id) in FALLBACK_PLAN_OPERATIONS:
            raise SystemExit(f"{api}.{op_id}: the model now prints a plan; drop its fallback")
        key = operation_key(catalog, api, op_id)
        catalog[key] = {
            "api": api,
            "method": method.upper(),
            "path": path,
            "rate": plan[0],
            "burst": plan[1],
            "restricted": (api, op_id) in RESTRICTED,
            "grantless": (api, op_id) in GRANTLESS_SCOPES,
            "deprecated": bool(operation.get("deprecated")),
        }
        if (api, op_id) in GRANTLESS_SCOPES:
            catalog[key]["scope"] = GRANTLESS_SCOPES[api, op_id]
        if fallback:
            catalog[key]["fallback_plan"] = True
        enums = query_enums(item, operation)
        if enums:
            catalog[key]["query_enums"] = enums
        definitions = model.get("definitions", {})
        responses[key] = {
            "api": api,
            "method": method.upper(),
            "path": path,
            "response": success_body(operation, definitions),
            "request_body": request_body(item, operation, definitions),
        }
    return {"operations": catalog}, {"operations": responses}


def build_standin_plans(models: Path) -> Json:
    """`usage_plans.json`: "METHOD path" -> plan and query enums, for every operation of
    every model file (the stand-in serves what tests ask). An operation whose model
    prints no plan has rate and burst null: the stand-in decides what live Amazon
    applies to it (spapi_standin/ratelimit.py), apart from the tap's fallback."""
    plans: Json = {}
    for path_ in sorted(models.glob("*.json")):
        model = load_model(models, path_.stem)
        for path, method, item, operation in iter_operations(model):
            plan = usage_plan(operation.get("description", ""))
            entry: Json = {
                "api": path_.stem,
                "operationId": operation["operationId"],
                "rate": plan[0] if plan else None,  # e.g. Tracking 2026-01-30 prints none
                "burst": plan[1] if plan else None,
            }
            enums = query_enums(item, operation)
            if enums:
                entry["query_enums"] = enums
            route = f"{method.upper()} {path}"
            if route in plans:
                raise SystemExit(f"{route} is in both {plans[route]['api']} and {path_.stem}")
            plans[route] = entry
    return {"plans": plans}


# ---------------------------------------------------------------- stream schemas


def singer_property(node: Json) -> Json:
    """A resolved model schema made lenient for Singer: nullable, no validation limits."""
    out: Json = {}
    kind = node.get("type")
    if kind is None and "properties" in node:
        kind = "object"
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        out["type"] = [*[k for k in kinds if k != "null"], "null"]
    if "description" in node:
        out["description"] = node["description"]
    if node.get("format") in FORMATS:
        out["format"] = FORMATS[node["format"]]
    if "properties" in node:
        out["properties"] = {k: singer_property(v) for k, v in node["properties"].items()}
    if "items" in node:
        out["items"] = singer_property(node["items"])
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        out["additionalProperties"] = singer_property(extra)
    for combiner in ("allOf", "anyOf", "oneOf"):
        if combiner in node:
            out[combiner] = [singer_property(part) for part in node[combiner]]
    for keyword, value in node.items():
        if (
            keyword not in out
            and keyword not in DROPPED_KEYWORDS
            and keyword
            not in (
                "type",
                "format",
                "additionalProperties",
            )
        ):
            out[keyword] = value
    return out


def without_formats(node: Any) -> Any:
    """`node` with every `format` keyword removed, at any depth."""
    if isinstance(node, list):
        return [without_formats(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {k: without_formats(v) for k, v in node.items() if k != "format"}


def build_stream_schema(models: Path, spec: StreamSpec) -> Json:
    model = load_model(models, spec.api)
    definitions = model.get("definitions", {})
    if spec.definition not in definitions:
        raise SystemExit(f"{spec.api}: no definition {spec.definition}")
    resolved = resolve(definitions[spec.definition], definitions, (spec.definition,))
    properties = {
        k: without_formats(singer_property(v)) if k in spec.unformatted else singer_property(v)
        for k, v in resolved.get("properties", {}).items()
        if k not in spec.removed
    }
    properties.update(spec.added)
    properties.update(ACCOUNT_FIELDS)
    properties.update({k: {**properties.get(k, {}), **v} for k, v in spec.overrides.items()})
    for key in spec.key_properties:
        if key not in properties:
            raise SystemExit(f"{spec.definition}: key property {key} is not in the model")
        kinds = [k for k in properties[key]["type"] if k != "null"]
        properties[key] = {**properties[key], "type": kinds}
    return {
        "type": "object",
        "description": (
            f"Generated from {spec.api}.json definition {spec.definition} by "
            "scripts/generate_from_models.py; do not edit."
        ),
        "additionalProperties": True,
        "required": ["account", *spec.key_properties],
        "properties": properties,
    }


# ---------------------------------------------------------------- report stream schemas

REPORT_KINDS: dict[str, Json] = {
    "string": STRING,
    "integer": {"type": ["integer", "null"]},
    "number": {"type": ["number", "null"]},
    "date-time": DATE_TIME,
    "boolean": {"type": ["boolean", "null"]},
}


def report_types() -> Any:
    """`tap_spapi/amazon/report_types.py`, loaded by path (it is standard library only)."""
    import importlib.util

    path = REPO / "tap_spapi" / "amazon" / "report_types.py"
    spec = importlib.util.spec_from_file_location("_report_types", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def build_report_schema(report: Any) -> Json:
    """Typed columns of one report type, keys never null, plus account and report id."""
    properties: Json = {name: dict(REPORT_KINDS[kind]) for name, kind in report.kinds.items()}
    for key in report.keys:
        properties[key] = {**properties[key], "type": ["string"]}
    properties["report_id"] = {
        "type": ["string"],
        "description": "The Reports API report the row was read from.",
    }
    properties.update(ACCOUNT_FIELDS)
    return {
        "type": "object",
        "description": (
            f"{report.description} Report type {report.report_type}; generated from "
            "tap_spapi/amazon/report_types.py by scripts/generate_from_models.py; do not edit."
        ),
        "additionalProperties": True,
        "required": ["account", *report.keys],
        "properties": properties,
    }


def build_notifications_schema() -> Json:
    """The `notifications` stream: the envelope every notification type shares (the
    schemas in models/../notifications, both key casings read as camelCase), the payload
    kept whole as JSON."""
    properties: Json = {
        "notificationId": {"type": ["string"], "description": "Amazon's notification id."},
        "notificationType": {"type": ["string"]},
        "payloadVersion": STRING,
        "eventTime": DATE_TIME,
        "publishTime": DATE_TIME,
        "subscriptionId": STRING,
        "payload": {
            "type": ["object", "null"],
            "description": "The notification's payload as Amazon sent it (its own casing).",
        },
    }
    properties.update(ACCOUNT_FIELDS)
    return {
        "type": "object",
        "description": (
            "Every notification read from the SQS queue once, keyed on its id; generated "
            "by scripts/generate_from_models.py; do not edit."
        ),
        "additionalProperties": True,
        "required": ["account", "notificationId", "notificationType"],
        "properties": properties,
    }


# ---------------------------------------------------------------- output


def render(document: Json) -> str:
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def outputs(models: Path) -> dict[Path, str]:
    operations, responses = build_operations(models)
    files = {
        REPO / "tap_spapi" / "amazon" / "operations.json": render(operations),
        REPO / "spapi_standin" / "response_schemas.json": render(responses),
        REPO / "spapi_standin" / "usage_plans.json": render(build_standin_plans(models)),
    }
    for name, spec in STREAMS.items():
        files[REPO / "tap_spapi" / "amazon" / "schemas" / f"{name}.json"] = render(
            build_stream_schema(models, spec)
        )
    files[REPO / "tap_spapi" / "amazon" / "schemas" / "notifications.json"] = render(
        build_notifications_schema()
    )
    for report in report_types().REPORT_TYPES:
        files[REPO / "tap_spapi" / "amazon" / "schemas" / f"{report.stream_name}.json"] = render(
            build_report_schema(report)
        )
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    stale = []
    for path, text in outputs(args.models).items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path.relative_to(REPO))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print("stale generated files (run scripts/generate_from_models.py):", file=sys.stderr)
        for path in stale:
            print(f"  {path}", file=sys.stderr)
        return 1
    for path in stale:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
