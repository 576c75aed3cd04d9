"""What would fail, corrupt or crawl on a real Oracle server, each against the recording driver
(``support.oracle_fake``), which answers as Oracle does where the sink depends on it: byte
lengths in the database character set, MERGE row counts, ORA errors by number, round trips.

Not a live Oracle test: the live suite (tests/integration/sql/test_oracle_live.py) is.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from returns.io import IOFailure, IOSuccess
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.sql import SqlBackend
from gruponos.adapters.sql.oracle import OracleDialect
from gruponos.adapters.sql.oracle_errors import BatchErrorAction, batch_error_action, ora_code
from gruponos.domain.batches import Batch, WriteOutcome
from gruponos.domain.checkpoints import Checkpoint, Position, StateKey, SyncMode
from gruponos.domain.records import NormalizedRecord, Row
from gruponos.domain.schema import EntitySchema, FieldType, SourceField, build_schema
from support.oracle_fake import (
    Column,
    FakeOracle,
    RecordingConnection,
    Table,
    ora_error,
    oracle_dialect,
)

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
KEY = StateKey("incremental", "item")


def item_schema(*extra: SourceField) -> EntitySchema:
    return build_schema(
        "item",
        [
            SourceField("id", FieldType.PK),
            SourceField("mod_ts", FieldType.DATETIME),
            SourceField("code", FieldType.VARCHAR, max_length=5),
            SourceField("qty", FieldType.DECIMAL),
            SourceField("rush_flg", FieldType.BOOLEAN),
            *extra,
        ],
    ).unwrap()


SCHEMA = item_schema()
WIDE = item_schema(
    SourceField("descr", FieldType.VARCHAR, max_length=3000),
    SourceField("notes", FieldType.VARCHAR),
    SourceField("lines", FieldType.JSON),
)


def open_backend(server: FakeOracle, *, history: bool = False, **settings: Any) -> SqlBackend:
    dialect = oracle_dialect(server, **settings)
    return SqlBackend(dialect, dialect.connect(), where="oracle fake", history=history)


def rec(rid: int, second: int, code: str = "ok", **values: Any) -> NormalizedRecord:
    ts = T0 + timedelta(seconds=second)
    row: Row = {"ID": rid, "MOD_TS": ts, "CODE": code, "QTY": Decimal("1.5"), "RUSH_FLG": True}
    row.update(values)
    return NormalizedRecord(rid, ts, row, None)


def write(backend: SqlBackend, *records: NormalizedRecord, **batch: Any) -> WriteOutcome:
    return unsafe_perform_io(backend.sink.write(Batch("item", "run-1", records, **batch)).unwrap())


def conn_of(backend: SqlBackend) -> RecordingConnection:
    conn: RecordingConnection = backend.db.conn
    return conn


def merges(backend: SqlBackend) -> list[tuple[Any, ...]]:
    return [c for c in conn_of(backend).calls if c[0] == "executemany" and "MERGE" in c[1]]


@pytest.fixture
def server() -> FakeOracle:
    return FakeOracle()


# -- 1. history tables -------------------------------------------------------------------------


def test_history_table_can_be_prepared_and_keeps_every_version(server: FakeOracle) -> None:
    backend = open_backend(server, history=True)
    assert isinstance(backend.sink.prepare(SCHEMA), IOSuccess)  # ORA-02329 with a TSTZ key
    history = server.table("WMS_ITEM_HIST")
    assert history.key == ("ID", "MOD_TS")
    assert {c.name: c.dtype for c in history.columns}["MOD_TS"] == "TIMESTAMP(6)"
    assert write(backend, rec(1, 1), rec(1, 2)) == WriteOutcome(written=1)
    assert sorted(history.rows) == [
        (1, datetime(2024, 3, 1, 12, 0, 1)),
        (1, datetime(2024, 3, 1, 12, 0, 2)),
    ]


# -- 3. DDL while the other pipeline writes ----------------------------------------------------


def test_sessions_wait_for_ddl_locks_instead_of_failing_at_once(server: FakeOracle) -> None:
    backend = open_backend(server)
    unsafe_perform_io(backend.sink.prepare(SCHEMA).unwrap())
    server.table("WMS_ITEM").busy_seconds = 5  # the other pipeline's open transaction
    evolved = item_schema(SourceField("lot", FieldType.VARCHAR, max_length=10))
    assert isinstance(backend.sink.prepare(evolved), IOSuccess)
    assert server.table("WMS_ITEM").column("LOT") is not None

    impatient = open_backend(server, ddl_lock_timeout_seconds=0)  # what the fake enforces
    again = item_schema(SourceField("bin", FieldType.VARCHAR, max_length=10))
    failed = impatient.sink.prepare(again)
    assert isinstance(failed, IOFailure)
    assert "ORA-00054" in unsafe_perform_io(failed.failure()).message


def test_a_table_another_session_created_first_is_read_again_and_completed(
    server: FakeOracle,
) -> None:
    backend = open_backend(server)
    other = [Column("ID", "NUMBER"), Column("MOD_TS", "TIMESTAMP(6)")]

    def other_session_creates() -> None:
        server.tables[("GRUPONOS", "WMS_ITEM")] = Table(list(other), ("ID",))

    server.inject(955, 'CREATE TABLE "WMS_ITEM"', other_session_creates)
    assert isinstance(backend.sink.prepare(SCHEMA), IOSuccess)
    names = [c.name for c in server.table("WMS_ITEM").columns]
    assert names[:2] == ["ID", "MOD_TS"]
    assert {"CODE", "QTY", "RUSH_FLG", "GNOS_EXTRA"} <= set(names)


def test_a_column_another_session_added_first_is_done(server: FakeOracle) -> None:
    backend = open_backend(server)
    unsafe_perform_io(backend.sink.prepare(SCHEMA).unwrap())
    evolved = item_schema(SourceField("lot", FieldType.VARCHAR, max_length=10))

    def other_session_adds() -> None:
        server.table("WMS_ITEM").columns.append(Column("LOT", "VARCHAR2", 10))

    server.inject(1430, 'ADD "LOT"', other_session_adds)
    assert isinstance(backend.sink.prepare(evolved), IOSuccess)
    assert [c.name for c in server.table("WMS_ITEM").columns].count("LOT") == 1


def test_ddl_of_a_table_is_serialised_on_a_lock_row(server: FakeOracle) -> None:
    backend = open_backend(server)
    unsafe_perform_io(backend.sink.prepare(SCHEMA).unwrap())
    guard = [c for c in server.connections if c.action == "ddl lock"]
    assert guard, "the DDL ran under the table's lock row"
    assert all(c.closed for c in guard)  # released after the prepare
    assert any("FOR UPDATE WAIT 60" in s for s in guard[-1].statements())
    # another process holds the table's DDL lock (it is preparing the same table)
    other = server.connect()
    evolved = item_schema(SourceField("lot", FieldType.VARCHAR, max_length=10))
    server.locked_keys["ddl\x1fWMS_ITEM"] = other
    failed = backend.sink.prepare(evolved)
    assert isinstance(failed, IOFailure)
    assert "ORA-30006" in unsafe_perform_io(failed.failure()).message
    assert server.table("WMS_ITEM").column("LOT") is None
    other.close()
    assert isinstance(backend.sink.prepare(evolved), IOSuccess)


# -- 4. another schema -------------------------------------------------------------------------


def test_writes_into_the_configured_schema_and_reads_its_dictionary(server: FakeOracle) -> None:
    # a table of the same name in the login schema must not be mistaken for the target
    server.tables[("GRUPONOS", "WMS_ITEM")] = Table([Column("ID", "NUMBER")], ("ID",))
    backend = open_backend(server, current_schema="wms_owner")
    assert isinstance(backend.sink.prepare(SCHEMA), IOSuccess)
    assert ("WMS_OWNER", "WMS_ITEM") in server.tables
    statements = conn_of(backend).statements()
    assert any('CURRENT_SCHEMA = "WMS_OWNER"' in s for s in statements)
    assert not any("USER_TAB_COLUMNS" in s for s in statements)
    assert write(backend, rec(1, 1)) == WriteOutcome(written=1)
    assert 1 in server.table("WMS_ITEM", "WMS_OWNER").rows


# -- 5. batch errors by number -----------------------------------------------------------------


def test_a_row_another_session_inserted_first_is_merged_again(server: FakeOracle) -> None:
    backend = open_backend(server)
    unsafe_perform_io(backend.sink.prepare(SCHEMA).unwrap())
    server.row_errors[2] = 1  # ORA-00001: the other pipeline inserted id 2 first
    assert write(backend, rec(3, 1), rec(2, 1), rec(1, 1)) == WriteOutcome(written=3)
    assert sorted(server.table("WMS_ITEM").rows) == [1, 2, 3]
    assert server.quarantine == []
    first = merges(backend)[0]
    assert [r[0] for r in first[2]] == [1, 2, 3]  # sorted by id: the same lock order everywhere
    assert [r[0] for r in merges(backend)[1][2]] == [2]


@pytest.mark.parametrize("code", [60, 1653, 1950])
def test_a_row_refused_for_another_reason_fails_the_batch_and_its_checkpoint(
    server: FakeOracle, code: int
) -> None:
    backend = open_backend(server)
    unsafe_perform_io(backend.sink.prepare(SCHEMA).unwrap())
    server.row_errors[2] = code
    checkpoint = Checkpoint(SyncMode.INCREMENTAL, Position(T0, 2))
    batch = Batch("item", "run-1", (rec(1, 1), rec(2, 1)), state_key=KEY, checkpoint=checkpoint)
    result = backend.sink.write(batch)
    assert isinstance(result, IOFailure)
    error = unsafe_perform_io(result.failure())
    assert f"ORA-{code:05d}" in error.message
    assert "record id 2" in error.message
    assert "\n" not in error.message
    assert server.table("WMS_ITEM").rows == {}  # rolled back: no data ...
    assert server.state == {}  # ... and no checkpoint
    assert server.quarantine == []
    assert "commit" not in [c[0] for c in conn_of(backend).calls[-3:]]


@pytest.mark.parametrize(
    ("code", "action"),
    [
        (1, BatchErrorAction.RETRY),
        (1400, BatchErrorAction.QUARANTINE),
        (1847, BatchErrorAction.QUARANTINE),
        (22835, BatchErrorAction.QUARANTINE),
        (54, BatchErrorAction.FAIL),
        (1013, BatchErrorAction.FAIL),  # user requested cancel (call_timeout)
        (None, BatchErrorAction.FAIL),
    ],
)
def test_batch_errors_are_judged_by_number(code: int | None, action: BatchErrorAction) -> None:
    assert batch_error_action(code) is action


def test_value_errors_are_quarantined_and_the_rest_commits(server: FakeOracle) -> None:
    backend = open_backend(server)
    unsafe_perform_io(backend.sink.prepare(SCHEMA).unwrap())
    server.row_errors[1] = 1438  # value larger than the precision allowed
    outcome = write(backend, rec(1, 1), rec(2, 1, code="toolong"), rec(3, 1))
    assert outcome == WriteOutcome(written=1, quarantined=2)
    reasons = {q[1]: q[3] for q in server.quarantine}
    assert reasons["1"].startswith("ORA-01438")
    assert reasons["2"].startswith("ORA-12899")
    assert "Help:" not in reasons["2"]


# -- 6. text sized in bytes --------------------------------------------------------------------


def test_multibyte_text_within_the_field_length_is_stored_not_quarantined(
    server: FakeOracle,
) -> None:
    backend = open_backend(server)
    unsafe_perform_io(backend.sink.prepare(WIDE).unwrap())
    text = "€" * 1500  # 1,500 characters, 4,500 bytes: beyond a 4,000-byte VARCHAR2
    assert write(backend, rec(1, 1, DESCR=text)) == WriteOutcome(written=1)
    assert server.table("WMS_ITEM").rows[1]["DESCR"] == text
    assert server.table("WMS_ITEM").column("DESCR").dtype == "CLOB"  # type: ignore[union-attr]


def test_extended_max_string_size_keeps_long_fields_varchar2() -> None:
    server = FakeOracle(max_string_size="EXTENDED")
    backend = open_backend(server)
    unsafe_perform_io(backend.sink.prepare(WIDE).unwrap())
    column = server.table("WMS_ITEM").column("DESCR")
    assert column is not None
    assert (column.dtype, column.length) == ("VARCHAR2", 3000)
    assert write(backend, rec(1, 1, DESCR="€" * 3000)) == WriteOutcome(written=1)


# -- 7. character set ----------------------------------------------------------------------------


def test_a_database_that_is_not_al32utf8_is_refused_or_warned_about() -> None:
    server = FakeOracle(charset="WE8MSWIN1252")
    dialect = OracleDialect(
        "fake:1521/X", user="u", password="pw-secret", driver_connect=server.connect
    )
    with pytest.raises(dialect.driver_errors) as refused:
        dialect.connect()
    message = dialect.error_reason(refused.value)
    assert "WE8MSWIN1252" in message
    assert "AL32UTF8" in message
    assert "NON_UTF8_CHARSET=warn" in message
    assert server.connections[-1].closed
    warned = open_backend(server, non_utf8_charset="warn")
    assert warned.db.dialect.facts.charset == "WE8MSWIN1252"  # type: ignore[attr-defined]


# -- 8. empty text -------------------------------------------------------------------------------


def test_empty_text_is_null_in_varchar2_and_clob_alike(server: FakeOracle) -> None:
    backend = open_backend(server)
    unsafe_perform_io(backend.sink.prepare(WIDE).unwrap())
    write(backend, rec(1, 1, code="", NOTES="", LINES=""))
    row = server.table("WMS_ITEM").rows[1]
    assert (row["CODE"], row["NOTES"], row["LINES"]) == (None, None, None)


# -- 9. round trips ------------------------------------------------------------------------------


def clob_batch(count: int, long_every: int = 0) -> tuple[NormalizedRecord, ...]:
    out = []
    for rid in range(1, count + 1):
        notes = "n" * 5000 if long_every and rid % long_every == 0 else f"note {rid} " * 20
        out.append(rec(rid, 1, NOTES=notes, LINES=f'[{{"line": {rid}, "qty": "2"}}]'))
    return tuple(out)


def test_round_trip_budget_for_5000_rows_with_two_clob_columns(server: FakeOracle) -> None:
    backend = open_backend(server)
    unsafe_perform_io(backend.sink.prepare(WIDE).unwrap())
    checkpoint = Checkpoint(SyncMode.INCREMENTAL, Position(T0, 5000))
    before = server.round_trips
    outcome = write(backend, *clob_batch(5000), state_key=KEY, checkpoint=checkpoint)
    assert outcome == WriteOutcome(written=5000)
    # one MERGE, the checkpoint's UPDATE and INSERT, one commit (was 2 per CLOB value: ~30,000)
    assert server.round_trips - before <= 4
    # ten values beyond the 4,000-byte VARCHAR2 limit: one more MERGE, two round trips each
    before = server.round_trips
    assert write(backend, *clob_batch(5000, long_every=500)) == WriteOutcome(written=5000)
    assert server.round_trips - before <= 3 + 2 * 10
    assert server.table("WMS_ITEM").rows[500]["NOTES"] == "n" * 5000


# -- 10. mark_seen only for stale rows ---------------------------------------------------------


def test_merge_counts_only_written_rows_and_marks_only_stale_ones(server: FakeOracle) -> None:
    backend = open_backend(server)
    unsafe_perform_io(backend.sink.prepare(SCHEMA).unwrap())
    write(backend, rec(1, 1), rec(2, 9), rec(3, 1))
    conn_of(backend).calls.clear()
    outcome = write(backend, rec(1, 5), rec(2, 5), rec(3, 5), rec(4, 5), generation="g1")
    assert outcome == WriteOutcome(written=3, stale=1)  # id 2's stored version is newer
    marks = [
        c for c in conn_of(backend).calls if c[0] == "executemany" and c[1].startswith("UPDATE")
    ]
    assert [[r[1] for r in c[2]] for c in marks] == [[2]]
    rows = server.table("WMS_ITEM").rows
    assert {rid: r["GNOS_SEEN_GEN"] for rid, r in rows.items()} == {
        1: "g1",
        2: "g1",
        3: "g1",
        4: "g1",
    }
    conn_of(backend).calls.clear()
    write(backend, rec(5, 5), generation="g1")
    assert not any(
        c[0] == "executemany" and c[1].startswith("UPDATE") for c in conn_of(backend).calls
    )


# -- 11. reads -----------------------------------------------------------------------------------


def test_reads_fetch_in_large_arrays_without_lob_reads_or_dictionary_queries(
    server: FakeOracle,
) -> None:
    backend = open_backend(server)
    unsafe_perform_io(backend.sink.prepare(WIDE).unwrap())
    write(backend, *clob_batch(5000))
    conn_of(backend).calls.clear()
    before = server.round_trips
    snapshot = unsafe_perform_io(backend.sink.snapshot("item").unwrap())
    assert len(snapshot) == 5000
    assert server.round_trips - before <= 3  # execute, fetch, commit (was ~50 at arraysize 100)
    assert not any("TAB_COLUMNS" in s for s in conn_of(backend).statements())

    server.row_errors.update(dict.fromkeys(range(1, 301), 1438))
    write(backend, *(rec(i, 7) for i in range(1, 301)))
    before = server.round_trips
    rows = unsafe_perform_io(backend.sink.quarantined("item", 300).unwrap())
    assert len(rows) == 300
    assert all(isinstance(r["reason"], str) for r in rows)
    assert server.round_trips - before <= 4  # no LOB.read() per value


def test_existing_ids_parse_one_statement_whatever_the_count(server: FakeOracle) -> None:
    backend = open_backend(server)
    unsafe_perform_io(backend.sink.prepare(SCHEMA).unwrap())
    for count in (3, 700):
        unsafe_perform_io(backend.sink.existing_ids("item", range(count)).unwrap())
    texts = {s for s in conn_of(backend).statements() if s.startswith('SELECT "ID"')}
    assert len(texts) == 1


# -- 12. operations ------------------------------------------------------------------------------


def test_sessions_are_named_timed_and_kept_alive(server: FakeOracle) -> None:
    backend = open_backend(server, call_timeout_seconds=30)
    conn = conn_of(backend)
    assert (conn.module, conn.action, conn.call_timeout) == ("gruponos", "sink", 30_000)
    assert server.connect_kwargs[-1]["expire_time"] == 2
    lease = unsafe_perform_io(backend.state.lock(KEY, "run-42").unwrap())
    lock_session = server.connections[-1]
    assert (lock_session.action, lock_session.client_identifier) == ("run lock", "run-42")
    assert conn.client_identifier == "run-42"  # the sink's session belongs to the run too
    assert server.connect_kwargs[-1]["expire_time"] == 2  # a dead holder is noticed
    lease.release()


def test_ora_codes_are_compared_as_numbers(server: FakeOracle) -> None:
    backend = open_backend(server)
    # a deadlock whose message happens to quote ORA-00054 is not "the lock is held"
    server.inject(60, "FOR UPDATE NOWAIT", detail=" (waiting behind ORA-00054)")
    result = backend.state.lock(KEY, "run-1")
    assert isinstance(result, IOFailure)
    assert unsafe_perform_io(result.failure()).code == "state.lock_failed"
    assert ora_code(ora_error(54, " ORA-00060")) == 54


def test_drop_purges_and_booleans_are_checked(server: FakeOracle) -> None:
    backend = open_backend(server)
    unsafe_perform_io(backend.sink.prepare(SCHEMA).unwrap())
    assert unsafe_perform_io(backend.sink.drop_table("item").unwrap())
    assert server.ddl_log[-1] == 'DROP TABLE "WMS_ITEM" PURGE'
    create = next(s for s in server.ddl_log if s.startswith('CREATE TABLE "WMS_ITEM"'))
    assert '"RUSH_FLG" NUMBER(1) CHECK ("RUSH_FLG" IN (0, 1))' in create


@pytest.mark.parametrize(
    ("privileges", "quota", "expected"),
    [
        ({"CREATE TABLE"}, True, "the Oracle user lacks the grant CREATE SEQUENCE"),
        ({"CREATE TABLE", "CREATE SEQUENCE"}, False, "no quota on its default tablespace"),
    ],
)
def test_check_reports_a_missing_grant_in_one_line(
    privileges: set[str], quota: bool, expected: str
) -> None:
    server = FakeOracle(privileges=privileges | {"CREATE SESSION"}, quota=quota)
    backend = open_backend(server)
    result = backend.sink.check()
    assert isinstance(result, IOFailure)
    error = unsafe_perform_io(result.failure())
    assert error.code == "sink.not_ready"
    assert expected in error.message
    assert "\n" not in error.message
    assert isinstance(open_backend(FakeOracle()).sink.check(), IOSuccess)
