"""A batch as PostgreSQL ``COPY`` text, formatted by one generated function per table layout.

The text is what psycopg's ``Copy.write_row`` would send for the prepared rows of the same batch
(``str()`` of each value, ``t``/``f``, ``\\N`` for null), except timestamps: those go as whole
microseconds since the epoch (:func:`epoch_micros`, exact and five times cheaper than their text)
into a ``BIGINT`` column of the stage, and the upsert turns them back into instants
(:func:`epoch_sql`). So the stored rows are the same; it costs one f-string per row instead of a
dumper call per value. :func:`copy_text` gives up (``None``)
whenever it cannot guarantee that sameness, and the caller then takes the prepared-row path:

- a value whose Python type is not its column's usual type (a ``bool`` or ``str`` in an integer
  column, a ``float`` in a decimal column ...), which the prepared path converts or refuses;
- a non-finite decimal (``NUMERIC`` would store ``NaN``; the prepared path quarantines it);
- an integer outside 64 bits (``BIGINT`` refuses it; the prepared path finds the row);
- a NUL character (PostgreSQL text cannot hold it) or a lone surrogate (no UTF-8 for it).

Backslash, tab, newline and carriage return are escaped as ``COPY`` requires, only in the columns
of the batch that contain one (found with one scan of the column's joined text).

The generated source holds only names like ``v3`` and fixed text: column names never enter it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from gruponos.adapters.sql.ddl import TableSpec
from gruponos.adapters.sql.dialect import all_instants
from gruponos.adapters.sql.rows import USUAL_TYPE, BatchMeta, extra_json, value_rows
from gruponos.domain.records import NormalizedRecord
from gruponos.domain.schema import ColumnType

NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_INT64 = (-(2**63), 2**63 - 1)
_NONE = type(None)
# rows of data values, their GNOS_EXTRA texts, and the metadata fields all rows share -> COPY text
_Formatter = Callable[[Iterable[tuple[Any, ...]], Sequence[str | None], str], str]


def checked_column(kind: type, column: Sequence[Any]) -> Sequence[Any] | None:
    """``column`` ready to format (text escaped where needed), or ``None``: not guaranteed."""
    kinds = set(map(type, column))
    has_null = _NONE in kinds
    kinds.discard(_NONE)
    if not kinds:
        return column
    if kinds != {kind}:
        return None
    # filter(None, ...) skips nulls at C speed; the falsy values it also skips (0, "", a zero
    # decimal) cannot fail these checks.
    if kind is str:
        joined = "".join(filter(None, column))
        if "\x00" in joined:
            return None
        if "\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined:
            return [None if v is None else v.translate(_ESCAPES) for v in column]
    elif kind is int:
        numbers = list(filter(None, column)) if has_null else column
        if numbers and (min(numbers) < _INT64[0] or max(numbers) > _INT64[1]):
            return None
    elif (kind is Decimal and not all(map(Decimal.is_finite, filter(None, column)))) or (
        kind is datetime and not all_instants(column)
    ):
        return None
    return column


def _field(index: int, ctype: ColumnType) -> str:
    if ctype is ColumnType.BOOLEAN:
        return f"{{B[v{index}]}}"
    if ctype is ColumnType.TIMESTAMP:  # microseconds since the epoch: see epoch_micros
        return f"{{N if v{index} is None else (v{index} - E) // US}}"
    return f"{{N if v{index} is None else v{index}!s}}"


def epoch_sql(column_sql: str) -> str:
    """SQL turning a ``BIGINT`` of microseconds since the epoch back into a ``TIMESTAMPTZ``,
    exactly over Python's whole range (years 1 to 9999): whole seconds and the remaining
    microseconds are added as two intervals, each product exact in ``float8``."""
    return (
        f"(TIMESTAMPTZ 'epoch' + ({column_sql} / 1000000) * INTERVAL '1 second'"
        f" + ({column_sql} % 1000000) * INTERVAL '1 microsecond')"
    )


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def epoch_micros(value: datetime) -> int:
    """An aware timestamp as whole microseconds since 1970-01-01 UTC: exact, and five times
    cheaper to format than the timestamp's text (``TypeError`` for a naive one)."""
    return (value - EPOCH) // MICROSECOND


def _compile(types: Sequence[ColumnType]) -> _Formatter:
    # Before Python 3.12 an f-string's braces cannot hold a backslash: NULL is bound as ``N``.
    names = "".join(f"v{i}, " for i in range(len(types)))
    fields = [_field(i, t) for i, t in enumerate(types)]
    line = "\\t".join([*fields, "{meta}", "{N if x is None else x}"]) + "\\n"
    source = (
        "def format_rows(rows, extras, meta):\n"
        f"    return ''.join([f'{line}' for ({names}), x in zip(rows, extras)])\n"
    )
    env: dict[str, Any] = {
        "N": NULL,
        "B": {None: NULL, True: "t", False: "f"},
        "E": EPOCH,
        "US": MICROSECOND,
    }
    exec(compile(source, "<pgcopy>", "exec"), env)  # noqa: S102 - generated from indexes only
    formatter: _Formatter = env["format_rows"]
    return formatter


@dataclass(frozen=True, slots=True)
class CopyLayout:
    """How one :class:`TableSpec` is written as COPY text, in :attr:`TableSpec.bound_names` order."""

    keys: tuple[str, ...]
    kinds: tuple[type, ...]
    format_rows: _Formatter


@functools.lru_cache(maxsize=64)
def copy_layout(spec: TableSpec) -> CopyLayout:
    types = [c.type for c in spec.columns]
    return CopyLayout(spec.value_keys, tuple(USUAL_TYPE[t] for t in types), _compile(types))


def copy_text(
    spec: TableSpec, records: Sequence[NormalizedRecord], meta: BatchMeta
) -> bytes | None:
    """The records as UTF-8 COPY text of ``spec.bound_names``; ``None`` when not guaranteed to
    store what the prepared rows would (see the module's docstring)."""
    if not records:
        return None
    layout = copy_layout(spec)
    rows: Iterable[tuple[Any, ...]] = value_rows(records, layout.keys)
    columns: list[Sequence[Any]] = [*zip(*rows, strict=True)]
    escaped = False
    for index, kind in enumerate(layout.kinds):
        ready = checked_column(kind, columns[index])
        if ready is None:
            return None
        if ready is not columns[index]:
            columns[index], escaped = ready, True
    if escaped:
        rows = zip(*columns, strict=True)
    extras = [None if r.extra is None else extra_json(r.extra) for r in records]
    ready_extras = checked_column(str, extras)
    if ready_extras is None:
        return None
    shared = _shared_fields(meta)
    if shared is None:
        return None
    try:
        text = layout.format_rows(rows, ready_extras, shared)
    except TypeError:  # a naive timestamp has no instant: the prepared path decides
        return None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate somewhere: the prepared path names the record
        return None


def _shared_fields(meta: BatchMeta) -> str | None:
    """The metadata fields every row of the batch shares, tab-separated (``None``: unfit)."""
    fields: list[str] = []
    for kind, value in ((datetime, meta.loaded_at), (str, meta.run_id), (str, meta.generation)):
        ready = checked_column(kind, [value])
        if ready is None:
            return None
        shared = ready[0]
        if shared is None:
            fields.append(NULL)
        elif isinstance(shared, datetime):
            if shared.tzinfo is None:
                return None
            fields.append(str(epoch_micros(shared)))
        else:
            fields.append(str(shared))
    return "\t".join(fields)
