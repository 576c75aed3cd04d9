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

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from returns.pipeline import is_successful
from returns.result import Failure, Result, Success

from gruponos.domain.errors import FieldProblem, RecordRejected
from gruponos.domain.fastpath import compile_fast_path
from gruponos.domain.naming import sql_identifier
from gruponos.domain.pages import JsonRecords, compile_page_decoder
from gruponos.domain.records import (
    ID_COLUMN,
    MOD_TS_COLUMN,
    NormalizedRecord,
    NormalizeOptions,
    Row,
    Value,
)
from gruponos.domain.schema import PRIMARY_KEY, EntitySchema, FieldType, SourceField, relation_base
from gruponos.domain.values import (
    InvalidValue,
    split_relation,
    to_bool,
    to_date,
    to_decimal,
    to_int,
    to_json_text,
    to_text,
    to_utc_instant,
)

__all__ = ["NormalizeOptions", "NormalizedRecord", "RecordNormalizer"]


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
            raise InvalidValue("too_long", f"{len(text)} characters, the field allows {max_length}")
        row[column] = text or None  # empty text is NULL on every sink (data semantics)

    return step


def _skip(value: Any, row: Row) -> None:
    """``*_set`` links are not loaded: children are their own entities."""


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
        self._fast = compile_fast_path(schema, self.options)
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
            except InvalidValue as invalid:
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
