"""Parsing of list query parameters: paging, ordering, fields, Django-style filters, cursors."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, urlencode

from gruponos.simulator.catalog import EntitySpec, FieldKind
from gruponos.simulator.data import to_us

RESERVED = frozenset({"page", "page_size", "page_mode", "cursor", "ordering", "fields", "format"})
LOOKUPS = frozenset(
    {
        "exact",
        "iexact",
        "gt",
        "gte",
        "lt",
        "lte",
        "in",
        "range",
        "isnull",
        "contains",
        "icontains",
        "startswith",
        "endswith",
    }
)
_TEXT_LOOKUPS = frozenset({"iexact", "contains", "icontains", "startswith", "endswith"})
_RELATION_SUBFIELDS = {"id": "id", "key": "key", "code": "key"}
INDEXED_ORDERINGS = ("id", "mod_ts", "create_ts")
_ORDERING_HELP = (
    "The simulator orders by id, mod_ts or create_ts, optionally followed by id in the same"
    " direction."
)


class QueryError(Exception):
    """A 400: ``details`` maps a parameter to its problems, as the API's error body does."""

    def __init__(self, details: dict[str, list[str]]) -> None:
        super().__init__(details)
        self.details = details


def last_values(query_string: str) -> dict[str, str]:
    """Query string -> {name: value}; only the last occurrence of a repeated name counts."""
    parsed = parse_qs(query_string, keep_blank_values=True)
    return {name: values[-1] for name, values in parsed.items()}


@dataclass(frozen=True, slots=True)
class Cursor:
    """A keyset position: the sort key of the last row served (or the first, when reversed)."""

    key: tuple[int, ...]
    reverse: bool = False

    def encode(self) -> str:
        raw = {"p": "_".join(str(k) for k in self.key)}
        if self.reverse:
            raw["r"] = "1"
        return base64.b64encode(urlencode(raw).encode()).decode()

    @classmethod
    def decode(cls, text: str, key_len: int) -> Cursor:
        try:
            raw = last_values(base64.b64decode(text.encode(), validate=True).decode())
            key = tuple(int(part) for part in raw["p"].split("_"))
        except (binascii.Error, UnicodeDecodeError, KeyError, ValueError):
            raise QueryError({"cursor": ["Invalid cursor."]}) from None
        if len(key) != key_len:
            raise QueryError({"cursor": ["Cursor does not match the ordering."]})
        return cls(key, raw.get("r") == "1")


@dataclass(frozen=True, slots=True)
class Filter:
    field: str
    kind: FieldKind
    lookup: str
    value: Any
    negate: bool = False
    subfield: str | None = None  # "id" or "key" of a relation

    def test(self, raw: Any) -> bool:
        return self._test(raw) != self.negate

    def _test(self, raw: Any) -> bool:
        lookup, want = self.lookup, self.value
        if lookup == "isnull":
            return bool((raw is None) == want)
        if raw is None:
            return False
        if lookup in _TEXT_LOOKUPS:
            got, text = str(raw).lower(), str(want).lower()
            if lookup == "iexact":
                return got == text
            if lookup == "startswith":
                return str(raw).startswith(str(want))
            if lookup == "endswith":
                return str(raw).endswith(str(want))
            return text in got if lookup == "icontains" else str(want) in str(raw)
        if lookup == "exact":
            return bool(raw == want)
        if lookup == "in":
            return raw in want
        if lookup == "range":
            return bool(want[0] <= raw <= want[1])
        if lookup == "gt":
            return bool(raw > want)
        if lookup == "gte":
            return bool(raw >= want)
        if lookup == "lt":
            return bool(raw < want)
        return bool(raw <= want)

    def bounds(self) -> tuple[int | None, int | None]:
        """Inclusive integer bounds this filter puts on its field (for index scans)."""
        v, lookup = self.value, self.lookup
        if self.negate or lookup not in ("exact", "gt", "gte", "lt", "lte", "range", "in"):
            return None, None
        if lookup == "in":
            return (min(v), max(v)) if v else (None, None)
        if lookup == "range":
            return v[0], v[1]
        if lookup == "exact":
            return v, v
        if lookup in ("gt", "gte"):
            return (v + 1 if lookup == "gt" else v), None
        return None, (v - 1 if lookup == "lt" else v)


@dataclass(frozen=True, slots=True)
class ListQuery:
    page_mode: str
    page_size: int
    page: int
    cursor: str | None
    order_field: str  # "id" or "mod_ts" (create_ts orders exactly like id)
    desc: bool
    fields: list[str] | None
    filters: list[Filter]
    params: dict[str, str] = field(default_factory=dict)

    def bounds(self, name: str) -> tuple[int | None, int | None]:
        lo: int | None = None
        hi: int | None = None
        for f in self.filters:
            if f.field == name and f.subfield is None:
                f_lo, f_hi = f.bounds()
                lo = f_lo if lo is None or (f_lo is not None and f_lo > lo) else lo
                hi = f_hi if hi is None or (f_hi is not None and f_hi < hi) else hi
        return lo, hi


