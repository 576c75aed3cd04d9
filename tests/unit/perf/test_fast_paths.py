"""The fast paths agree with the per-value paths they stand in for."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gruponos.adapters.sql.dialect import Dialect
from gruponos.adapters.sql.postgres import PostgresDialect
from gruponos.adapters.sql.sqlite import MEMORY, SqliteDialect
from gruponos.domain.normalize import RecordNormalizer
from gruponos.domain.schema import ColumnType
from support.records import allocation, allocation_schema

_NORMALIZER = RecordNormalizer(allocation_schema())

_ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["540", "-1", "1E+3", "NaN", "Infinity", " 7 ", "12,5", "\ud800"]),
    st.sampled_from(
        ["2020-11-20T11:57:14.489559-03:00", "2020-11-20T11:57:14Z", "2020-11-20T11:57:14", "x"]
    ),
    st.dictionaries(st.sampled_from(["id", "key", "url"]), st.integers() | st.text(max_size=5)),
    st.lists(st.integers(), max_size=2),
)


@given(st.dictionaries(st.sampled_from(sorted(allocation(1))), _ANY_VALUE, max_size=4))
def test_the_generated_normalizer_agrees_with_the_plan(changes: dict[str, Any]) -> None:
    raw = {**allocation(3), **changes}
    planned = _NORMALIZER._planned(raw)
    fast = _NORMALIZER._fast(raw)
    if fast is not None:
        assert planned.unwrap() == fast
    outcome = _NORMALIZER.normalize_many([raw])[0]
    expected = planned.value_or(None) or planned.failure()
    assert outcome == expected


_COLUMN_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.text(max_size=8),
    st.sampled_from([Decimal("1.50"), Decimal("1E+70"), Decimal("NaN"), Decimal("-0")]),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3))])),
    st.datetimes(),
    st.dates(),
    st.sampled_from(["\ud800", "ok"]),
)


def _per_value(
    dialect: Dialect, ctype: ColumnType, values: list[Any]
) -> tuple[list[Any], dict[int, str]]:
    out: list[Any] = []
    unfit: dict[int, str] = {}
    for i, v in enumerate(values):
        if v is None:
            out.append(None)
        elif why := dialect.unfit_reason(ctype, v):
            unfit[i] = why
            out.append(None)
        else:
            try:
                out.append(dialect.to_db(ctype, v))
            except ValueError:
                out.append(ValueError)
    return out, unfit


@given(
    st.sampled_from(list(ColumnType)),
    st.lists(_COLUMN_VALUE, max_size=6),
    st.sampled_from([SqliteDialect(MEMORY), PostgresDialect("")]),
)
def test_bind_column_agrees_with_to_db_and_unfit_reason(
    ctype: ColumnType, values: list[Any], dialect: Dialect
) -> None:
    expected = _per_value(dialect, ctype, values)
    if ValueError in expected[0]:
        return  # naive timestamps: both paths raise (checked by the sink tests)
    converted, unfit = dialect.bind_column(ctype, values)
    assert (list(converted), unfit) == expected
    assert [type(v) for v in converted] == [type(v) for v in expected[0]]


def test_a_date_column_binds_as_iso_text_on_sqlite() -> None:
    dialect = SqliteDialect(MEMORY)
    assert dialect.bind_column(ColumnType.DATE, [date(2024, 1, 2), None]) == (
        ["2024-01-02", None],
        {},
    )
    stamp = datetime(2024, 1, 2, 3, tzinfo=timezone(timedelta(hours=-3)))
    assert dialect.bind_column(ColumnType.TIMESTAMP, [stamp])[0] == [
        "2024-01-02T06:00:00.000000+00:00"
    ]
