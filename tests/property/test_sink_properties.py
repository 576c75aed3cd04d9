"""Properties of the SQL sinks: whatever the order, duplication or crashes of batches, every id
ends at its newest version and the checkpoint at the newest committed position.

A "crash" is a failure injected between the writes and the commit (the connection's ``commit``
raises); the batch is then replayed, as a resumed run would.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.io import IOFailure, IOSuccess
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.sql import SqlBackend
from gruponos.adapters.sql.ddl import quote
from gruponos.adapters.sql.dialect import Dialect
from gruponos.adapters.sql.postgres import PostgresDialect
from gruponos.adapters.sql.sqlite import SqliteDialect
from gruponos.domain.batches import Batch
from gruponos.domain.checkpoints import Checkpoint, Position, StateKey, SyncMode
from gruponos.domain.records import NormalizedRecord
from gruponos.domain.schema import ColumnType, FieldType, SourceField, build_schema
from support.sqlsink import FailingConnection, pg_schema, query

T0 = datetime(2024, 3, 1, tzinfo=UTC)
_names = itertools.count()


@dataclass(frozen=True)
class Step:
    versions: tuple[tuple[int, int], ...]  # (id, version): mod_ts = T0 + version seconds
    crash: bool
    replay: bool  # after a crash, write the same batch again


steps = st.lists(
    st.builds(
        Step,
        st.lists(st.tuples(st.integers(1, 6), st.integers(0, 9)), max_size=8).map(tuple),
        st.booleans(),
        st.booleans(),
    ),
    min_size=1,
    max_size=8,
)


def record(rid: int, version: int) -> NormalizedRecord:
    ts = T0 + timedelta(seconds=version)
    return NormalizedRecord(rid, ts, {"ID": rid, "MOD_TS": ts, "STATUS_ID": version})


def run_property(backend: SqlBackend, conn: FailingConnection, plan: list[Step]) -> None:
    entity = f"prop_{next(_names)}"
    schema = build_schema(
        entity,
        [
            SourceField("id", FieldType.PK),
            SourceField("mod_ts", FieldType.DATETIME),
            SourceField("status_id", FieldType.INTEGER),
        ],
    ).unwrap()
    assert isinstance(backend.sink.prepare(schema), IOSuccess)
    key = StateKey("incremental", entity)
    newest: dict[int, int] = {}
    committed: Checkpoint | None = None
    for step in plan:
        base = committed or Checkpoint(SyncMode.INCREMENTAL)
        position = max(
            (Position(T0 + timedelta(seconds=v), i) for i, v in step.versions), default=None
        )
        checkpoint = base.advanced_to(position, None)
        records = tuple(record(i, v) for i, v in step.versions)
        batch = Batch(entity, "run", records, state_key=key, checkpoint=checkpoint)
        attempts = [step.crash, False] if step.crash and step.replay else [step.crash]
        for crash in attempts:
            conn.fail_commit = crash
            result = backend.sink.write(batch)
            conn.fail_commit = False
            if crash:
                assert isinstance(result, IOFailure)
                continue
            assert isinstance(result, IOSuccess)
            committed = checkpoint
            for i, v in step.versions:
                newest[i] = max(v, newest.get(i, v))
    snapshot = unsafe_perform_io(backend.sink.snapshot(entity).unwrap())
    assert snapshot == {i: T0 + timedelta(seconds=v) for i, v in newest.items()}
    assert unsafe_perform_io(backend.state.load(key).unwrap()) == committed
    with backend.db.mutex:
        cur = conn.cursor()
        table = backend.sink.table_name(entity)
        cur.execute(f'SELECT "ID", "STATUS_ID" FROM "{table}"')
        stored = dict(cur.fetchall())
        cur.close()
        conn.rollback()
    assert stored == newest  # the data, not only MOD_TS, is the newest version's


def open_failing(dialect: Dialect, error: type[Exception]) -> tuple[SqlBackend, FailingConnection]:
    conn = FailingConnection(dialect.connect(), error)
    return SqlBackend(dialect, conn, where="property test"), conn


@settings(max_examples=250, deadline=None)
@given(plan=steps)
def test_sqlite_converges_to_newest_versions_and_committed_checkpoint(plan: list[Step]) -> None:
    backend, conn = open_failing(SqliteDialect(":memory:"), sqlite3.OperationalError)
    try:
        run_property(backend, conn, plan)
    finally:
        backend.close()


@pytest.fixture(scope="module")
def pg_backend() -> Iterator[tuple[SqlBackend, FailingConnection]]:
    with pg_schema() as url:
        backend, conn = open_failing(PostgresDialect(url), psycopg.OperationalError)
        try:
            yield backend, conn
        finally:
            backend.close()


@pytest.mark.postgres
@settings(max_examples=60, deadline=None)
@given(plan=steps)
def test_postgres_converges_to_newest_versions_and_committed_checkpoint(
    pg_backend: tuple[SqlBackend, FailingConnection], plan: list[Step]
) -> None:
    backend, conn = pg_backend
    run_property(backend, conn, plan)


# -- any value, per column type: written exactly or quarantined with a reason ----------------------

_HUGE = 10**5000  # more digits than str() makes
_INT64 = (-(2**63), 2**63 - 1)
_OFFSETS = [UTC, timezone(timedelta(hours=-3)), timezone(timedelta(hours=23, minutes=59))]
_ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([_HUGE, -_HUGE, _INT64[0], _INT64[1], _INT64[1] + 1]),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from([Decimal("1E+70"), Decimal("-0"), Decimal("1E-30"), Decimal("sNaN")]),
    st.text(max_size=14),
    st.sampled_from(["a\x00b", "\udc80", "x\ud800y", "é"]),
    st.datetimes(timezones=st.sampled_from(_OFFSETS)),
    st.datetimes(),  # naive
    st.sampled_from([datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))]),
    st.dates(),
    st.floats(),
    st.lists(st.integers(), max_size=2),
    st.binary(max_size=3),
)
#: column -> (logical type, source field)
_COLUMNS = {
    "INT_V": (ColumnType.INTEGER, SourceField("int_v", FieldType.INTEGER)),
    "DEC_V": (ColumnType.DECIMAL, SourceField("dec_v", FieldType.DECIMAL)),
    "TXT_V": (ColumnType.TEXT, SourceField("txt_v", FieldType.VARCHAR, max_length=12)),
    "TS_V": (ColumnType.TIMESTAMP, SourceField("ts_v", FieldType.DATETIME)),
    "DT_V": (ColumnType.DATE, SourceField("dt_v", FieldType.DATE)),
    "FLG_V": (ColumnType.BOOLEAN, SourceField("flg_v", FieldType.BOOLEAN)),
    "JSON_V": (ColumnType.JSON, SourceField("json_v", FieldType.JSON)),
}
_ANY_SCHEMA = build_schema(
    "anyvalue",
    [
        SourceField("id", FieldType.PK),
        SourceField("mod_ts", FieldType.DATETIME),
        *(source for _, source in _COLUMNS.values()),
    ],
).unwrap()
_ids = itertools.count(1)
WRITE, REFUSE, EITHER = "write", "refuse", "either"


def _text_of(value: Any) -> str:
    return str(Decimal(value)) if type(value) is int else str(value)


def verdict(ctype: ColumnType, value: Any, *, postgres: bool) -> tuple[str, Any]:  # noqa: PLR0912 - one branch per type, as a spec reads
    """What a sink must do with ``value`` in a column of ``ctype``, and the value it must store:
    the specification, written independently of the sink's code."""
    kind = type(value)
    if value is None:
        return WRITE, None
    if kind is Decimal and not value.is_finite():
        return REFUSE, None  # NaN and infinities are no data, whatever the column
    if ctype is ColumnType.INTEGER:
        if kind is not int:
            return REFUSE, None
        return (WRITE, value) if _INT64[0] <= value <= _INT64[1] else (REFUSE, None)
    if ctype is ColumnType.DECIMAL:
        if kind is int:
            value, kind = Decimal(value), Decimal
        if kind is not Decimal or not value.is_finite():
            return REFUSE, None
        # NUMERIC keeps 131072 digits before the point and 16383 after
        beyond = value.adjusted() >= 131072 or value.as_tuple().exponent < -16383
        return (EITHER if postgres and beyond else WRITE), value
    if ctype in (ColumnType.TEXT, ColumnType.JSON):
        if kind not in (str, int, Decimal):
            return REFUSE, None
        text = _text_of(value)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return REFUSE, None
        too_long = ctype is ColumnType.TEXT and len(text) > 12
        return (EITHER if postgres and ("\x00" in text or too_long) else WRITE), text
    if ctype is ColumnType.TIMESTAMP:
        if kind is not datetime or value.utcoffset() is None:
            return REFUSE, None
        try:
            return WRITE, value.astimezone(UTC)
        except OverflowError:
            return REFUSE, None
    if ctype is ColumnType.DATE:
        return (WRITE, value) if kind is date else (REFUSE, None)
    return (WRITE, value) if kind is bool else (REFUSE, None)


