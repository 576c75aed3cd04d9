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
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.io import IOFailure, IOSuccess
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.sql import SqlBackend
from gruponos.adapters.sql.dialect import Dialect
from gruponos.adapters.sql.postgres import PostgresDialect
from gruponos.adapters.sql.sqlite import SqliteDialect
from gruponos.domain.normalize import NormalizedRecord
from gruponos.domain.schema import FieldType, SourceField, build_schema
from gruponos.domain.sync import Batch, Checkpoint, Position, StateKey, SyncMode
from support.sqlsink import FailingConnection, pg_schema

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
