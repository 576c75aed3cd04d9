"""The Oracle sink against a live Oracle Database; runs only with GRUPONOS_TEST_ORACLE_DSN.

Example (Oracle Database Free in a container, see docs/sinks.md)::

    GRUPONOS_TEST_ORACLE_DSN=oracle://gruponos:secret@127.0.0.1:1521/FREEPDB1 \\
        .venv/bin/pytest tests/integration/sql/test_oracle_live.py -m oracle

or ``nox -s oracle_live``. Optional: ``GRUPONOS_TEST_ORACLE_SCHEMA`` (another schema the user may
create tables in) and ``GRUPONOS_TEST_ORACLE_TCPS_DSN`` with ``GRUPONOS_TEST_ORACLE_WALLET`` (a
TCPS listener and its wallet directory). Every test leaves no entity table behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import oracledb
import pytest
from returns.io import IOFailure, IOSuccess
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.oracle_config import OracleSinkSettings
from gruponos.adapters.sql import SqlBackend, open_sql_backend
from gruponos.domain.batches import Batch, WriteOutcome
from gruponos.domain.checkpoints import Checkpoint, Position, StateKey, SyncMode
from gruponos.domain.records import NormalizedRecord
from gruponos.domain.schema import FieldType, SourceField
from support.sqlsink import T0, FailingConnection, record, schema

ORACLE_DSN = os.getenv("GRUPONOS_TEST_ORACLE_DSN")
OTHER_SCHEMA = os.getenv("GRUPONOS_TEST_ORACLE_SCHEMA")
TCPS_DSN = os.getenv("GRUPONOS_TEST_ORACLE_TCPS_DSN")
WALLET = os.getenv("GRUPONOS_TEST_ORACLE_WALLET")

pytestmark = [
    pytest.mark.oracle,
    pytest.mark.skipif(
        not ORACLE_DSN,
        reason="no live Oracle here: set GRUPONOS_TEST_ORACLE_DSN=oracle://user:pw@host:1521/svc",
    ),
]

WIDE = schema(
    "order_hdr",
    SourceField("cust_long_text_1", FieldType.VARCHAR, max_length=4000),
    SourceField("notes", FieldType.VARCHAR),
    SourceField("lines", FieldType.JSON),
)
Opener = Callable[..., SqlBackend]


@pytest.fixture
def open_backend() -> Iterator[Opener]:
    """Backends on one random table prefix; their entity tables are dropped afterwards."""
    assert ORACLE_DSN is not None
    prefix = f"T{uuid.uuid4().hex[:8].upper()}_"
    opened: list[SqlBackend] = []

    def make(url: str | None = None, **settings: Any) -> SqlBackend:
        backend = unsafe_perform_io(
            open_sql_backend(
                url or ORACLE_DSN or "",
                table_prefix=prefix,
                history=settings.pop("history", False),
                oracle=OracleSinkSettings(**settings),
            ).unwrap()
        )
        opened.append(backend)
        return backend

    yield make
    if opened:
        opened[0].sink.drop_table("order_hdr")
    for backend in opened:
        backend.close()


@pytest.fixture
def backend(open_backend: Opener) -> SqlBackend:
    return open_backend()


def query(backend: SqlBackend, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with backend.db.conn.cursor() as cur:
        cur.execute(sql, params)
        rows: list[tuple[Any, ...]] = cur.fetchall()
    backend.db.conn.rollback()
    return rows


def table(backend: SqlBackend) -> str:
    return '"' + backend.sink.table_name("order_hdr") + '"'


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


def test_live_history_keeps_every_version(open_backend: Opener) -> None:
    backend = open_backend(history=True)
    unsafe_perform_io(backend.sink.prepare(schema()).unwrap())  # ORA-02329 before TIMESTAMP(6)
    batch = Batch("order_hdr", "r", (record(1, 1), record(1, 2), record(2, 1)))
    assert unsafe_perform_io(backend.sink.write(batch).unwrap()).written == 2
    history = backend.sink.table_name("order_hdr") + "_HIST"
    assert query(backend, f'SELECT COUNT(*) FROM "{history}"') == [(3,)]


def test_live_multibyte_text_and_clob_round_trips(backend: SqlBackend) -> None:
    unsafe_perform_io(backend.sink.prepare(WIDE).unwrap())
    texts = {
        1: "€" * 1001,  # 3,003 bytes
        2: "日本" * 2000,  # 4,000 characters, 12,000 bytes
        3: "x" * 40_000,  # beyond 32 KB: a LOB bind
        4: "",
    }
    records = [
        record(rid, 1, CUST_LONG_TEXT_1=text, NOTES=text, LINES=text) for rid, text in texts.items()
    ]
    outcome = unsafe_perform_io(
        backend.sink.write(Batch("order_hdr", "r", tuple(records))).unwrap()
    )
    assert outcome == WriteOutcome(written=4)
    rows = query(
        backend, f'SELECT "ID", "CUST_LONG_TEXT_1", "NOTES", "LINES" FROM {table(backend)}'
    )
    for rid, *stored in rows:
        expected = texts[int(rid)] or None  # '' is NULL in every text column
        assert stored == [expected, expected, expected], rid


def test_live_5000_rows_with_two_clob_columns(backend: SqlBackend) -> None:
    unsafe_perform_io(backend.sink.prepare(WIDE).unwrap())
    records = tuple(
        record(rid, 1, NOTES=f"note {rid} " * 30, LINES=f'[{{"line": {rid}}}]')
        for rid in range(1, 5001)
    )
    started = time.perf_counter()
    outcome = unsafe_perform_io(backend.sink.write(Batch("order_hdr", "r", records)).unwrap())
    seconds = time.perf_counter() - started
    assert outcome == WriteOutcome(written=5000)
    print(f"\n5,000 rows with two CLOB columns: {seconds:.2f} s")
    assert seconds < 60


def test_live_merge_counts_only_what_it_wrote(backend: SqlBackend) -> None:
    unsafe_perform_io(backend.sink.prepare(schema()).unwrap())
    unsafe_perform_io(backend.sink.write(Batch("order_hdr", "r", (record(1, 9),))).unwrap())
    # WHEN MATCHED ... WHERE is false for the stale version: not written, not counted
    batch = Batch("order_hdr", "r", (record(1, 1), record(2, 1)), generation="g")
    assert unsafe_perform_io(backend.sink.write(batch).unwrap()) == WriteOutcome(1, 1, 0)
    seen = query(backend, f'SELECT "GNOS_SEEN_GEN" FROM {table(backend)} ORDER BY "ID"')
    assert seen == [("g",), ("g",)]


def test_live_two_sessions_insert_the_same_new_id(open_backend: Opener) -> None:
    first, second = open_backend(), open_backend()
    unsafe_perform_io(first.sink.prepare(schema()).unwrap())
    unsafe_perform_io(second.sink.prepare(schema()).unwrap())
    results: dict[str, Any] = {}

    def write(name: str, backend: SqlBackend, second_: int) -> None:
        batch = Batch("order_hdr", name, tuple(record(i, second_) for i in range(1, 201)))
        results[name] = backend.sink.write(batch)

    threads = [
        threading.Thread(target=write, args=("a", first, 1)),
        threading.Thread(target=write, args=("b", second, 2)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(isinstance(r, IOSuccess) for r in results.values()), results
    quarantined = unsafe_perform_io(first.sink.quarantined("order_hdr", 10).unwrap())
    assert quarantined == ()  # ORA-00001 rows were merged again, not quarantined
    snapshot = unsafe_perform_io(first.sink.snapshot("order_hdr").unwrap())
    assert set(snapshot.values()) == {T0 + timedelta(seconds=2)}  # the newer version won


def test_live_alter_waits_for_an_open_transaction(open_backend: Opener) -> None:
    writer, preparer = open_backend(), open_backend()
    unsafe_perform_io(writer.sink.prepare(schema()).unwrap())
    with writer.db.conn.cursor() as cur:  # an open transaction on the table
        cur.execute(f'UPDATE {table(writer)} SET "STATUS_ID" = 1 WHERE 1 = 0')
        cur.execute(f"LOCK TABLE {table(writer)} IN ROW EXCLUSIVE MODE")
    timer = threading.Timer(3.0, writer.db.conn.commit)
    timer.start()
    evolved = schema("order_hdr", SourceField("lot_nbr", FieldType.VARCHAR, max_length=30))
    try:
        assert isinstance(preparer.sink.prepare(evolved), IOSuccess)  # waited, no ORA-00054
    finally:
        timer.join()


def test_live_two_simultaneous_first_prepares(open_backend: Opener) -> None:
    backends = [open_backend() for _ in range(4)]
    results: list[Any] = []
    barrier = threading.Barrier(len(backends))

    def prepare(backend: SqlBackend) -> None:
        barrier.wait()
        results.append(backend.sink.prepare(WIDE))

    threads = [threading.Thread(target=prepare, args=(b,)) for b in backends]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 4
    assert all(isinstance(r, IOSuccess) for r in results), results


def test_live_timestamps_across_dst_with_a_non_utc_session(backend: SqlBackend) -> None:
    with backend.db.conn.cursor() as cur:
        cur.execute("ALTER SESSION SET TIME_ZONE = 'America/Sao_Paulo'")
    unsafe_perform_io(backend.sink.prepare(schema()).unwrap())
    # 2018-11-04 00:00 did not exist in Sao Paulo; 2019-02-17 00:00 happened twice (-02, -03)
    instants = [
        datetime(2018, 11, 4, 2, 30, tzinfo=UTC),
        datetime(2019, 2, 17, 2, 30, tzinfo=UTC),
        datetime(2019, 2, 17, 0, 30, tzinfo=timezone(timedelta(hours=-3))),
    ]
    records = tuple(
        NormalizedRecord(i, ts, dict(record(i, 1).values, MOD_TS=ts), None)
        for i, ts in enumerate(instants, start=1)
    )
    unsafe_perform_io(backend.sink.write(Batch("order_hdr", "r", records)).unwrap())
    snapshot = unsafe_perform_io(backend.sink.snapshot("order_hdr").unwrap())
    assert snapshot == {i: ts.astimezone(UTC) for i, ts in enumerate(instants, start=1)}


def test_live_38_digit_decimals_and_extreme_exponents(backend: SqlBackend) -> None:
    unsafe_perform_io(backend.sink.prepare(schema()).unwrap())
    values = {
        1: Decimal("12345678901234567890123456789012345678"),
        2: Decimal("0.12345678901234567890123456789012345678"),
        3: Decimal("1E+125"),
        4: Decimal("-1E-130"),
        5: Decimal("9.999999999999999999999999999999999999E+125"),
    }
    records = tuple(record(i, 1, TOTAL_QTY=v) for i, v in values.items())
    unsafe_perform_io(backend.sink.write(Batch("order_hdr", "r", records)).unwrap())
    with backend.db.conn.cursor() as cur:
        cur.outputtypehandler = lambda c, m: (
            c.var(str, 255, arraysize=c.arraysize) if m.name == "TOTAL_QTY" else None
        )
        cur.execute(f'SELECT "ID", "TOTAL_QTY" FROM {table(backend)}')
        stored = {int(i): Decimal(q) for i, q in cur.fetchall()}
    assert stored == values


_HOLDER = """
import sys, time
from returns.unsafe import unsafe_perform_io
from gruponos.adapters.sql import open_sql_backend
from gruponos.domain.checkpoints import StateKey
backend = unsafe_perform_io(open_sql_backend(sys.argv[1]).unwrap())
lease = unsafe_perform_io(backend.state.lock(StateKey("full", sys.argv[2]), "holder").unwrap())
print("locked", flush=True)
time.sleep(600)
"""


def test_live_lock_released_on_kill_9(backend: SqlBackend) -> None:
    entity = f"kill_{uuid.uuid4().hex[:6]}"
    holder = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _HOLDER, ORACLE_DSN or "", entity],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        assert isinstance(backend.state.lock(StateKey("full", entity), "me"), IOFailure)
        holder.kill()
        holder.wait(timeout=10)
        deadline = time.monotonic() + 120
        while isinstance(lease := backend.state.lock(StateKey("full", entity), "me"), IOFailure):
            assert time.monotonic() < deadline, "the lock outlived its holder"
            time.sleep(0.5)
        unsafe_perform_io(lease.unwrap()).release()
    finally:
        holder.kill()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()


def test_live_failure_before_commit_leaves_neither_data_nor_checkpoint(
    backend: SqlBackend,
) -> None:
    unsafe_perform_io(backend.sink.prepare(schema()).unwrap())
    key = StateKey("incremental", f"order_hdr_{uuid.uuid4().hex[:6]}")
    checkpoint = Checkpoint(SyncMode.INCREMENTAL, Position(T0, 1))
    real = backend.db.conn
    failing = FailingConnection(real, oracledb.DatabaseError)
    failing.fail_commit = True  # as a crash between the last statement and the commit
    backend.db.conn = failing
    try:
        batch = Batch("order_hdr", "r", (record(1, 1),), state_key=key, checkpoint=checkpoint)
        assert isinstance(backend.sink.write(batch), IOFailure)
    finally:
        backend.db.conn = real
    assert unsafe_perform_io(backend.sink.snapshot("order_hdr").unwrap()) == {}
    assert unsafe_perform_io(backend.state.load(key).unwrap()) is None


@pytest.mark.skipif(not OTHER_SCHEMA, reason="set GRUPONOS_TEST_ORACLE_SCHEMA to another schema")
def test_live_writes_into_another_schema(open_backend: Opener) -> None:
    backend = open_backend(current_schema=OTHER_SCHEMA)
    unsafe_perform_io(backend.sink.prepare(schema()).unwrap())
    unsafe_perform_io(backend.sink.write(Batch("order_hdr", "r", (record(1, 1),))).unwrap())
    owner = query(
        backend,
        "SELECT OWNER FROM ALL_TABLES WHERE TABLE_NAME = :1",
        backend.sink.table_name("order_hdr"),
    )
    assert (str(OTHER_SCHEMA).upper(),) in owner


@pytest.mark.skipif(
    not (TCPS_DSN and WALLET),
    reason="set GRUPONOS_TEST_ORACLE_TCPS_DSN and GRUPONOS_TEST_ORACLE_WALLET for TCPS",
)
def test_live_tcps_with_a_wallet(open_backend: Opener) -> None:
    backend = open_backend(TCPS_DSN, wallet_location=WALLET)
    protocol = query(backend, "SELECT SYS_CONTEXT('USERENV', 'NETWORK_PROTOCOL') FROM DUAL")
    assert protocol == [("tcps",)]
