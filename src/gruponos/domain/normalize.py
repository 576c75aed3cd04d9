"""Record normalization: raw API records to typed rows, in pure functions.

- relations ``{"id", "key", "url"}`` named ``<base>_id`` become ``<base>_id`` (int) and
  ``<base>_key`` (text); ``url`` is dropped; ``null`` stays null; a bare integer is accepted as the id;
- decimals (strings) become exact :class:`~decimal.Decimal` values;
- timestamps with an offset become UTC instants (the instant is kept, never shifted);
- ``*_flg`` booleans stay booleans; lists and objects become JSON text; ``*_set`` links are dropped;
- fields the schema does not know are kept in :attr:`NormalizedRecord.extra`, never dropped.

A :class:`RecordNormalizer` compiles the schema twice: into a plan of steps that reports every
problem of a record, and into one generated function (the fast path) that converts a well-formed
record without a call per field. The fast path gives up on anything unusual (a missing or unknown
field, a value of an unexpected type, a value out of bounds) and the plan then decides, so both
paths always agree and every rejection carries the plan's reasons.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import msgspec
from returns.pipeline import is_successful
from returns.result import Failure, Result, Success

from gruponos.domain.errors import FieldProblem, RecordRejected
from gruponos.domain.naming import sql_identifier
from gruponos.domain.pages import JsonRecords, compile_page_decoder
from gruponos.domain.schema import (
    PRIMARY_KEY,
    REPLICATION_KEY,
    EntitySchema,
    FieldType,
    SourceField,
    relation_base,
)

ID_COLUMN: Final = sql_identifier(PRIMARY_KEY)
MOD_TS_COLUMN: Final = sql_identifier(REPLICATION_KEY)

Value = int | Decimal | str | datetime | date | bool | None
Row = dict[str, Value]


class _Invalid(Exception):  # noqa: N818 - internal control flow inside the plan, never escapes
    """Raised by a converter; turned into a FieldProblem by the normalizer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NormalizedRecord(msgspec.Struct, frozen=True, gc=False):
    """A record ready for the sink: ``values`` keyed by column, plus unknown ``extra`` fields.

    An immutable msgspec struct rather than a frozen dataclass: one is built per record, and a
    struct is built several times faster (it holds no reference back to itself, so the garbage
    collector need not track it).
    """

    id: int
    mod_ts: datetime
    values: Row
    extra: Mapping[str, Any] | None = None