def _read_back(dialect: str, ctype: ColumnType, stored: Any) -> Any:
    if stored is None or dialect == "postgresql":
        return stored  # psycopg returns int, Decimal, str, aware datetime, date, bool
    if ctype is ColumnType.DECIMAL:
        return Decimal(stored)
    if ctype is ColumnType.TIMESTAMP:
        return datetime.fromisoformat(stored)
    if ctype is ColumnType.DATE:
        return date.fromisoformat(stored)
    if ctype is ColumnType.BOOLEAN:
        return bool(stored)
    return stored


rows_of_any = st.lists(st.fixed_dictionaries(dict.fromkeys(_COLUMNS, _ANY)), min_size=1, max_size=5)


def run_any_values(backend: SqlBackend, rows: list[dict[str, Any]]) -> None:
    postgres = backend.db.dialect.name == "postgresql"
    records, verdicts = [], {}
    for values in rows:
        rid = next(_ids)
        mod_ts = T0 + timedelta(seconds=rid)
        records.append(NormalizedRecord(rid, mod_ts, {"ID": rid, "MOD_TS": mod_ts, **values}))
        verdicts[rid] = {
            c: verdict(t, values[c], postgres=postgres) for c, (t, _) in _COLUMNS.items()
        }
    result = backend.sink.write(Batch("anyvalue", "run-any", tuple(records)))
    assert isinstance(result, IOSuccess), result  # never a failed batch
    outcome = unsafe_perform_io(result.unwrap())
    assert outcome.written + outcome.quarantined == len(records)

    ids = [r.id for r in records]
    quarantined = {
        int(q["record_id"]): q["reason"]
        for q in unsafe_perform_io(backend.sink.quarantined("anyvalue", 1000).unwrap())
        if int(q["record_id"]) in ids
    }
    table = backend.sink.table_name("anyvalue")
    marks = ", ".join(backend.db.dialect.param(i) for i in range(len(ids)))
    stored = {
        row[0]: row[1:]
        for row in query(
            backend,
            f'SELECT "ID", {", ".join(quote(c) for c in _COLUMNS)} FROM "{table}"'
            f' WHERE "ID" IN ({marks})',
            tuple(ids),
        )
    }
    assert len(quarantined) == outcome.quarantined
    for rid in ids:
        kinds = {v[0] for v in verdicts[rid].values()}
        assert (rid in stored) != (rid in quarantined), "written or quarantined, exactly one"
        if REFUSE in kinds:
            assert rid in quarantined
        elif kinds == {WRITE}:
            assert rid in stored, quarantined.get(rid)
        if rid in quarantined:
            assert quarantined[rid], "a reason"
            continue
        for (column, (ctype, _)), value in zip(_COLUMNS.items(), stored[rid], strict=True):
            expected = verdicts[rid][column][1]
            assert _read_back(backend.db.dialect.name, ctype, value) == expected, column


