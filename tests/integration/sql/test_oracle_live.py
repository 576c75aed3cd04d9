"""The Oracle sink against a live Oracle Database; runs only with GRUPONOS_TEST_ORACLE_DSN.

Example (Oracle Database Free in a container, see docs/sinks.md)::

    GRUPONOS_TEST_ORACLE_DSN=oracle://gruponos:secret@127.0.0.1:1521/FREEPDB1 \\
        .venv/bin/pytest tests/integration/sql/test_oracle_live.py -m oracle
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from returns.io import IOFailure
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.sql import SqlBackend, open_sql_backend
from gruponos.domain.schema import FieldType, SourceField
from gruponos.domain.sync import Batch, Checkpoint, Position, StateKey, SyncMode, WriteOutcome
from support.sqlsink import T0, record, schema

ORACLE_DSN = os.getenv("GRUPONOS_TEST_ORACLE_DSN")

pytestmark = [
    pytest.mark.oracle,
    pytest.mark.skipif(
        not ORACLE_DSN,
        reason="no live Oracle here: set GRUPONOS_TEST_ORACLE_DSN=oracle://user:pw@host:1521/svc",
    ),
]


@pytest.fixture
def backend() -> Iterator[SqlBackend]:
    assert ORACLE_DSN is not None
    prefix = f"T{uuid.uuid4().hex[:8].upper()}_"
    opened = unsafe_perform_io(open_sql_backend(ORACLE_DSN, table_prefix=prefix).unwrap())
    try:
        yield opened
    finally:
        opened.sink.drop_table("order_hdr")
        opened.close()


def test_live_upsert_quarantine_soft_delete_and_state(backend: SqlBackend) -> None:
    sink = backend.sink
    unsafe_perform_io(sink.prepare(schema()).unwrap())
    key = StateKey("incremental", f"order_hdr_{uuid.uuid4().hex[:6]}")
    checkpoint = Checkpoint(SyncMode.INCREMENTAL, Position(T0 + timedelta(seconds=5), 2))
    batch = Batch(
        "order_hdr",
        "r1",
        (record(1, 5), record(2, 5), record(3, 5, nbr="x" * 30)),
        generation="g1",
        state_key=key,
        checkpoint=checkpoint,
    )
    assert unsafe_perform_io(sink.write(batch).unwrap()) == WriteOutcome(2, 0, 1)
    assert unsafe_perform_io(backend.state.load(key).unwrap()) == checkpoint
    older = Batch("order_hdr", "r2", (record(1, 1), record(2, 9)), generation="g2")
    assert unsafe_perform_io(sink.write(older).unwrap()) == WriteOutcome(1, 1, 0)
    assert unsafe_perform_io(sink.soft_delete_unseen("order_hdr", "g2", T0).unwrap()) == 0
    snapshot = unsafe_perform_io(sink.snapshot("order_hdr").unwrap())
    assert snapshot == {1: T0 + timedelta(seconds=5), 2: T0 + timedelta(seconds=9)}
    evolved = schema("order_hdr", SourceField("lot_nbr", FieldType.VARCHAR, max_length=30))
    unsafe_perform_io(sink.prepare(evolved).unwrap())
    reasons = [q["reason"] for q in unsafe_perform_io(sink.quarantined("order_hdr", 5).unwrap())]
    assert any("ORA-12899" in r for r in reasons)
    unsafe_perform_io(backend.state.reset(key).unwrap())


def test_live_lock_contention(backend: SqlBackend) -> None:
    key = StateKey("full", f"lock_{uuid.uuid4().hex[:6]}")
    lease = unsafe_perform_io(backend.state.lock(key, "run-1").unwrap())
    second = backend.state.lock(key, "run-2")
    assert isinstance(second, IOFailure)
    assert unsafe_perform_io(second.failure()).code == "state.locked"
    lease.release()
    unsafe_perform_io(backend.state.lock(key, "run-2").unwrap()).release()
