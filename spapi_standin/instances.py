"""Seeded instances of a JSON Schema: the raw material of the stand-in's data set.

Generating from the models' schemas (instead of hand-writing records) keeps every
response shaped exactly like Amazon's: each required property is present, optional
ones mostly present, enums, formats, bounds and patterns respected. `builder.py` then
overrides the fields that must be coherent (ids, timestamps, cross-references).

Buyer PII is planted as recognisable sentinels (`PII-SENTINEL-…`) so a test can prove
none of it reaches the tap's output.
"""

from __future__ import annotations

import base64
import re
import string
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import random

Schema = dict[str, Any]

PII_PREFIX = "PII-SENTINEL-"
OPTIONAL_SHARE = 0.75  # how often an optional property is filled

# Address-shaped objects under these properties belong to sellers, Amazon or carriers,
# not to buyers: they get realistic values, not sentinels.
NOT_BUYER_ADDRESSES = frozenset(
    {"shipfromaddress", "returntoaddress", "eventaddress", "location", "valueasaddress"}
)
# Properties whose whole subtree is buyer PII. A gift message is "Personal message from
# the buyer" (Orders 2026-01-01 GiftOption; MCF items carry one for the recipient too);
# an MCF return's comment is free text about why it came back.
BUYER_PII = frozenset(
    {
        "destinationaddress",
        "shiptoaddress",
        "notificationemails",
        "signedforby",
        "buyerinfo",
        "giftmessage",
        "returncomment",
    }
)
# Fields of an address that identify a person; country, state and postal code do not.
PERSONAL_FIELDS = re.compile(r"^(name|phone|email|addressline\d|city)$", re.IGNORECASE)
NOT_PERSONAL = frozenset(
    {"countrycode", "country", "postalcode", "stateorregion", "state", "stateorprovincecode"}
)

CITIES = ("Seattle", "Austin", "Columbus", "Phoenix", "Toronto", "Reno", "Denver", "Tampa")
CARRIERS = ("UPS", "USPS", "FEDEX", "AMZN_US", "DHL")


