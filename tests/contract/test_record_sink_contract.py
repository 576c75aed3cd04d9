"""The ``RecordSink`` contract (and the ``QuarantineStore`` reading its quarantine), once for
every adapter: see ``conftest.py``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from returns.io import IOFailure, IOResult, IOSuccess
from returns.unsafe import unsafe_perform_io

from gruponos.domain.batches import Batch, Rejected, WriteOutcome
from gruponos.domain.checkpoints import Checkpoint, Position, StateKey, SyncMode
from gruponos.domain.records import NormalizedRecord
from gruponos.domain.runs import SyncReport
from gruponos.domain.schema import FieldType, SourceField
from support.sqlsink import T0, record, schema

from .conftest import Sinks

ENTITY = "order_hdr"


def ok(result: IOResult[Any, Any]) -> Any:
    assert isinstance(result, IOSuccess), result
    return unsafe_perform_io(result.unwrap())


def at(second: int) -> Any:
    return T0 + timedelta(seconds=second)


def write(sinks: Sinks, *records: NormalizedRecord, **options: Any) -> WriteOutcome:
    outcome: WriteOutcome = ok(sinks.sink.write(Batch(ENTITY, "run-1", records, **options)))
    return outcome


def live(sinks: Sinks) -> dict[int, Any]:
    snapshot: dict[int, Any] = ok(sinks.sink.snapshot(ENTITY))
    return snapshot


def test_prepare_is_idempotent_and_evolves_the_schema_without_dropping(sinks: Sinks) -> None:
    ok(sinks.sink.prepare(schema()))
    ok(sinks.sink.prepare(schema()))  # again: nothing to change
    assert write(sinks, record(1, 1)) == WriteOutcome(written=1)
    evolved = schema(ENTITY, SourceField("lot_nbr", FieldType.VARCHAR, max_length=30))
    ok(sinks.sink.prepare(evolved))
    ok(sinks.sink.prepare(evolved))
    assert write(sinks, record(2, 2, LOT_NBR="L-7")) == WriteOutcome(written=1)
    ok(sinks.sink.prepare(schema()))  # a field the API no longer describes: nothing is dropped
    assert write(sinks, record(3, 3, LOT_NBR="L-8")) == WriteOutcome(written=1)
    assert live(sinks) == {1: at(1), 2: at(2), 3: at(3)}


def test_write_before_prepare_fails_without_writing(sinks: Sinks) -> None:
    result = sinks.sink.write(Batch(ENTITY, "run-1", (record(1, 1),)))
    assert isinstance(result, IOFailure)
    assert unsafe_perform_io(result.failure()).code == "sink.not_prepared"
    assert live(sinks) == {}


def test_upsert_is_monotonic(sinks: Sinks) -> None:
    ok(sinks.sink.prepare(schema()))
    assert write(sinks, record(1, 5), record(2, 5)) == WriteOutcome(written=2)
    assert write(sinks, record(1, 4)) == WriteOutcome(stale=1)  # older: never replaces newer
    assert write(sinks, record(2, 5, nbr="again")) == WriteOutcome(written=1)  # equal: replaces
    assert write(sinks, record(1, 6)) == WriteOutcome(written=1)
    assert live(sinks) == {1: at(6), 2: at(5)}


def test_within_a_batch_the_newest_version_of_each_id_wins(sinks: Sinks) -> None:
    ok(sinks.sink.prepare(schema()))
    batch = (record(1, 1), record(1, 3), record(1, 2), record(2, 1))
    assert write(sinks, *batch) == WriteOutcome(written=2)  # one row per id, no stale count
    assert live(sinks) == {1: at(3), 2: at(1)}


def test_a_batch_commits_with_its_checkpoint(sinks: Sinks) -> None:
    ok(sinks.sink.prepare(schema()))
    key = StateKey("incremental", ENTITY)
    checkpoint = Checkpoint(SyncMode.INCREMENTAL, Position(at(2), 2))
    write(sinks, record(1, 1), record(2, 2), state_key=key, checkpoint=checkpoint)
    assert ok(sinks.state.load(key)) == checkpoint


def test_soft_delete_marks_only_rows_the_full_pass_did_not_see(sinks: Sinks) -> None:
    sinks.needs("soft delete")
    sinks.needs("existing ids")
    ok(sinks.sink.prepare(schema()))
    write(sinks, record(1, 1), record(2, 5), record(3, 1), generation="g1")
    assert ok(sinks.sink.soft_delete_unseen(ENTITY, "g1", at(10))) == 0
    # the next pass sees 1 and an older version of 2 (stale, but seen), not 3
    assert write(sinks, record(1, 1), record(2, 4), generation="g2") == WriteOutcome(1, 1)
    assert ok(sinks.sink.soft_delete_unseen(ENTITY, "g2", at(11))) == 1
    assert ok(sinks.sink.soft_delete_unseen(ENTITY, "g2", at(12))) == 0  # already deleted
    assert live(sinks) == {1: at(1), 2: at(5)}
    assert ok(sinks.sink.existing_ids(ENTITY, [1, 2, 3, 4])) == frozenset({1, 2})
    write(sinks, record(3, 2))  # the row re-appears: live again
    assert live(sinks) == {1: at(1), 2: at(5), 3: at(2)}
    assert ok(sinks.sink.existing_ids(ENTITY, [3])) == frozenset({3})


def test_soft_delete_spares_rows_loaded_after_the_full_pass_started(sinks: Sinks) -> None:
    sinks.needs("soft delete")
    sinks.needs("run history")
    ok(sinks.sink.prepare(schema()))
    sinks.clock.now = at(100)
    write(sinks, record(1, 1), record(2, 1))  # loaded before the pass
    ok(sinks.runs.record(SyncReport("g-full", SyncMode.FULL, at(200))))
    sinks.clock.now = at(300)
    write(sinks, record(3, 1))  # an incremental run, behind the full pass
    write(sinks, record(1, 1), generation="g-full")
    assert ok(sinks.sink.soft_delete_unseen(ENTITY, "g-full", at(400))) == 1  # only id 2
    assert sorted(live(sinks)) == [1, 3]


def test_reads_of_an_entity_never_prepared_are_empty(sinks: Sinks) -> None:
    assert ok(sinks.sink.snapshot("never_prepared")) == {}
    assert ok(sinks.sink.existing_ids("never_prepared", [1, 2])) == frozenset()
    assert ok(sinks.sink.soft_delete_unseen("never_prepared", "g", at(1))) == 0


def test_unfit_rows_are_quarantined_and_the_rest_commits(sinks: Sinks) -> None:
    ok(sinks.sink.prepare(schema()))
    rejected = Rejected(ENTITY, "9", '{"id": 9}', "mod_ts: not a timestamp")
    unfit = record(2, 2, STATUS_ID=True)  # a bool is no integer
    outcome = write(sinks, record(1, 1), unfit, record(3, 3), rejected=(rejected,))
    assert outcome == WriteOutcome(written=2, quarantined=2)
    assert live(sinks) == {1: at(1), 3: at(3)}


def test_the_quarantine_store_lists_and_releases_what_the_sink_set_aside(sinks: Sinks) -> None:
    sinks.needs("quarantine store")
    ok(sinks.sink.prepare(schema()))
    rejected = Rejected(ENTITY, "9", '{"id": 9}', "mod_ts: not a timestamp")
    write(sinks, record(1, 1), record(2, 2, STATUS_ID=True), rejected=(rejected,))
    pending = ok(sinks.quarantine.pending(ENTITY, 0, 10))
    assert [(r.record_id, r.run_id) for r in pending] == [("9", "run-1"), ("2", "run-1")]
    assert pending[0].reason == "mod_ts: not a timestamp"
    assert pending[0].payload == '{"id": 9}'
    assert "STATUS_ID" in pending[1].reason
    assert pending[0].seq < pending[1].seq
    assert ok(sinks.quarantine.pending(ENTITY, pending[0].seq, 10)) == pending[1:]
    assert ok(sinks.quarantine.pending("other", 0, 10)) == ()
    assert ok(sinks.quarantine.newest(None, 1)) == pending[1:]
    ok(sinks.quarantine.release([pending[0].seq, 10_000]))  # unknown seqs are ignored
    assert ok(sinks.quarantine.pending(ENTITY, 0, 10)) == pending[1:]


def test_check_succeeds_on_a_working_sink(sinks: Sinks) -> None:
    ok(sinks.sink.check())