def parse_list_query(
    params: dict[str, str],
    spec: EntitySpec,
    page_size_default: int,
    page_size_max: int,
    tz: timezone,
) -> ListQuery:
    errors: dict[str, list[str]] = {}
    mode = params.get("page_mode", "paged")
    if mode not in ("paged", "sequenced"):
        errors["page_mode"] = ["Must be 'paged' or 'sequenced'."]
    page_size = _int_param(params, "page_size", page_size_default, errors)
    if not 1 <= page_size <= page_size_max:
        errors["page_size"] = [f"Ensure this value is between 1 and {page_size_max}."]
    page = _int_param(params, "page", 1, errors)
    if page < 1:
        errors["page"] = ["Invalid page."]
    order_field, desc = _ordering(params.get("ordering", ""), spec, errors)
    fields = None
    if params.get("fields"):
        fields = [f for f in params["fields"].split(",") if f]
        unknown = [f for f in fields if f not in spec.by_name]
        if unknown:
            errors["fields"] = [f"Unknown field: {f}." for f in unknown]
    filters = []
    for name, raw in params.items():
        if name not in RESERVED:
            try:
                filters.append(parse_filter(name, raw, spec, tz))
            except QueryError as exc:
                errors.update(exc.details)
    if errors:
        raise QueryError(errors)
    return ListQuery(
        mode, page_size, page, params.get("cursor"), order_field, desc, fields, filters, params
    )


def _int_param(params: dict[str, str], name: str, default: int, errors: dict[str, Any]) -> int:
    try:
        return int(params.get(name, default))
    except ValueError:
        errors[name] = ["A valid integer is required."]
        return default


def _ordering(text: str, spec: EntitySpec, errors: dict[str, list[str]]) -> tuple[str, bool]:
    """The simulator orders by id, mod_ts or create_ts, with id as a same-direction tie-break."""
    terms = [t for t in text.split(",") if t]
    if not terms:
        return "id", False
    first = terms[0].lstrip("-")
    desc = terms[0].startswith("-")
    tail_ok = all(t == ("-id" if desc else "id") for t in terms[1:])
    if first not in spec.by_name:
        errors["ordering"] = [f"Unknown field: {first}."]
    elif first not in INDEXED_ORDERINGS or not tail_ok:
        errors["ordering"] = [_ORDERING_HELP]
    return ("mod_ts" if first == "mod_ts" else "id"), desc


def parse_filter(name: str, raw: str, spec: EntitySpec, tz: timezone) -> Filter:
    negate = name.endswith("!")
    parts = name.rstrip("!").split("__")
    base = spec.by_name.get(parts[0])
    if base is None or base.kind in (FieldKind.SET, FieldKind.URL):
        raise QueryError({name: [f"Unknown field: {parts[0]}."]})
    rest = parts[1:]
    subfield = None
    kind = base.kind
    if kind is FieldKind.RELATION and rest and rest[0] in _RELATION_SUBFIELDS:
        subfield = _RELATION_SUBFIELDS[rest.pop(0)]
        if subfield == "key":
            kind = FieldKind.VARCHAR
    lookup = rest.pop(0) if rest else "exact"
    if rest or lookup not in LOOKUPS:
        raise QueryError({name: [f"Unsupported lookup: {'__'.join(parts[1:])}."]})
    try:
        value = _filter_value(lookup, raw, kind, tz)
    except (ValueError, InvalidOperation):
        raise QueryError({name: [f"Invalid value: {raw!r}."]}) from None
    return Filter(parts[0], kind, lookup, value, negate, subfield)


def _filter_value(lookup: str, raw: str, kind: FieldKind, tz: timezone) -> Any:
    if lookup == "isnull":
        if raw.lower() not in ("true", "false", "1", "0"):
            raise ValueError(raw)
        return raw.lower() in ("true", "1")
    if lookup in _TEXT_LOOKUPS:
        return raw
    if lookup == "in":
        return frozenset(scalar(v, kind, tz) for v in raw.split(","))
    if lookup == "range":
        lo, hi = raw.split(",")
        return scalar(lo, kind, tz), scalar(hi, kind, tz)
    return scalar(raw, kind, tz)


def scalar(raw: str, kind: FieldKind, tz: timezone) -> Any:
    """A filter value in the comparable form :func:`comparable` gives a record's value."""
    if kind in (FieldKind.PK, FieldKind.INTEGER, FieldKind.RELATION):
        return int(raw)
    if kind is FieldKind.DECIMAL:
        return Decimal(raw)
    if kind is FieldKind.DATETIME:
        return to_us(parse_timestamp(raw, tz))
    if kind is FieldKind.DATE:
        return date.fromisoformat(raw).isoformat()
    if kind is FieldKind.BOOLEAN:
        if raw.lower() not in ("true", "false", "1", "0"):
            raise ValueError(raw)
        return raw.lower() in ("true", "1")
    return raw


def parse_timestamp(raw: str, tz: timezone) -> datetime:
    """ISO-8601, microseconds optional; no offset -> the facility time zone.

    A ``+hh:mm`` offset sent unencoded arrives as `` hh:mm``; it is read back as ``+``.
    """
    text = raw.strip()
    if len(raw) > 6 and raw[-6] == " " and raw[-3] == ":":
        text = raw[:-6] + "+" + raw[-5:]
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def comparable(value: Any, kind: FieldKind, subfield: str | None) -> Any:
    """A record's JSON value -> the form filters compare against."""
    if value is None:
        return None
    if kind is FieldKind.RELATION or subfield is not None:
        return value[subfield or "id"]
    if kind is FieldKind.DECIMAL:
        return Decimal(value)
    if kind is FieldKind.DATETIME:
        return to_us(datetime.fromisoformat(value))
    return value