class InstanceGenerator:
    """Builds instances of resolved JSON Schemas from a seeded random source."""

    def __init__(
        self, rng: random.Random, *, start: datetime, end: datetime, sentinels: set[str]
    ) -> None:
        self.rng = rng
        self.start = start
        self.end = end
        self.sentinels = sentinels
        self._serial = 0

    # -- public helpers used by the data set -------------------------------------------------

    def instance(self, schema: Schema, name: str = "") -> Any:
        """An instance of `schema`; `name` is the property it fills (guides strings)."""
        return self._value(schema, name, pii=name.lower() in BUYER_PII)

    def moment(self, low: datetime | None = None, high: datetime | None = None) -> datetime:
        """A whole-second UTC instant between `low` and `high` (defaults: the data span)."""
        low = low or self.start
        high = high or self.end
        span = max(0, int((high - low).total_seconds()))
        return low + timedelta(seconds=self.rng.randint(0, span))

    def sentinel(self, field: str, max_length: int | None = None) -> str:
        """A new unique PII sentinel for `field`, remembered in `sentinels`."""
        self._serial += 1
        value = f"{PII_PREFIX}{field}-{self._serial:05d}"
        if max_length is not None and len(value) > max_length:
            value = f"{PII_PREFIX}{self._serial}"
        if field.lower() == "email" or field.lower().endswith("emails"):
            value = f"{PII_PREFIX}{self._serial:05d}@example.com"
        self.sentinels.add(value)
        return value

    def code(
        self, prefix: str, length: int, alphabet: str = string.ascii_uppercase + string.digits
    ) -> str:
        """`prefix` + `length` random characters (ids, SKUs, tracking numbers)."""
        return prefix + "".join(self.rng.choices(alphabet, k=length))

    # -- schema walking ---------------------------------------------------------------------

    def _value(self, schema: Schema, name: str, pii: bool) -> Any:
        schema = _merged(schema, self.rng)
        if "enum" in schema:
            return self.rng.choice(schema["enum"])
        kind = _type_of(schema)
        if kind == "object":
            return self._object(schema, name, pii)
        if kind == "array":
            return self._array(schema, name, pii)
        if kind == "string":
            return self._string(schema, name, pii)
        if kind == "integer":
            return self._integer(schema)
        if kind == "number":
            return self._number(schema)
        if kind == "boolean":
            return self.rng.random() < 0.5
        return None

    def _object(self, schema: Schema, name: str, pii: bool) -> dict[str, Any]:
        properties: dict[str, Schema] = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        address = _looks_like_address(properties) and name.lower() not in NOT_BUYER_ADDRESSES
        result: dict[str, Any] = {}
        for key, sub in properties.items():
            if key not in required and self.rng.random() >= OPTIONAL_SHARE:
                continue
            inner_pii = pii or key.lower() in BUYER_PII
            if (
                address
                and PERSONAL_FIELDS.match(key)
                and _type_of(_merged(sub, self.rng)) == "string"
            ):
                inner_pii = True
            result[key] = self._value(sub, key, inner_pii)
        extra = schema.get("additionalProperties")
        if not properties and isinstance(extra, dict):
            for index in range(self.rng.randint(1, 2)):
                result[f"{name or 'key'}{index + 1}"] = self._value(extra, name, pii)
        return result

    def _array(self, schema: Schema, name: str, pii: bool) -> list[Any]:
        low = int(schema.get("minItems", 1))
        high = max(low, min(int(schema.get("maxItems", 3)), 3))
        items: Schema = schema.get("items") or {"type": "string"}
        return [self._value(items, name, pii) for _ in range(self.rng.randint(low, high))]

    def _string(self, schema: Schema, name: str, pii: bool) -> str:
        fmt = schema.get("format")
        if fmt in ("date-time", "dateTime"):
            return iso(self.moment())
        if fmt == "date":
            return self.moment().date().isoformat()
        max_length = schema.get("maxLength")
        if pii and name.lower() not in NOT_PERSONAL and (max_length is None or max_length >= 18):
            return self.sentinel(name or "value", max_length)
        if "pattern" in schema:
            generated = from_pattern(schema["pattern"], self.rng)
            if generated is not None:
                return generated
        value = self._hinted(name)
        return _fit(value, int(schema.get("minLength", 0)), max_length)

    def _hinted(self, name: str) -> str:
        """A plausible string for a property called `name`."""
        lower = name.lower()
        if lower in ("countrycode", "country"):
            return "US"
        if lower.endswith("currencycode"):
            return "USD"
        if lower in ("postalcode", "zipcode"):
            return self.code("", 5, string.digits)
        if lower == "city":
            return self.rng.choice(CITIES)
        if lower == "name":
            return "Stand-in Outfitters Warehouse"
        if lower == "addressline1":
            return f"{self.rng.randint(1, 9999)} Commerce Way"
        if lower in ("addressline2", "addressline3"):
            return f"Suite {self.rng.randint(100, 999)}"
        if lower == "phone":
            return f"+1 206 555 {self.rng.randint(0, 9999):04d}"
        if lower == "email":
            return "shipping@example.com"
        if lower in ("stateorregion", "stateorprovincecode", "state"):
            return self.rng.choice(("WA", "TX", "OH", "AZ", "ON", "NV"))
        if lower.endswith(("url", "link")):
            return f"https://example.com/{self.code('', 10, string.ascii_lowercase)}"
        if lower in ("carriercode", "carrierid", "carriername"):
            return self.rng.choice(CARRIERS)
        if lower == "value":  # Money.value is a decimal string in the outbound model
            return f"{self.rng.randint(1, 300)}.{self.rng.randint(0, 99):02d}"
        if lower == "contents":
            return base64.b64encode(self.rng.randbytes(24)).decode()
        if lower.endswith("id") or lower.endswith("number"):
            return self.code("", 12)
        return f"{name or 'text'}-{self.code('', 6, string.ascii_lowercase + string.digits)}"

    def _integer(self, schema: Schema) -> int:
        low = int(schema.get("minimum", 0))
        high = int(schema.get("maximum", max(low, 0) + 100))
        return self.rng.randint(low, max(low, high))

    def _number(self, schema: Schema) -> float:
        low = float(schema.get("minimum", 0))
        high = float(schema.get("maximum", low + 100))
        return round(self.rng.uniform(low, high), 2)


