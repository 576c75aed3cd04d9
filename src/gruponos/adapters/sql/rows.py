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
from typing import Any

from gruponos.domain.normalize import NormalizedRecord


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


def json_default(value: object) -> str:
    return value.isoformat() if isinstance(value, (datetime, date)) else str(value)


def extra_json(extra: Mapping[str, Any] | None) -> str | None:
    """``NormalizedRecord.extra`` as the JSON text of ``GNOS_EXTRA`` (``None`` when absent)."""
    if extra is None:
        return None
    return json.dumps(extra, default=json_default, ensure_ascii=False)