@pytest.fixture(scope="module")
def any_sqlite() -> Iterator[SqlBackend]:
    dialect = SqliteDialect(":memory:")
    backend = SqlBackend(dialect, dialect.connect(), where="property test")
    assert isinstance(backend.sink.prepare(_ANY_SCHEMA), IOSuccess)
    yield backend
    backend.close()


@settings(max_examples=200, deadline=None)
@given(rows=rows_of_any)
def test_sqlite_writes_any_value_exactly_or_quarantines_it(
    any_sqlite: SqlBackend, rows: list[dict[str, Any]]
) -> None:
    run_any_values(any_sqlite, rows)


@pytest.fixture(scope="module", params=["bulk", "prepared"])
def any_postgres(request: pytest.FixtureRequest) -> Iterator[SqlBackend]:
    with pg_schema() as url:
        dialect = PostgresDialect(url)
        # history tables take the prepared rows: COPY write_row, then row by row
        backend = SqlBackend(
            dialect, dialect.connect(), where="property test", history=request.param == "prepared"
        )
        assert isinstance(backend.sink.prepare(_ANY_SCHEMA), IOSuccess)
        try:
            yield backend
        finally:
            backend.close()


@pytest.mark.postgres
@settings(max_examples=60, deadline=None)
@given(rows=rows_of_any)
def test_postgres_writes_any_value_exactly_or_quarantines_it(
    any_postgres: SqlBackend, rows: list[dict[str, Any]]
) -> None:
    run_any_values(any_postgres, rows)