def iso(moment: datetime) -> str:
    """`2026-01-02T03:04:05Z`, the form Amazon's examples use."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day(moment: datetime | date) -> str:
    """`2026-01-02`."""
    return moment.strftime("%Y-%m-%d")


def _type_of(schema: Schema) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):  # ["string", "null"]
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and "properties" in schema:
        return "object"
    if kind is None and "items" in schema:
        return "array"
    return kind if isinstance(kind, str) else None


def _merged(schema: Schema, rng: random.Random) -> Schema:
    """Flatten allOf (merge) and oneOf/anyOf (pick one) so the walker sees one schema."""
    if "allOf" in schema:
        merged: Schema = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = _merged(part, rng)
            merged.setdefault("properties", {}).update(part.get("properties") or {})
            merged["required"] = [*merged.get("required", []), *part.get("required", [])]
            for key, value in part.items():
                merged.setdefault(key, value)
        return merged
    for key in ("oneOf", "anyOf"):
        if key in schema:
            choice = rng.choice(schema[key])
            rest = {k: v for k, v in schema.items() if k != key}
            return {**rest, **_merged(choice, rng)}
    return schema


def _looks_like_address(properties: dict[str, Schema]) -> bool:
    names = {key.lower() for key in properties}
    return "addressline1" in names or {"city", "state", "country"} <= names


def _fit(value: str, min_length: int, max_length: int | None) -> str:
    if len(value) < min_length:
        value = value + "x" * (min_length - len(value))
    if max_length is not None:
        value = value[:max_length]
    return value


# -- strings from simple regular expressions ---------------------------------------------------

_CLASS_ESCAPES = {
    "d": string.digits,
    "w": string.ascii_letters + string.digits + "_",
    "s": " ",
}
_PRINTABLE = string.ascii_letters + string.digits + "-_."


@dataclass(frozen=True)
class _Chars:
    """One character out of `choices`."""

    choices: str


@dataclass(frozen=True)
class _Group:
    """One of several alternative sequences."""

    branches: tuple[tuple[_Node, ...], ...]


@dataclass(frozen=True)
class _Repeat:
    """`node` between `low` and `high` times."""

    node: _Node
    low: int
    high: int


_Node = _Chars | _Group | _Repeat


def from_pattern(pattern: str, rng: random.Random) -> str | None:
    """A string matching the simple regex `pattern`, or None when it is too complex.

    Enough for the models' patterns (classes, groups, alternation, quantifiers);
    every result is checked with `re`, so an unsupported construct never yields a
    wrong value, only None.
    """
    try:
        tree = _RegexParser(pattern).parse()
        value = _produce(tree, rng)
    except (IndexError, ValueError):
        return None
    return value if re.search(pattern, value) else None


def _produce(node: _Node, rng: random.Random) -> str:
    if isinstance(node, _Chars):
        return rng.choice(node.choices)
    if isinstance(node, _Repeat):
        return "".join(_produce(node.node, rng) for _ in range(rng.randint(node.low, node.high)))
    return "".join(_produce(part, rng) for part in rng.choice(node.branches))


class _RegexParser:
    """Recursive descent over a regex's text into `_Node`s."""

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.pos = 0

    def parse(self) -> _Group:
        group = self._alternatives()
        if self.pos != len(self.text):
            raise ValueError("unbalanced parenthesis")
        return group

    def _alternatives(self) -> _Group:
        branches: list[list[_Node]] = [[]]
        while self.pos < len(self.text) and self.text[self.pos] != ")":
            char = self.text[self.pos]
            self.pos += 1
            if char in "^$":
                continue
            if char == "|":
                branches.append([])
                continue
            branches[-1].append(self._quantified(self._atom(char)))
        return _Group(tuple(tuple(branch) for branch in branches))

    def _atom(self, char: str) -> _Node:
        if char == "(":
            if self.text.startswith("?:", self.pos):
                self.pos += 2
            group = self._alternatives()
            if self.text[self.pos] != ")":
                raise ValueError("unclosed group")
            self.pos += 1
            return group
        if char == "[":
            end = self.text.index("]", self.pos + 1)
            body = self.text[self.pos : end]
            self.pos = end + 1
            if body.startswith("^"):
                excluded = set(_expand_class(body[1:]))
                return _Chars("".join(c for c in _PRINTABLE if c not in excluded))
            return _Chars(_expand_class(body))
        if char == "\\":
            escaped = self.text[self.pos]
            self.pos += 1
            return _Chars(_CLASS_ESCAPES.get(escaped, escaped))
        if char == ".":
            return _Chars(_PRINTABLE)
        return _Chars(char)

    def _quantified(self, node: _Node) -> _Node:
        if self.pos >= len(self.text) or self.text[self.pos] not in "?*+{":
            return node
        mark = self.text[self.pos]
        self.pos += 1
        if mark != "{":
            low, high = {"?": (0, 1), "*": (0, 3), "+": (1, 3)}[mark]
            return _Repeat(node, low, high)
        end = self.text.index("}", self.pos)
        bounds = self.text[self.pos : end].split(",")
        self.pos = end + 1
        low = int(bounds[0] or 0)
        high = int(bounds[-1]) if bounds[-1] else low + 3
        return _Repeat(node, low, high)


def _expand_class(body: str) -> str:
    chars: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            chars.extend(_CLASS_ESCAPES.get(body[index + 1], body[index + 1]))
            index += 2
        elif index + 2 < len(body) and body[index + 1] == "-":
            chars.extend(chr(c) for c in range(ord(char), ord(body[index + 2]) + 1))
            index += 3
        else:
            chars.append(char)
            index += 1
    return "".join(chars)


def parse_instant(value: object) -> datetime | None:
    """An ISO 8601 instant (naive = UTC), or None if absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
