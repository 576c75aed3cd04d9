"""Committing batches with their checkpoints (the ``BatchCommit`` port) and what the batch writer
checks on the way, driven through the in-memory adapters."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from returns.io import IOFailure, IOResult
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.memory import InMemorySink, InMemoryStateStore, InMemoryWms
from gruponos.application.commit import SaveAfterCommit
from gruponos.application.errors import SinkError, StateError
from gruponos.application.sync import SyncOptions
from gruponos.domain.batches import Batch
from gruponos.domain.checkpoints import Checkpoint, Position, StateKey, SyncMode
from support.fakes import world
from support.records import allocation, allocation_schema
from support.sqlsink import T0, record, schema

KEY = StateKey("incremental", "allocation")


@dataclass
class SaveFailing(InMemoryStateStore):
    """A state store whose ``fail_on_save``-th save (1-based) fails, as a full disk would."""

    fail_on_save: int | None = None
    attempts: int = 0

    def save(self, key: StateKey, checkpoint: Checkpoint) -> IOResult[None, StateError]:
        self.attempts += 1
        if self.attempts == self.fail_on_save:
            return IOFailure(StateError("state.save_failed", "disk full", {}))
        return super().save(key, checkpoint)


def _wms(n: int) -> InMemoryWms:
    wms = InMemoryWms({"allocation": allocation_schema()}, page_size=5)
    for i in range(1, n + 1):
        raw = allocation(i)
        wms.insert("allocation", i, **{k: v for k, v in raw.items() if k not in ("id", "mod_ts")})
    return wms


def test_a_failed_save_keeps_the_committed_batch_and_the_checkpoint_behind_it() -> None:
    sink, state = InMemorySink(), SaveFailing(fail_on_save=2)
    sink.prepare(allocation_schema())
    commit = SaveAfterCommit(sink, state)
    first = Checkpoint(SyncMode.INCREMENTAL, Position(T0, 1))
    unsafe_perform_io(commit.commit(Batch("allocation", "r", (record(1, 0),)), KEY, first).unwrap())
    later = Checkpoint(SyncMode.INCREMENTAL, Position(T0, 2))
    failed = commit.commit(Batch("allocation", "r", (record(2, 0),)), KEY, later)
    assert unsafe_perform_io(failed.failure()).code == "state.save_failed"
    assert sorted(sink.db.live("allocation")) == [1, 2]  # data first: the batch is committed
    assert state.checkpoints[KEY] == first  # the checkpoint behind it, never ahead


def test_a_sync_whose_checkpoint_save_fails_stops_there_and_the_next_run_converges() -> None:
    w = world(_wms(30), state_in_sink=False)
    state = SaveFailing(fail_on_save=2)
    w.state, w.commit = state, SaveAfterCommit(w.sink, state)
    failed = w.use_case().run(SyncMode.INCREMENTAL, ["allocation"])
    error = unsafe_perform_io(failed.failure())
    assert error.code == "sync.failed"
    assert "disk full" in (error.context["report"].entities[0].error or "")
    assert w.sink.writes == 2  # no batch after the one whose checkpoint was not saved
    saved = state.checkpoints[KEY].position
    assert saved is not None and saved.id == 7  # the first batch of 7
    unsafe_perform_io(w.use_case().run(SyncMode.INCREMENTAL, ["allocation"]).unwrap())
    assert {rid: r.mod_ts for rid, r in w.db.live("allocation").items()} == w.wms.truth(
        "allocation"
    )


class ParentsUnknown(InMemorySink):
    """A sink that cannot say which parents are loaded (their table does not exist yet)."""

    def existing_ids(
        self, entity: str, ids: Collection[int]
    ) -> IOResult[frozenset[int], SinkError]:
        return IOFailure(SinkError("sink.read_failed", f"no table for {entity}", {}))


REFERENCES = (("allocation", "order_dtl_id", "order_dtl"),)  # allocation i -> order_dtl 10*i


def test_children_of_parents_not_loaded_are_counted_and_reported_never_dropped() -> None:
    w = world(_wms(12))
    w.sink.prepare(schema("order_dtl"))
    parents = tuple(record(pid, 0) for pid in (10, 20, 30))
    unsafe_perform_io(w.sink.write(Batch("order_dtl", "r", parents)).unwrap())
    options = SyncOptions(batch_size=7, references=REFERENCES)
    report = unsafe_perform_io(w.use_case(options).run(SyncMode.FULL, ["allocation"]).unwrap())
    assert report.entities[0].inconsistent_references == 9
    assert report.entities[0].written == 12  # reported, never dropped
    warnings = [e.data for e in w.observer.events if e.kind == "warning"]  # the children's ids
    assert warnings == [
        {"message": "4 allocation rows refer to unknown order_dtl", "ids": [4, 5, 6, 7]},
        {"message": "5 allocation rows refer to unknown order_dtl", "ids": [8, 9, 10, 11, 12]},
    ]


def test_a_parent_the_sink_cannot_answer_for_counts_nothing() -> None:
    w = world(_wms(12))
    w.sink = ParentsUnknown(w.db)
    w.commit = w.sink
    options = SyncOptions(batch_size=7, references=REFERENCES)
    report = unsafe_perform_io(w.use_case(options).run(SyncMode.FULL, ["allocation"]).unwrap())
    assert report.entities[0].inconsistent_references == 0
    assert report.entities[0].written == 12
