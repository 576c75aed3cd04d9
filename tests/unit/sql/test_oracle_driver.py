"""The Oracle sink's driver contract, against a recording fake of python-oracledb.

Not a live Oracle test: it proves which calls are made, in which order, with which bind types
(``setinputsizes``), that batches use ``executemany(..., batcherrors=True)``, that refused rows are
quarantined while the rest commits, and where the commits are.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import oracledb
import pytest
from returns.io import IOFailure, IOSuccess
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.sql import SqlBackend
from gruponos.domain.batches import Batch, WriteOutcome
from gruponos.domain.checkpoints import Checkpoint, Position, StateKey, SyncMode
from gruponos.domain.records import NormalizedRecord, Row
from gruponos.domain.schema import FieldType, SourceField, build_schema
from support.oracle_fake import FakeOracle, RecordingConnection, oracle_dialect

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
SCHEMA = build_schema(
    "item",
    [
        SourceField("id", FieldType.PK),
        SourceField("mod_ts", FieldType.DATETIME),
        SourceField("code", FieldType.VARCHAR, max_length=5),
        SourceField("qty", FieldType.DECIMAL),
        SourceField("rush_flg", FieldType.BOOLEAN),
    ],
).unwrap()
KEY = StateKey("incremental", "item")


@pytest.fixture
def server() -> FakeOracle:
    return FakeOracle()


@pytest.fixture
def backend(server: FakeOracle) -> SqlBackend:
    dialect = oracle_dialect(server)
    return SqlBackend(dialect, dialect.connect(), where="oracle://gruponos@fake:1521/FREEPDB1")


def conn_of(backend: SqlBackend) -> RecordingConnection:
    conn: RecordingConnection = backend.db.conn
    return conn


def rec(rid: int, second: int, code: str = "ok") -> NormalizedRecord:
    ts = T0 + timedelta(seconds=second)
    values: Row = {"ID": rid, "MOD_TS": ts, "CODE": code, "QTY": Decimal("1.50"), "RUSH_FLG": True}
    return NormalizedRecord(rid, ts, values, {"extra_field": 1})


def test_prepare_creates_tables_then_commits(backend: SqlBackend) -> None:
    assert isinstance(backend.sink.prepare(SCHEMA), IOSuccess)
    conn = conn_of(backend)
    creates = [s for s in conn.statements() if s.startswith("CREATE TABLE")]
    assert [c.split('"')[1] for c in creates] == [
        "GNOS_STATE",
        "GNOS_RUNS",
        "GNOS_QUARANTINE",
        "WMS_ITEM",
    ]
    assert conn.calls[-2:] == [("commit",), ("close_cursor",)]
    conn.calls.clear()
    evolved = build_schema(
        "item", [*SCHEMA.fields, SourceField("lot_nbr", FieldType.VARCHAR, max_length=30)]
    ).unwrap()
    assert isinstance(backend.sink.prepare(evolved), IOSuccess)
    assert [s for s in conn.statements() if s.startswith("ALTER")] == [
        'ALTER TABLE "WMS_ITEM" ADD "LOT_NBR" VARCHAR2(30 CHAR)'
    ]


def test_write_binds_arrays_with_batcherrors_and_commits_once(backend: SqlBackend) -> None:
    backend.sink.prepare(SCHEMA)
    conn = conn_of(backend)
    conn.calls.clear()
    checkpoint = Checkpoint(SyncMode.INCREMENTAL, Position(T0 + timedelta(seconds=3), 3))
    batch = Batch(
        "item",
        "run-1",
        (rec(1, 1), rec(2, 2, code="far too long"), rec(3, 3), rec(1, 0)),
        generation="gen-1",
        state_key=KEY,
        checkpoint=checkpoint,
    )
    outcome = backend.sink.write(batch)
    assert unsafe_perform_io(outcome.unwrap()) == WriteOutcome(written=2, quarantined=1)

    kinds = [c[0] for c in conn.calls]
    merge_at = next(
        i for i, c in enumerate(conn.calls) if c[0] == "executemany" and "MERGE" in c[1]
    )
    assert conn.calls[merge_at - 1] == (
        "setinputsizes",
        (
            oracledb.DB_TYPE_NUMBER,
            oracledb.DB_TYPE_TIMESTAMP,
            oracledb.DB_TYPE_VARCHAR,
            oracledb.DB_TYPE_NUMBER,
            oracledb.DB_TYPE_NUMBER,
            oracledb.DB_TYPE_TIMESTAMP,
            oracledb.DB_TYPE_VARCHAR,
            oracledb.DB_TYPE_VARCHAR,
            oracledb.DB_TYPE_VARCHAR,  # GNOS_EXTRA is a CLOB, its short text bound as a string
        ),
    )
    _, sql, rows, options = conn.calls[merge_at]
    assert options == {"batcherrors": True, "arraydmlrowcounts": True}
    assert sql.startswith('MERGE INTO "WMS_ITEM" t')
    assert [r[0] for r in rows] == [1, 2, 3]  # newest version of id 1 only, one array
    first = rows[0]
    assert first[1] == datetime(2024, 3, 1, 12, 0, 1)  # naive UTC into TIMESTAMP(6)
    assert first[2:5] == ("ok", Decimal("1.50"), 1)
    assert first[6:] == ("run-1", "gen-1", '{"extra_field": 1}')

    # every kept row was inserted with the generation: no separate mark_seen
    assert not any(s.startswith("UPDATE") and "GNOS_SEEN_GEN" in s for s in conn.statements())
    quarantine = next(c for c in conn.calls if c[0] == "executemany" and "QUARANTINE" in c[1])
    assert len(quarantine[2]) == 1
    assert quarantine[2][0][1] == "2"
    assert "ORA-12899" in quarantine[2][0][3]
    state = [i for i, c in enumerate(conn.calls) if c[0] == "execute" and "GNOS_STATE" in c[1]]
    assert state
    assert kinds.count("commit") == 1
    assert max(state) < kinds.index("commit")  # the checkpoint is in the batch's transaction
    assert "rollback" not in kinds


def test_database_error_rolls_back_and_never_commits(
    backend: SqlBackend, server: FakeOracle
) -> None:
    backend.sink.prepare(SCHEMA)
    conn = conn_of(backend)
    conn.calls.clear()
    server.fail_on = "GNOS_STATE"  # fails after the MERGE, before the commit
    checkpoint = Checkpoint(SyncMode.INCREMENTAL, Position(T0, 1))
    batch = Batch("item", "run-1", (rec(1, 1),), state_key=KEY, checkpoint=checkpoint)
    result = backend.sink.write(batch)
    assert isinstance(result, IOFailure)
    error = unsafe_perform_io(result.failure())
    assert error.code == "sink.write_failed"
    assert "ORA-03113" in error.message
    assert "secret" not in str(error)
    kinds = [c[0] for c in conn.calls]
    assert "commit" not in kinds
    assert "rollback" in kinds


def test_values_oracle_cannot_hold_exactly_are_quarantined_before_binding(
    backend: SqlBackend,
) -> None:
    backend.sink.prepare(SCHEMA)
    too_precise = rec(1, 1)
    too_precise.values["QTY"] = Decimal("1." + "1" * 40)
    lone = rec(2, 2, code="\udc80")
    outcome = unsafe_perform_io(
        backend.sink.write(Batch("item", "r", (too_precise, lone))).unwrap()
    )
    assert outcome == WriteOutcome(quarantined=2)
    assert not any("MERGE" in s for s in conn_of(backend).statements())


def test_lock_row_held_by_a_dedicated_session(backend: SqlBackend, server: FakeOracle) -> None:
    lease = unsafe_perform_io(backend.state.lock(KEY, "run-1").unwrap())
    lock_session = server.connections[-1]
    assert lock_session is not backend.db.conn
    assert any("FOR UPDATE NOWAIT" in s for s in lock_session.statements())
    second = backend.state.lock(KEY, "run-2")
    assert isinstance(second, IOFailure)
    error = unsafe_perform_io(second.failure())
    assert error.code == "state.locked"
    assert "run-1" in error.message
    lease.release()
    assert lock_session.closed
    again = unsafe_perform_io(backend.state.lock(KEY, "run-2").unwrap())
    again.release()
