"""The sync use cases driven through in-memory adapters (no mocks of our own code)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.memory import InMemoryStateStore, InMemoryWms
from gruponos.application.sync import SyncOptions
from gruponos.domain.checkpoints import Position, StateKey, SyncMode
from gruponos.domain.runs import RunStatus, SyncReport
from support.fakes import World, world
from support.records import allocation, allocation_schema


def _wms(n: int, page_size: int = 5) -> InMemoryWms:
    wms = InMemoryWms({"allocation": allocation_schema()}, page_size=page_size)
    for i in range(1, n + 1):
        wms.insert("allocation", i, **_fields(i))
    return wms


def _fields(i: int) -> dict[str, object]:
    raw = allocation(i)
    return {k: v for k, v in raw.items() if k not in ("id", "mod_ts")}


def _run(w: World, mode: SyncMode, **options: object) -> SyncReport:
    result = w.use_case(SyncOptions(**{"batch_size": 7, **options})).run(mode, ["allocation"])  # type: ignore[arg-type]
    return unsafe_perform_io(result.unwrap())


def _stored(w: World) -> dict[int, object]:
    return {rid: rec.mod_ts for rid, rec in w.db.live("allocation").items()}


def test_full_sync_loads_everything_and_reports_counts() -> None:
    w = world(_wms(23))
    report = _run(w, SyncMode.FULL)
    assert _stored(w) == w.wms.truth("allocation")
    entity = report.entities[0]
    assert (entity.read, entity.written, entity.quarantined, entity.deleted) == (23, 23, 0, 0)
    assert entity.batches == 4  # 7 + 7 + 7 + 2
    assert entity.pages == 5
    assert report.status is RunStatus.SUCCEEDED
    assert w.db.runs[report.run_id].status is RunStatus.SUCCEEDED
    checkpoint = w.db.checkpoints[StateKey("full", "allocation")]
    assert checkpoint.complete and checkpoint.last_id == 23


def test_repeated_full_syncs_soft_delete_what_disappeared_and_never_duplicate() -> None:
    w = world(_wms(10))
    _run(w, SyncMode.FULL)
    w.wms.delete("allocation", 3)
    w.wms.delete("allocation", 9)
    report = _run(w, SyncMode.FULL)
    assert report.entities[0].deleted == 2
    assert _stored(w) == w.wms.truth("allocation")
    assert len(w.db.tables["allocation"]) == 10  # deleted rows stay, marked
    w.wms.insert("allocation", 3, **_fields(3))  # a deleted id comes back
    _run(w, SyncMode.FULL)
    assert _stored(w) == w.wms.truth("allocation")


def test_an_interrupted_full_sync_resumes_its_pass_and_deletes_only_after_completion() -> None:
    w = world(_wms(20))
    _run(w, SyncMode.FULL)
    w.wms.delete("allocation", 20)
    w.wms.fail_at_page = w.wms.pages_served + 3
    failed = w.use_case().run(SyncMode.FULL, ["allocation"])
    assert not is_successful(failed)
    assert len(w.db.live("allocation")) == 20  # no soft delete after an incomplete pass
    checkpoint = w.db.checkpoints[StateKey("full", "allocation")]
    # the two pages read before the failure were committed (7 + the partial batch of 3)
    assert not checkpoint.complete and checkpoint.last_id == 10
    resumed = _run(w, SyncMode.FULL)
    assert resumed.entities[0].read == 19 - 10  # resumed after id 10, not from the start
    assert resumed.entities[0].deleted == 1
    assert _stored(w) == w.wms.truth("allocation")


def test_incremental_reads_only_what_changed_since_the_checkpoint() -> None:
    w = world(_wms(30))
    _run(w, SyncMode.INCREMENTAL, overlap=timedelta(0))
    for rid in (4, 17):
        w.wms.touch("allocation", rid, alloc_qty="1")
    w.wms.insert("allocation", 31, **_fields(31))
    report = _run(w, SyncMode.INCREMENTAL, overlap=timedelta(0))
    # the overlap of zero still re-reads the checkpoint record itself (mod_ts >= checkpoint)
    assert report.entities[0].read == 4
    assert _stored(w) == w.wms.truth("allocation")
    assert w.db.tables["allocation"][4].record.values["ALLOC_QTY"] == 1


def test_changes_during_the_read_are_not_skipped() -> None:
    w = world(_wms(40))

    def churn(wms: InMemoryWms, entity: str, page: int) -> None:
        wms.touch(entity, page)  # an early record moves to the end of the order
        wms.insert(entity, 100 + page, **_fields(100 + page))

    w.wms.between_pages = churn
    _run(w, SyncMode.INCREMENTAL)
    w.wms.between_pages = None
    assert _stored(w) == w.wms.truth("allocation")


def test_quarantined_records_are_kept_and_the_ratio_can_fail_the_run() -> None:
    w = world(_wms(10))
    w.wms.touch("allocation", 2, alloc_qty="lots")
    w.wms.touch("allocation", 5, mod_ts_extra=1, is_picking_flg="yes")
    report = _run(w, SyncMode.FULL, max_reject_ratio=0.5)
    assert report.entities[0].quarantined == 2
    assert sorted(r.record_id or "" for _, r in w.db.quarantine) == ["2", "5"]
    assert "alloc_qty" in next(r.reason for _, r in w.db.quarantine if r.record_id == "2")
    strict = w.use_case(SyncOptions(max_reject_ratio=0.1)).run(SyncMode.FULL, ["allocation"])
    error = unsafe_perform_io(strict.failure())
    assert error.code == "sync.rejected"
    assert error.context["report"].status is RunStatus.REJECTED


def test_a_held_lock_refuses_a_second_run_clearly() -> None:
    w = world(_wms(3))
    w.db.locks[StateKey("incremental", "allocation")] = "run-other"
    result = w.use_case().run(SyncMode.INCREMENTAL, ["allocation"])
    error = unsafe_perform_io(result.failure())
    assert "run-other" in error.message
    assert w.db.live("allocation") == {}


def test_dry_run_writes_nothing_and_keeps_no_state() -> None:
    w = world(_wms(12))
    report = _run(w, SyncMode.FULL, dry_run=True)
    assert report.entities[0].read == 12
    assert w.db.tables == {}
    assert w.db.checkpoints == {}
    assert w.db.runs == {}


def test_external_state_is_saved_only_after_each_commit() -> None:
    w = world(_wms(15), state_in_sink=False)
    _run(w, SyncMode.INCREMENTAL)
    state = w.state
    assert isinstance(state, InMemoryStateStore)
    committed = [cp.position.id for _, cp in state.saves if cp.position]
    assert committed == [7, 14, 15]
    assert w.db.checkpoints == {}  # nothing written to the sink's own state


def test_a_sink_failure_keeps_the_checkpoint_at_the_last_commit() -> None:
    w = world(_wms(20))
    w.sink.fail_on_write = 2
    result = w.use_case().run(SyncMode.INCREMENTAL, ["allocation"])
    assert unsafe_perform_io(result.failure()).code == "sync.failed"
    checkpoint = w.db.checkpoints[StateKey("incremental", "allocation")]
    assert checkpoint.position is not None and checkpoint.position.id == 7
    assert len(w.db.live("allocation")) == 7
    w.sink.fail_on_write = None
    _run(w, SyncMode.INCREMENTAL)
    assert _stored(w) == w.wms.truth("allocation")


def test_progress_events_cover_the_run() -> None:
    w = world(_wms(8))
    _run(w, SyncMode.FULL)
    kinds = w.observer.kinds()
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("page_read") == 2 and kinds.count("batch_written") == 2


def test_unknown_entity_fails_that_entity_only() -> None:
    w = world(_wms(3))
    result = w.use_case().run(SyncMode.FULL, ["nope", "allocation"])
    report = unsafe_perform_io(result.failure()).context["report"]
    assert [(e.entity, e.status) for e in report.entities] == [
        ("nope", RunStatus.FAILED),
        ("allocation", RunStatus.SUCCEEDED),
    ]


@pytest.mark.parametrize("mode", list(SyncMode))
def test_runs_are_recorded_with_start_and_end(mode: SyncMode) -> None:
    w = world(_wms(3))
    report = _run(w, mode)
    stored = w.db.runs[report.run_id]
    assert stored.finished_at is not None and stored.totals["read"] == 3


def test_a_complete_full_pass_bookmarks_the_incremental_pipeline() -> None:
    w = world(_wms(20))
    _run(w, SyncMode.FULL)
    incremental = w.db.checkpoints[StateKey("incremental", "allocation")]
    newest = max(w.wms.truth("allocation").items(), key=lambda item: (item[1], item[0]))
    assert incremental.position is not None
    assert (incremental.position.mod_ts, incremental.position.id) == (newest[1], newest[0])
    w.wms.touch("allocation", 3)
    report = _run(w, SyncMode.INCREMENTAL, overlap=timedelta(0))
    assert report.entities[0].read == 2  # the change, and the bookmark's own record (>=)
    assert _stored(w) == w.wms.truth("allocation")


def test_records_changed_during_a_full_pass_are_caught_by_the_next_incremental() -> None:
    w = world(_wms(30))

    def churn(wms: InMemoryWms, entity: str, page: int) -> None:
        wms.touch(entity, 1)  # already read: only an incremental sync can see this change
        wms.insert(entity, 100 + page, **_fields(100 + page))

    w.wms.between_pages = churn
    _run(w, SyncMode.FULL)
    w.wms.between_pages = None
    assert _stored(w) != w.wms.truth("allocation")
    _run(w, SyncMode.INCREMENTAL, overlap=timedelta(0))
    assert _stored(w) == w.wms.truth("allocation")


def test_an_incremental_bookmark_ahead_of_the_pass_is_kept() -> None:
    w = world(_wms(5))
    _run(w, SyncMode.INCREMENTAL)
    w.wms.touch("allocation", 2)
    _run(w, SyncMode.INCREMENTAL)
    ahead = w.db.checkpoints[StateKey("incremental", "allocation")]
    assert ahead.position is not None
    # A full pass whose high-water mark is older than the incremental bookmark leaves it alone.
    w.db.checkpoints[StateKey("incremental", "allocation")] = replace(
        ahead, position=Position(ahead.position.mod_ts + timedelta(days=1), 0)
    )
    kept = w.db.checkpoints[StateKey("incremental", "allocation")]
    _run(w, SyncMode.FULL)
    assert w.db.checkpoints[StateKey("incremental", "allocation")] == kept


@pytest.mark.parametrize("write_behind", [True, False])
def test_no_batch_after_a_failed_one_commits(write_behind: bool) -> None:
    w = world(_wms(40))
    w.sink.fail_on_write = 2
    options = SyncOptions(batch_size=7, write_behind=write_behind)
    result = w.use_case(options).run(SyncMode.INCREMENTAL, ["allocation"])
    assert unsafe_perform_io(result.failure()).code == "sync.failed"
    assert w.sink.writes == 2  # the batches after the failed one were never attempted
    assert sorted(w.db.live("allocation")) == list(range(1, 8))


def test_a_bug_in_the_writer_thread_is_raised_not_hung() -> None:
    w = world(_wms(40))

    def broken(batch: object) -> object:
        raise RuntimeError("bug in a sink")

    w.sink.write = broken  # type: ignore[method-assign, assignment]
    with pytest.raises(RuntimeError, match="bug in a sink"):
        w.use_case(SyncOptions(batch_size=3)).run(SyncMode.FULL, ["allocation"])