def to_int(value: Any) -> int:
    """An integer from a JSON number or an integral decimal string; ``bool`` is not an integer."""
    if isinstance(value, bool):
        raise _Invalid("type", f"expected an integer, got boolean {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        dec = to_decimal(value)
        if dec == dec.to_integral_value():
            return int(dec)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _Invalid("type", f"expected an integer, got {_show(value)}")


def to_decimal(value: Any) -> Decimal:
    """An exact decimal from a string (as the API sends) or a JSON number; no NaN or infinity."""
    if isinstance(value, bool):
        raise _Invalid("type", f"expected a decimal, got boolean {value!r}")
    if isinstance(value, (int, str)):
        try:
            result = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise _Invalid("decimal", f"not a decimal number: {_show(value)}") from None
    elif isinstance(value, float):
        result = Decimal(repr(value))  # the shortest repr is what the sender meant
    else:
        raise _Invalid("type", f"expected a decimal, got {_show(value)}")
    if not result.is_finite():
        raise _Invalid("decimal", f"not a finite decimal: {_show(value)}")
    return result


_ISO_Z = re.compile(r"[zZ]$")


def to_utc_instant(value: Any, default_tz: tzinfo | None = None) -> datetime:
    """A UTC instant from an ISO-8601 timestamp with an offset (``...-03:00`` -> ``...Z``).

    A timestamp without an offset is only accepted when ``default_tz`` says how to read it.
    """
    if not isinstance(value, str):
        raise _Invalid("type", f"expected an ISO-8601 timestamp string, got {_show(value)}")
    try:
        parsed = datetime.fromisoformat(_ISO_Z.sub("+00:00", value.strip()))
    except ValueError:
        raise _Invalid("timestamp", f"not an ISO-8601 timestamp: {_show(value)}") from None
    if parsed.tzinfo is None:
        if default_tz is None:
            raise _Invalid("timestamp", f"timestamp has no UTC offset: {_show(value)}")
        parsed = parsed.replace(tzinfo=default_tz)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+02:00 is before the first UTC instant
        raise _Invalid("timestamp", f"outside the years 1-9999 in UTC: {_show(value)}") from None


def to_date(value: Any) -> date:
    if not isinstance(value, str):
        raise _Invalid("type", f"expected a YYYY-MM-DD date string, got {_show(value)}")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise _Invalid("date", f"not a YYYY-MM-DD date: {_show(value)}") from None


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _Invalid("type", f"expected a boolean, got {_show(value)}")


def to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return str(value)
    raise _Invalid("type", f"expected text, got {_show(value)}")


def to_json_text(value: Any) -> str:
    """Lists and objects as canonical JSON text (sorted keys, exact decimals kept as written)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def split_relation(value: Any) -> tuple[int | None, str | None]:
    """``{"id": 1, "key": "R", "url": ...}`` -> ``(1, "R")``; ``None`` -> ``(None, None)``."""
    if value is None:
        return None, None
    if isinstance(value, Mapping):
        rid = value.get("id")
        key = value.get("key")
        return (
            None if rid is None else to_int(rid),
            None if key is None else to_text(key),
        )
    if isinstance(value, int) and not isinstance(value, bool):
        return value, None
    raise _Invalid("relation", f"expected a relation object {{id, key, url}}, got {_show(value)}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# A plan step reads one source field and writes one or two columns of the row.
_Step = Callable[[Any, Row], None]


def _scalar_step(column: str, convert: Callable[[Any], Value]) -> _Step:
    def step(value: Any, row: Row) -> None:
        row[column] = None if value is None else convert(value)

    return step


def _relation_step(id_column: str, key_column: str) -> _Step:
    def step(value: Any, row: Row) -> None:
        row[id_column], row[key_column] = split_relation(value)

    return step


def _text_step(column: str, max_length: int | None) -> _Step:
    def step(value: Any, row: Row) -> None:
        if value is None:
            row[column] = None
            return
        text = to_text(value)
        if max_length is not None and len(text) > max_length:
            raise _Invalid("too_long", f"{len(text)} characters, the field allows {max_length}")
        row[column] = text

    return step


def _skip(value: Any, row: Row) -> None:
    """``*_set`` links are not loaded: children are their own entities."""


# -- the fast path: one generated function per schema -------------------------------------------
#
# The generated source only ever contains names of the form ``k3``/``c3``/``fn3`` (an index) and
# fixed text: field and column names are passed in as values, never pasted into code, so a hostile
# describe cannot inject anything. The function returns ``None`` whenever the plan must decide.


def _fast_lines(i: int, field: SourceField, options: NormalizeOptions) -> list[str]:
    none = "return None" if field.mandatory else f"row[c{i}] = None"
    head = [f"v = raw[k{i}]", "if v is None:", f"    {none}"]
    non_negative = field.name.endswith(options.non_negative_suffixes)
    match field.type:
        case FieldType.SET:
            return []
        case FieldType.RELATION:
            none = "return None" if field.mandatory else f"row[c{i}] = row[d{i}] = None"
            return [
                f"v = raw[k{i}]",
                "if v is None:",
                f"    {none}",
                "elif type(v) is dict:",
                "    r = v.get('id'); s = v.get('key')",
                "    if (r is None or type(r) is int) and (s is None or type(s) is str):",
                f"        row[c{i}] = r; row[d{i}] = s",
                "    else:",
                "        return None",
                "elif type(v) is int:",
                f"    row[c{i}] = v; row[d{i}] = None",
                "else:",
                "    return None",
            ]
        case FieldType.VARCHAR:
            bound = "" if field.max_length is None else f" and len(v) <= {int(field.max_length)}"
            return [
                *head,
                f"elif type(v) is str{bound}:",
                f"    row[c{i}] = v",
                "else:",
                "    return None",
            ]
        case FieldType.PK | FieldType.INTEGER:
            sign = " and v >= 0" if non_negative else ""
            return [
                *head,
                f"elif type(v) is int{sign}:",
                f"    row[c{i}] = v",
                "else:",
                "    return None",
            ]
        case FieldType.DECIMAL:
            sign = " or d < 0" if non_negative else ""
            return [
                *head,
                "elif type(v) is str or type(v) is int:",
                "    d = Decimal(v)",
                f"    if not d.is_finite(){sign}:",
                "        return None",
                f"    row[c{i}] = d",
                "else:",
                "    return None",
            ]
        case FieldType.DATETIME:
            # 'Z' suffixes and naive values go to the plan (it decides how to read them).
            return [
                *head,
                "elif type(v) is str and v[-1:] not in 'zZ':",
                "    d = fromisoformat(v)",
                "    if d.tzinfo is None:",
                "        return None",
                f"    row[c{i}] = d.astimezone(UTC)",
                "else:",
                "    return None",
            ]
        case FieldType.BOOLEAN:
            return [
                *head,
                "elif type(v) is bool:",
                f"    row[c{i}] = v",
                "else:",
                "    return None",
            ]
        case FieldType.DATE | FieldType.JSON:  # pragma: no branch - exhaustive over FieldType
            return [*head, "else:", f"    row[c{i}] = fn{i}(v)"]


_FastPath = Callable[[Any], "NormalizedRecord | None"]


def _compile_fast_path(schema: EntitySchema, options: NormalizeOptions) -> _FastPath:
    names = frozenset(f.name for f in schema.fields)
    accepted = [names] if "url" in names else [names, names | {"url"}]
    env: dict[str, Any] = {
        "Decimal": Decimal,
        "UTC": UTC,
        "fromisoformat": datetime.fromisoformat,
        "NormalizedRecord": NormalizedRecord,
        "ACCEPTED": tuple(accepted),
        "ID": ID_COLUMN,
        "MOD_TS": MOD_TS_COLUMN,
    }
    body = [
        "def fast(raw):",
        "  if type(raw) is not dict:",
        "    return None",
        "  keys = raw.keys()",
        "  if not any(keys == a for a in ACCEPTED):",
        "    return None",
        "  row = {}",
        "  try:",
    ]
    for i, field in enumerate(schema.fields):
        env[f"k{i}"] = field.name
        env[f"c{i}"] = sql_identifier(field.name)
        env[f"d{i}"] = sql_identifier(f"{relation_base(field.name)}_key")
        env[f"fn{i}"] = to_date if field.type is FieldType.DATE else to_json_text
        body += ["    " + line for line in _fast_lines(i, field, options)]
    body += [
        "  except Exception:",  # the plan reproduces the failure with its reason
        "    return None",
        "  rid = row[ID]; ts = row[MOD_TS]",
        "  if type(rid) is not int or ts is None:",
        "    return None",
        "  return NormalizedRecord(rid, ts, row, None)",
    ]
    exec(compile("\n".join(body), f"<normalizer {schema.entity!r}>", "exec"), env)  # noqa: S102
    fast: _FastPath = env["fast"]
    return fast


@dataclass(frozen=True, slots=True)
class NormalizeOptions:
    """How to read values the API leaves ambiguous."""

    #: Time zone for timestamps without an offset; ``None`` rejects them (the API always sends one).
    default_tz: tzinfo | None = None
    #: Fields whose value must not be negative (quantities).
    non_negative_suffixes: tuple[str, ...] = ("_qty",)


class RecordNormalizer:
    """Normalizes and validates raw records of one entity against its schema.

    >>> from gruponos.domain.schema import SourceField, FieldType, build_schema
    >>> schema = build_schema("allocation", [SourceField("id", FieldType.PK),
    ...     SourceField("mod_ts", FieldType.DATETIME),
    ...     SourceField("alloc_qty", FieldType.DECIMAL)]).unwrap()
    >>> rec = RecordNormalizer(schema).normalize(
    ...     {"id": 2, "mod_ts": "2020-11-20T11:57:14.489559-03:00", "alloc_qty": "540"}).unwrap()
    >>> rec.values["ALLOC_QTY"], rec.mod_ts.isoformat()
    (Decimal('540'), '2020-11-20T14:57:14.489559+00:00')
    """

    def __init__(self, schema: EntitySchema, options: NormalizeOptions | None = None) -> None:
        self.schema = schema
        self.options = options or NormalizeOptions()
        self._steps: dict[str, _Step] = {f.name: self._step_for(f) for f in schema.fields}
        self._mandatory: tuple[str, ...] = tuple(f.name for f in schema.fields if f.mandatory)
        # describe's "required" fields: a null there is counted (data quality), never rejected.
        self._required_columns: tuple[tuple[str, str], ...] = tuple(
            (f.name, sql_identifier(f.name))
            for f in schema.fields
            if f.required and not f.mandatory and f.type is not FieldType.SET
        )
        self._non_negative: tuple[tuple[str, str], ...] = tuple(
            (f.name, sql_identifier(f.name))
            for f in schema.fields
            if f.type in (FieldType.DECIMAL, FieldType.INTEGER)
            and f.name.endswith(self.options.non_negative_suffixes)
        )
        self._fast = _compile_fast_path(schema, self.options)
        self._page_decoder = compile_page_decoder(schema, self.options)

    def _step_for(self, field: SourceField) -> _Step:
        column = sql_identifier(field.name)
        tz = self.options.default_tz
        match field.type:
            case FieldType.RELATION:
                return _relation_step(column, sql_identifier(f"{relation_base(field.name)}_key"))
            case FieldType.SET:
                return _skip
            case FieldType.VARCHAR:
                return _text_step(column, field.max_length)
            case FieldType.PK | FieldType.INTEGER:
                return _scalar_step(column, to_int)
            case FieldType.DECIMAL:
                return _scalar_step(column, to_decimal)
            case FieldType.DATETIME:
                return _scalar_step(column, lambda v: to_utc_instant(v, tz))
            case FieldType.DATE:
                return _scalar_step(column, to_date)
            case FieldType.BOOLEAN:
                return _scalar_step(column, to_bool)
            case FieldType.JSON:  # pragma: no branch - exhaustive over FieldType
                return _scalar_step(column, to_json_text)

    def normalize(self, raw: Any) -> Result[NormalizedRecord, RecordRejected]:
        """Normalize one record; every problem of the record is reported, not just the first."""
        record = self._fast(raw)
        return Success(record) if record is not None else self._planned(raw)

    def normalize_many(self, raws: Iterable[Any]) -> list[NormalizedRecord | RecordRejected]:
        """Normalize a page: one outcome per raw record, in order.

        Same outcomes as :meth:`normalize`, without a ``Result`` per record.
        """
        fast, planned = self._fast, self._planned
        out: list[NormalizedRecord | RecordRejected] = []
        for raw in raws:
            record = fast(raw)
            if record is None:
                result = planned(raw)
                out.append(result.unwrap() if is_successful(result) else result.failure())
            else:
                out.append(record)
        return out

    def normalize_page(self, records: Sequence[Any]) -> list[NormalizedRecord | RecordRejected]:
        """Normalize a page: one outcome per record, in order, as :meth:`normalize_many`.

        A page still in JSON text (:class:`~gruponos.domain.pages.JsonRecords`) is decoded and
        validated in one compiled call when every record is well-formed; otherwise, and for
        pages of dicts, record by record.
        """
        if type(records) is JsonRecords:
            outcomes = self._page_decoder(records.raw)
            if outcomes is not None:
                records.remember_count(len(outcomes))
                return outcomes
        return self.normalize_many(records)

    def required_nulls(
        self, outcomes: Sequence[NormalizedRecord | RecordRejected]
    ) -> dict[str, int]:
        """Per field that describe calls required: how many of the loaded ``outcomes`` hold
        null there (absent counts as null). Fields without a null are left out."""
        counts: dict[str, int] = {}
        if not self._required_columns:
            return counts
        rows = [o.values for o in outcomes if type(o) is NormalizedRecord]
        for name, column in self._required_columns:
            nulls = sum(1 for row in rows if row.get(column) is None)
            if nulls:
                counts[name] = nulls
        return counts

    def _planned(self, raw: Any) -> Result[NormalizedRecord, RecordRejected]:
        if not isinstance(raw, Mapping):
            return Failure(self._rejected([FieldProblem("<record>", "type", "not a JSON object")]))
        row: Row = {}
        problems: list[FieldProblem] = []
        extra: dict[str, Any] | None = None
        steps = self._steps
        for name, value in raw.items():
            step = steps.get(name)
            if step is None:
                if name != "url":  # the record's own URL is derivable and not loaded
                    extra = extra or {}
                    extra[name] = value
                continue
            try:
                step(value, row)
            except _Invalid as invalid:
                problems.append(FieldProblem(name, invalid.code, invalid.message))
        for name in self._mandatory:
            if raw.get(name) is None and not any(p.field == name for p in problems):
                problems.append(FieldProblem(name, "required", "required field is missing"))
        for name, column in self._non_negative:
            number = row.get(column)
            if isinstance(number, (int, Decimal)) and number < 0:
                problems.append(FieldProblem(name, "negative", f"must not be negative: {number}"))
        if problems:
            return Failure(self._rejected(problems, raw.get(PRIMARY_KEY)))
        record_id = row[ID_COLUMN]
        mod_ts = row[MOD_TS_COLUMN]
        if not isinstance(record_id, int) or not isinstance(mod_ts, datetime):  # pragma: no cover
            raise TypeError("id and mod_ts are required fields of every schema")
        return Success(NormalizedRecord(record_id, mod_ts, row, extra))

    def _rejected(self, problems: list[FieldProblem], record_id: Any = None) -> RecordRejected:
        context: dict[str, Any] = {"entity": self.schema.entity}
        if record_id is not None:
            context["id"] = record_id
        return RecordRejected(
            "record.invalid",
            f"{len(problems)} invalid field(s)",
            context,
            problems=tuple(problems),
        )
