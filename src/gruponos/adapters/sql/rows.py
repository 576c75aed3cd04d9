"""A batch's records as rows of values in column order, the same for every dialect.

Both write paths start here: the prepared rows every dialect binds
(:meth:`~gruponos.adapters.sql.core.SqlSink._prepared`) and PostgreSQL's COPY text
(:mod:`~gruponos.adapters.sql.pgcopy`), so they read a record's values and its extra fields alike.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from gruponos.domain.records import NormalizedRecord
from gruponos.domain.schema import ColumnType

#: The one Python type each column type holds when normalization produced it.
USUAL_TYPE: dict[ColumnType, type] = {
    ColumnType.INTEGER: int,
    ColumnType.DECIMAL: Decimal,
    ColumnType.TEXT: str,
    ColumnType.TIMESTAMP: datetime,
    ColumnType.DATE: date,
    ColumnType.BOOLEAN: bool,
    ColumnType.JSON: str,
}
#: Integers whose decimal text ``str()`` still makes (CPython refuses more than 4,300 digits).
_STR_INT_BITS = 14_000


@dataclass(frozen=True, slots=True)
class BatchMeta:
    """The metadata columns every row of a batch shares (``GNOS_EXTRA`` is per record)."""

    loaded_at: datetime
    run_id: str
    generation: str | None


def value_rows(records: Sequence[NormalizedRecord], keys: Sequence[str]) -> list[tuple[Any, ...]]:
    """Each record's values in ``keys`` order; a missing key reads as ``None``."""
    values = [r.values for r in records]
    try:
        rows = list(map(operator.itemgetter(*keys), values))
    except KeyError:  # some record lacks a column
        return [tuple(map(v.get, keys)) for v in values]
    return rows if len(keys) > 1 else [(v,) for v in rows]


def int_text(value: int) -> str:
    """The decimal text of any integer, also of those too long for ``str()``."""
    if value.bit_length() < _STR_INT_BITS:
        return str(value)
    return str(Decimal(value))  # exact, and not subject to the integer-string limit


def json_default(value: object) -> str:
    return value.isoformat() if isinstance(value, (datetime, date)) else str(value)


def _jsonable(value: Any) -> Any:
    """``value`` with every integer too long for ``json.dumps`` as its decimal text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value.bit_length() < _STR_INT_BITS else int_text(value)
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def to_json(doc: Any, *, ensure_ascii: bool, sort_keys: bool = False) -> str:
    """JSON text of any record content: unknown types as their text, integers of any length."""
    try:
        return json.dumps(doc, default=json_default, ensure_ascii=ensure_ascii, sort_keys=sort_keys)
    except ValueError:  # an integer beyond str()'s limit, somewhere in the document
        doc = _jsonable(doc)
        return json.dumps(doc, default=json_default, ensure_ascii=ensure_ascii, sort_keys=sort_keys)


def extra_json(extra: Mapping[str, Any] | None) -> str | None:
    """``NormalizedRecord.extra`` as the JSON text of ``GNOS_EXTRA`` (``None`` when absent)."""
    if extra is None:
        return None
    return to_json(extra, ensure_ascii=False)
