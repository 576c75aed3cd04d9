"""The SQL sink against real SQLite and PostgreSQL: the same behaviour on both."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

from returns.io import IOFailure, IOResult, IOSuccess
from returns.unsafe import unsafe_perform_io

from gruponos.application.ports import RecordSink, RunHistory, StateStore
from gruponos.domain.batches import Batch, Rejected, WriteOutcome
from gruponos.domain.checkpoints import Checkpoint, Position, StateKey, SyncMode
from gruponos.domain.runs import EntityReport, RunStatus, SyncReport
from gruponos.domain.schema import FieldType, SourceField
from support.sqlsink import T0, BackendFactory, query, record, schema

KEY = StateKey("incremental", "order_hdr")
T = TypeVar("T")


def ok(result: IOResult[T, Any]) -> T:
    assert isinstance(result, IOSuccess), result
    value: T = unsafe_perform_io(result.unwrap())
    return value


def test_prepare_creates_table_with_data_and_metadata_columns(open_backend: BackendFactory) -> None:
    backend = open_backend()
    ok(backend.sink.prepare(schema()))
    columns = [name for name, _ in ok(backend.sink.describe_table("order_hdr"))]
    assert columns == [
        "ID",
        "MOD_TS",
        "ORDER_NBR",
        "RUSH_FLG",
        "STATUS_ID",
        "TOTAL_QTY",
        "GNOS_LOADED_AT",
        "GNOS_RUN_ID",
        "GNOS_SEEN_GEN",
        "GNOS_EXTRA",
        "GNOS_DELETED_AT",
    ]
    ok(backend.sink.prepare(schema()))  # idempotent


def test_prepare_adds_new_columns_and_keeps_old_ones(open_backend: BackendFactory) -> None:
    backend = open_backend()
    ok(backend.sink.prepare(schema()))
    ok(backend.sink.write(Batch("order_hdr", "r1", (record(1, 1),))))
    evolved = schema("order_hdr", SourceField("carrier_id", FieldType.RELATION))
    ok(backend.sink.prepare(evolved))
    columns = dict(ok(backend.sink.describe_table("order_hdr")))
    assert {"CARRIER_ID", "CARRIER_KEY", "ORDER_NBR"} <= set(columns)
    rec = record(2, 2, CARRIER_ID=7, CARRIER_KEY="UPS")
    ok(backend.sink.write(Batch("order_hdr", "r2", (rec,))))
    rows = query(
        backend, 'SELECT "ID", "CARRIER_ID", "CARRIER_KEY" FROM "WMS_ORDER_HDR" ORDER BY 1'
    )
    assert rows == [(1, None, None), (2, 7, "UPS")]


def test_upsert_is_monotonic_and_newest_in_batch_wins(open_backend: BackendFactory) -> None:
    backend = open_backend()
    ok(backend.sink.prepare(schema()))
    first = Batch("order_hdr", "r1", (record(1, 5), record(2, 5), record(1, 7), record(1, 6)))
    assert ok(backend.sink.write(first)) == WriteOutcome(written=2)
    replay = Batch("order_hdr", "r2", (record(1, 3), record(2, 9), record(3, 1)))
    assert ok(backend.sink.write(replay)) == WriteOutcome(written=2, stale=1)
    snap = ok(backend.sink.snapshot("order_hdr"))
    assert snap == {
        1: T0 + timedelta(seconds=7),
        2: T0 + timedelta(seconds=9),
        3: T0 + timedelta(seconds=1),
    }
    rows = query(backend, 'SELECT "ID", "STATUS_ID", "GNOS_RUN_ID" FROM "WMS_ORDER_HDR" ORDER BY 1')
    assert rows == [(1, 7, "r1"), (2, 9, "r2"), (3, 1, "r2")]
    # the same version again replaces (>=), so a replay after a crash is harmless
    assert ok(backend.sink.write(Batch("order_hdr", "r3", (record(1, 7),)))) == WriteOutcome(1)


def test_values_round_trip_exactly(open_backend: BackendFactory) -> None:
    backend = open_backend()
    ok(backend.sink.prepare(schema()))
    rec = record(1, 1, TOTAL_QTY=Decimal("123456789012345678901234.000100"), RUSH_FLG=False)
    rec = type(rec)(rec.id, rec.mod_ts, rec.values, {"unknown_field": [1, "x"]})
    ok(backend.sink.write(Batch("order_hdr", "r1", (rec,))))
    (qty, flag, extra) = query(
        backend, 'SELECT "TOTAL_QTY", "RUSH_FLG", "GNOS_EXTRA" FROM "WMS_ORDER_HDR"'
    )[0]
    assert Decimal(str(qty)) == Decimal("123456789012345678901234.000100")
    assert flag in (False, 0)
    assert extra == '{"unknown_field": [1, "x"]}'


def test_full_sync_marks_seen_even_when_stale_and_soft_deletes_unseen(
    open_backend: BackendFactory,
) -> None:
    backend = open_backend()
    sink = backend.sink
    ok(sink.prepare(schema()))
    ok(sink.write(Batch("order_hdr", "inc", (record(1, 9), record(2, 1), record(3, 1)))))
    # a full pass sees 1 (older than stored: stale, but seen) and 2; 3 is gone from the source
    outcome = ok(
        sink.write(Batch("order_hdr", "g1", (record(1, 5), record(2, 1)), generation="g1"))
    )
    assert outcome == WriteOutcome(written=1, stale=1)
    deleted_at = T0 + timedelta(days=1)
    assert ok(sink.soft_delete_unseen("order_hdr", "g1", deleted_at)) == 1
    assert set(ok(sink.snapshot("order_hdr"))) == {1, 2}
    assert ok(sink.existing_ids("order_hdr", [1, 2, 3, 4])) == frozenset({1, 2})
    assert ok(sink.soft_delete_unseen("order_hdr", "g1", deleted_at)) == 0  # already deleted
    # the row re-appears: it is live again
    ok(sink.write(Batch("order_hdr", "g2", (record(3, 1),), generation="g2")))
    assert ok(sink.existing_ids("order_hdr", [3])) == frozenset({3})


def test_soft_delete_spares_rows_loaded_after_the_generation_started(
    open_backend: BackendFactory,
) -> None:
    backend = open_backend()
    ok(backend.sink.prepare(schema()))
    ok(backend.sink.write(Batch("order_hdr", "old", (record(1, 1),))))
    ok(backend.runs.record(SyncReport("g1", SyncMode.FULL, backend.db.clock())))
    ok(backend.sink.write(Batch("order_hdr", "inc", (record(2, 1),))))  # behind the full pass
    assert ok(backend.sink.soft_delete_unseen("order_hdr", "g1", T0)) == 1
    assert set(ok(backend.sink.snapshot("order_hdr"))) == {2}


def test_history_keeps_every_version_once(open_backend: BackendFactory) -> None:
    backend = open_backend(history=True)
    ok(backend.sink.prepare(schema()))
    ok(backend.sink.write(Batch("order_hdr", "r1", (record(1, 1), record(1, 2), record(2, 1)))))
    ok(backend.sink.write(Batch("order_hdr", "r2", (record(1, 1), record(1, 3)))))
    rows = query(backend, 'SELECT "ID", "STATUS_ID" FROM "WMS_ORDER_HDR_HIST" ORDER BY 1, 2')
    assert rows == [(1, 1), (1, 2), (1, 3), (2, 1)]
    snap = ok(backend.sink.snapshot("order_hdr"))
    assert snap == {1: T0 + timedelta(seconds=3), 2: T0 + timedelta(seconds=1)}
    assert ok(backend.sink.drop_table("order_hdr")) is True
    assert ok(backend.sink.describe_table("order_hdr")) == ()


def test_rejected_records_are_quarantined_with_reason(open_backend: BackendFactory) -> None:
    backend = open_backend()
    ok(backend.sink.prepare(schema()))
    bad = Rejected("order_hdr", "9", '{"id": 9}', "mod_ts: timestamp has no UTC offset")
    huge = record(4, 1, STATUS_ID=2**70)
    broken = record(5, 1, nbr="bad \ud800 text")
    batch = Batch("order_hdr", "r1", (record(1, 1), huge, broken), rejected=(bad,))
    assert ok(backend.sink.write(batch)) == WriteOutcome(written=1, quarantined=3)
    rows = ok(backend.sink.quarantined("order_hdr", 10))
    by_id = {r["record_id"]: r for r in rows}
    assert set(by_id) == {"9", "4", "5"}
    assert "out of range" in by_id["4"]["reason"]
    assert "surrogate" in by_id["5"]["reason"]
    assert by_id["9"]["payload"] == '{"id": 9}'
    assert all(r["run_id"] == "r1" for r in by_id.values())
    assert ok(backend.sink.snapshot("order_hdr")) == {1: T0 + timedelta(seconds=1)}
    assert len(ok(backend.sink.quarantined(None, 1))) == 1
    assert ok(backend.sink.quarantined("x", 5)) == ()


def test_checkpoint_commits_with_the_data(open_backend: BackendFactory) -> None:
    backend = open_backend()
    ok(backend.sink.prepare(schema()))
    checkpoint = Checkpoint(SyncMode.INCREMENTAL, Position(T0, 1))
    ok(
        backend.sink.write(
            Batch("order_hdr", "r1", (record(1, 0),), state_key=KEY, checkpoint=checkpoint)
        )
    )
    assert ok(backend.state.load(KEY)) == checkpoint
    assert ok(backend.state.all()) == {KEY: checkpoint}


def test_failure_before_commit_leaves_neither_data_nor_checkpoint(
    open_backend: BackendFactory,
) -> None:
    backend = open_backend(failing=True)
    ok(backend.sink.prepare(schema()))
    first = Checkpoint(SyncMode.INCREMENTAL, Position(T0, 1))
    ok(
        backend.sink.write(
            Batch("order_hdr", "r1", (record(1, 0),), state_key=KEY, checkpoint=first)
        )
    )
    backend.db.conn.fail_commit = True
    later = Checkpoint(SyncMode.INCREMENTAL, Position(T0 + timedelta(seconds=5), 2))
    batch = Batch("order_hdr", "r2", (record(1, 5), record(2, 5)), state_key=KEY, checkpoint=later)
    result = backend.sink.write(batch)
    assert isinstance(result, IOFailure)
    assert unsafe_perform_io(result.failure()).code == "sink.write_failed"
    backend.db.conn.fail_commit = False
    assert ok(backend.state.load(KEY)) == first
    assert ok(backend.sink.snapshot("order_hdr")) == {1: T0}
    assert ok(backend.sink.write(batch)) == WriteOutcome(written=2)  # the replay
    assert ok(backend.state.load(KEY)) == later


def test_state_store_save_reset_and_corrupt(open_backend: BackendFactory) -> None:
    backend = open_backend()
    state = backend.state
    assert ok(state.load(KEY)) is None
    full = Checkpoint(SyncMode.FULL, generation="g1", last_id=42)
    ok(state.save(KEY, full))
    ok(state.save(KEY, full))
    assert ok(state.load(KEY)) == full
    ok(state.reset(KEY))
    assert ok(state.load(KEY)) is None
    with backend.db.mutex:
        cur = backend.db.conn.cursor()
        cur.execute(
            "INSERT INTO \"GNOS_STATE\" VALUES ('p', 'e', 'not json', '2024-01-01T00:00:00Z')"
        )
        cur.close()
        backend.db.conn.commit()
    failure = state.load(StateKey("p", "e"))
    assert isinstance(failure, IOFailure)
    assert unsafe_perform_io(failure.failure()).code == "state.corrupt"


def test_run_history_round_trips_reports(open_backend: BackendFactory) -> None:
    backend = open_backend()
    entity = EntityReport(
        "order_hdr",
        SyncMode.INCREMENTAL,
        read=10,
        written=8,
        stale=1,
        quarantined=1,
        pages=2,
        batches=1,
        seconds=1.25,
        status=RunStatus.SUCCEEDED,
        checkpoint=Checkpoint(SyncMode.INCREMENTAL, Position(T0, 3)),
    )
    running = SyncReport("run-1", SyncMode.INCREMENTAL, T0)
    ok(backend.runs.record(running))
    done = SyncReport(
        "run-1",
        SyncMode.INCREMENTAL,
        T0,
        finished_at=T0 + timedelta(minutes=1),
        status=RunStatus.SUCCEEDED,
        entities=(entity,),
    )
    ok(backend.runs.record(done))
    ok(backend.runs.record(SyncReport("run-2", SyncMode.FULL, T0 + timedelta(hours=1))))
    assert ok(backend.runs.get_run("run-1")) == done
    assert ok(backend.runs.get_run("nope")) is None
    runs = ok(backend.runs.list_runs(10))
    assert [r.run_id for r in runs] == ["run-2", "run-1"]
    assert len(ok(backend.runs.list_runs(1))) == 1


def test_check_and_unprepared_entity(open_backend: BackendFactory) -> None:
    backend = open_backend()
    ok(backend.sink.check())
    assert ok(backend.sink.quarantined(None, 10)) == ()  # the check's row was rolled back
    result = backend.sink.write(Batch("never_prepared", "r1", (record(1, 1),)))
    assert isinstance(result, IOFailure)
    assert unsafe_perform_io(result.failure()).code == "sink.not_prepared"
    assert ok(backend.sink.snapshot("never_prepared")) == {}
    assert ok(backend.sink.existing_ids("never_prepared", [1])) == frozenset()
    assert ok(backend.sink.soft_delete_unseen("never_prepared", "g", T0)) == 0
    assert ok(backend.sink.drop_table("never_prepared")) is False


def test_backend_implements_the_ports(open_backend: BackendFactory) -> None:
    backend = open_backend()
    sink: RecordSink = backend.sink  # mypy checks the structural match
    state: StateStore = backend.state
    runs: RunHistory = backend.runs
    assert (sink, state, runs) == (backend.sink, backend.state, backend.runs)
