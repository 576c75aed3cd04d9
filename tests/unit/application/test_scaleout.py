"""The distributed run model (plan, leased tasks, finaliser) driven through in-memory adapters."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import cast

import pytest
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.application.lifecycle import StopSignal
from gruponos.application.ports import RunRequest, TaskCommit
from gruponos.application.scaleout import RunProgress, Task, TaskOutcome, TaskResult
from gruponos.application.sync import SyncEntities
from gruponos.domain.batches import Batch
from gruponos.domain.checkpoints import StateKey, SyncMode
from gruponos.domain.runs import RunStatus, SyncReport
from gruponos.domain.scaleout import TaskState, TaskStatus
from support.distributed import LEASE, Cluster, Killed, cluster, err, ok, source

FULL = RunRequest("run-1", SyncMode.FULL, ("allocation",), triggered_by="test")


def _plan(c: Cluster, request: RunRequest = FULL) -> tuple[Task, ...]:
    return cast("tuple[Task, ...]", ok(c.runs_model.plan(request)))


def _execute(
    c: Cluster, task: Task, owner: str = "w1", stop: StopSignal | None = None
) -> TaskOutcome:
    return cast("TaskOutcome", ok(c.runs_model.execute(task, owner, stop)))


def _finalise(c: Cluster, run_id: str = "run-1") -> SyncReport | None:
    return cast("SyncReport | None", ok(c.runs_model.finalise(run_id)))


def _rows(c: Cluster, run_id: str = "run-1") -> tuple[TaskState, ...]:
    return cast("tuple[TaskState, ...]", ok(c.plans.tasks(run_id)))


def _claim(c: Cluster, index: int, owner: str, seconds: float = LEASE) -> TaskState:
    """``owner`` takes task ``index``'s lease for ``seconds`` (a worker that then dies)."""
    now = c.clock.now()
    taken = ok(
        c.plans.claim("run-1", "allocation", index, owner, now, now + timedelta(seconds=seconds))
    )
    return cast("TaskState", taken)


def _run_all(c: Cluster, request: RunRequest = FULL) -> SyncReport:
    for task in _plan(c, request):
        assert _execute(c, task).result is TaskResult.DONE
    report = _finalise(c, request.run_id)
    assert report is not None
    return report


def test_task_round_trips_through_json_and_refuses_garbage() -> None:
    task = Task("run-1", "window", "allocation", 3)
    assert Task.from_json(task.to_json()) == task
    for bad in (
        {**task.to_json(), "kind": "shell"},
        {**task.to_json(), "index": -1},
        {**task.to_json(), "index": True},
        {**task.to_json(), "run_id": 7},
    ):
        with pytest.raises(ValueError, match=r"kind|index|strings"):
            Task.from_json(bad)


def test_plan_splits_the_ids_into_windows_and_records_the_run_running() -> None:
    c = cluster(source(45), window_ids=10)
    tasks = _plan(c)
    assert [t.index for t in tasks] == [0, 1, 2, 3, 4]
    assert {t.kind for t in tasks} == {"window"}
    rows = _rows(c)
    # Disjoint windows that cover every id, the outer ones open-ended.
    assert rows[0].after_id is None and rows[-1].until_id is None
    for left, right in itertools.pairwise(rows):
        assert left.until_id == (right.after_id or 0) + 1
    assert c.db.runs["run-1"].status is RunStatus.RUNNING
    assert c.db.runs["run-1"].triggered_by == "test"


def test_an_entity_named_twice_is_planned_once() -> None:
    c = cluster(source(45))
    twice = RunRequest("run-1", SyncMode.FULL, ("allocation", "allocation"))
    assert len(_plan(c, twice)) == 5
    assert _run_all(c, twice).entities[0].read == 45


def test_plan_is_idempotent_and_returns_only_the_tasks_not_done() -> None:
    c = cluster(source(45))
    tasks = _plan(c)
    assert _plan(c) == tasks
    _execute(c, tasks[1])
    assert _plan(c) == tuple(t for t in tasks if t.index != 1)
    assert len(_rows(c)) == len(tasks)  # nothing planned twice


def test_a_distributed_full_run_equals_the_source_and_sums_the_windows() -> None:
    c = cluster(source(45))
    report = _run_all(c)
    assert report.status is RunStatus.SUCCEEDED
    assert c.live() == c.wms.truth("allocation")
    entity = report.entities[0]
    assert (entity.read, entity.written, entity.stale, entity.deleted) == (45, 45, 0, 0)
    assert entity.batches == sum(r.counts.batches for r in _rows(c))
    assert c.db.runs["run-1"] == report
    full = c.db.checkpoints[StateKey("full", "allocation")]
    assert full.complete and full.generation == "run-1" and full.last_id == 45
    assert entity.checkpoint == full


def test_the_incremental_bookmark_is_the_high_water_mark_taken_when_planning() -> None:
    wms = source(30)
    c = cluster(wms)
    tasks = _plan(c)
    high_water = unsafe_perform_io(wms.latest("allocation").unwrap()).value
    wms.insert("allocation", 31, order_nbr="late")  # after the mark: incremental's job
    for task in tasks:
        _execute(c, task)
    _finalise(c)
    bookmark = c.db.checkpoints[StateKey("incremental", "allocation")]
    assert bookmark.position == high_water


def test_a_duplicate_delivery_of_a_done_task_writes_nothing() -> None:
    c = cluster(source(45))
    task = _plan(c)[2]
    first = _execute(c, task, "w1")
    commits, writes = c.plans.commits, c.sink.writes
    again = _execute(c, task, "w2")
    assert (first.result, again.result) == (TaskResult.DONE, TaskResult.ALREADY_DONE)
    assert (c.plans.commits, c.sink.writes) == (commits, writes)
    assert _rows(c)[2].counts.read == first.records


def test_a_duplicate_delivery_while_the_lease_is_live_writes_nothing() -> None:
    c = cluster(source(45))
    task = _plan(c)[0]
    _claim(c, task.index, "w1")
    outcome = _execute(c, task, "w2")
    assert outcome.result is TaskResult.HELD and "w1" in outcome.detail
    assert c.sink.writes == 0


def test_a_task_killed_mid_window_resumes_from_its_committed_position() -> None:
    c = cluster(source(45), batch_size=3)
    task = _plan(c)[0]  # ids 1..9: three batches of three
    c.plans.crash_after = 2
    with pytest.raises(Killed):
        _execute(c, task, "w1")
    row = _rows(c)[0]
    assert row.status is TaskStatus.PENDING and row.owner == "w1"
    assert row.last_id == 6 and row.counts.read == 6  # the two committed batches, no more
    assert set(c.live()) == set(range(1, 7))  # the checkpoint is not ahead of the data
    # The dead worker's lease holds the task until it expires ...
    assert _execute(c, task, "w2").result is TaskResult.HELD
    c.clock.advance(LEASE + 1)
    resumed = _execute(c, task, "w2")
    assert resumed.result is TaskResult.DONE and resumed.records == 3  # ids 7..9 only
    row = _rows(c)[0]
    assert (row.counts.read, row.counts.written, row.counts.stale, row.attempts) == (9, 9, 0, 2)


def test_an_expired_lease_is_taken_over_and_the_old_owner_can_no_longer_commit() -> None:
    c = cluster(source(45))
    task = _plan(c)[1]
    now = c.clock.now()
    old = cast(
        "TaskState", ok(c.plans.claim("run-1", "allocation", 1, "w1", now, c.clock.advance(LEASE)))
    )
    c.clock.advance(1)
    assert _execute(c, task, "w2").result is TaskResult.DONE
    batch = Batch("allocation", "run-1", ())
    late = c.plans.commit(batch, old, "w1", TaskCommit(read=0, lease_until=c.clock.now()))
    assert not is_successful(late)
    assert err(late).code == "plan.lease_lost"


def test_finalise_waits_for_every_task_then_closes_once() -> None:
    c = cluster(source(45))
    tasks = _plan(c)
    for task in tasks[:-1]:
        _execute(c, task)
    assert _finalise(c) is None
    assert c.db.runs["run-1"].status is RunStatus.RUNNING
    _execute(c, tasks[-1])
    report = _finalise(c)
    assert report is not None and report.status is RunStatus.SUCCEEDED
    assert _finalise(c) == report
    assert c.runs.recorded.count(("run-1", "succeeded")) == 1
    assert cast("RunProgress", ok(c.runs_model.progress("run-1"))).finished


def test_soft_deletes_across_windows_mark_exactly_what_the_source_lost() -> None:
    wms = source(45)
    c = cluster(wms)
    _run_all(c)
    for rid in (3, 17, 44):  # in three different windows
        wms.delete("allocation", rid)
    report = _run_all(c, RunRequest("run-2", SyncMode.FULL, ("allocation",)))
    assert report.entities[0].deleted == 3
    assert c.live() == wms.truth("allocation")
    assert _run_all(c, RunRequest("run-3", SyncMode.FULL, ("allocation",))).entities[0].deleted == 0


def test_an_incremental_run_is_one_task_per_entity_and_moves_the_bookmark() -> None:
    wms = source(20)
    c = cluster(wms)
    _run_all(c)
    wms.touch("allocation", 5, order_nbr="changed")
    request = RunRequest("inc-1", SyncMode.INCREMENTAL, ("allocation",))
    tasks = _plan(c, request)
    assert tasks == (Task("inc-1", "entity", "allocation", 0),)
    report = _run_all(c, request)
    assert report.status is RunStatus.SUCCEEDED
    assert c.live() == wms.truth("allocation")
    newest = unsafe_perform_io(wms.latest("allocation").unwrap()).value
    assert c.db.checkpoints[StateKey("incremental", "allocation")].position == newest


def test_a_second_run_of_the_same_pipeline_is_refused_while_one_is_open() -> None:
    c = cluster(source(20))
    _plan(c)
    refused = c.runs_model.plan(RunRequest("run-2", SyncMode.FULL, ("allocation",)))
    assert not is_successful(refused)
    error = err(refused)
    assert error.code == "state.locked" and "run-1" in error.message
    # the other pipeline is not blocked
    assert _plan(c, RunRequest("inc-1", SyncMode.INCREMENTAL, ("allocation",)))
    ok(c.runs_model.cancel("run-1", "cancelled by test"))
    assert _plan(c, RunRequest("run-2", SyncMode.FULL, ("allocation",)))


def test_a_live_local_run_holding_the_lock_refuses_the_plan() -> None:
    c = cluster(source(20))
    lease = ok(c.state.lock(StateKey("full", "allocation"), "local-run"))
    refused = c.runs_model.plan(FULL)
    assert err(refused).code == "state.locked"
    lease.release()  # type: ignore[attr-defined]
    assert _plan(c)


def test_a_refused_plan_releases_the_run_locks_it_took() -> None:
    c = cluster(source(20))
    other = ok(c.state.lock(StateKey("full", "order_hdr"), "local-run"))
    both = RunRequest("run-1", SyncMode.FULL, ("allocation", "order_hdr"))
    assert err(c.runs_model.plan(both)).code == "state.locked"
    ok(c.state.lock(StateKey("full", "allocation"), "someone-else"))  # free again
    other.release()  # type: ignore[attr-defined]


def test_cancel_closes_the_run_and_stops_its_tasks() -> None:
    c = cluster(source(45))
    tasks = _plan(c)
    _execute(c, tasks[0])
    ok(c.runs_model.cancel("run-1", "cancelled over the API"))
    report = c.db.runs["run-1"]
    assert report.status is RunStatus.CANCELLED
    assert "cancelled over the API" in (report.error or "")
    writes = c.sink.writes
    assert _execute(c, tasks[1]).result is TaskResult.CANCELLED
    assert c.sink.writes == writes


def test_stop_commits_the_batch_in_flight_and_leaves_the_task_to_resume() -> None:
    c = cluster(source(45), batch_size=3)
    task = _plan(c)[0]
    stop = StopSignal()
    stop.request(RunStatus.INTERRUPTED, "SIGTERM")
    outcome = _execute(c, task, "w1", stop)
    assert outcome.result is TaskResult.INTERRUPTED and outcome.requeue
    row = _rows(c)[0]
    assert row.status is TaskStatus.PENDING and row.owner is None
    assert _execute(c, task, "w2").result is TaskResult.DONE  # no wait for a lease


def test_stale_lists_unclaimed_and_expired_tasks_of_open_runs_only() -> None:
    c = cluster(source(45))
    tasks = _plan(c)
    assert ok(c.runs_model.stale(c.clock.now())) == ()
    _execute(c, tasks[0])
    _claim(c, 1, "dead", LEASE * 3)
    c.clock.advance(LEASE * 2)
    # after a lease: the never-claimed ones are stale, the live lease and the done one are not
    assert ok(c.runs_model.stale(c.clock.now())) == tasks[2:]
    c.clock.advance(LEASE * 2)
    assert ok(c.runs_model.stale(c.clock.now())) == tasks[1:]


def test_give_up_fails_the_task_and_the_run_closes_failed_without_soft_deletes() -> None:
    wms = source(45)
    c = cluster(wms)
    _run_all(c)
    wms.delete("allocation", 2)
    request = RunRequest("run-2", SyncMode.FULL, ("allocation",))
    tasks = _plan(c, request)
    for task in tasks[1:]:
        _execute(c, task)
    assert ok(c.runs_model.give_up(tasks[0], "WMS kept answering 500"))
    report = _finalise(c, "run-2")
    assert report is not None and report.status is RunStatus.FAILED
    assert "500" in (report.error or "")
    assert 2 in c.live()  # a failed pass deletes nothing
    assert c.db.checkpoints[StateKey("full", "allocation")].generation != "run-2"


def test_a_failed_read_commits_what_was_read_and_gives_the_lease_up_for_a_retry() -> None:
    wms = source(45)
    c = cluster(wms, batch_size=3)
    task = _plan(c)[0]  # ids 1..9, pages of five
    wms.fail_at_page = wms.pages_served + 2
    failed = c.runs_model.execute(task, "w1")
    assert err(failed).code == "wms.retries_exhausted"
    row = _rows(c)[0]
    assert row.owner is None and row.status is TaskStatus.PENDING
    assert row.last_id == 5 and set(c.live()) == set(range(1, 6))  # the first page committed
    resumed = _execute(c, task, "w2")
    assert resumed.result is TaskResult.DONE and resumed.records == 4


def _local(c: Cluster) -> SyncEntities:
    """The in-process sync over the same storage, as the container wires it with the plans."""
    return SyncEntities(
        c.wms,
        c.sink,
        c.state,
        c.runs,
        c.clock,
        lambda: "local-1",
        c.options,
        commit=c.sink,
        plans=c.plans,
    )


def test_a_local_run_of_the_pipeline_is_refused_while_a_distributed_one_is_open() -> None:
    c = cluster(source(20))
    _plan(c)
    refused = _local(c).run(SyncMode.FULL, ["allocation"])
    report = err_report(refused)
    assert report.status is RunStatus.FAILED
    assert "distributed run run-1 is still open" in (report.entities[0].error or "")
    assert c.live() == {}  # nothing loaded
    # ... and it did not take the open distributed run for abandoned
    assert c.db.runs["run-1"].status is RunStatus.RUNNING
    assert _plan(c)  # still open, still plannable
    # the incremental pipeline is not blocked by a full distributed run
    ok(_local(c).run(SyncMode.INCREMENTAL, ["allocation"]))


def err_report(result: object) -> SyncReport:
    error = err(result)  # type: ignore[arg-type]
    return cast("SyncReport", error.context["report"])


def test_the_report_carries_the_data_quality_notes_a_local_run_would() -> None:
    wms = source(45)  # wave_id is required by describe yet null in records: counted, kept
    distributed = _run_all(cluster(wms)).entities[0]
    local_cluster = cluster(wms)
    local = cast("SyncReport", ok(_local(local_cluster).run(SyncMode.FULL, ["allocation"])))
    expected = local.entities[0]
    assert dict(distributed.required_nulls)["wave_id"] > 0
    assert distributed.required_nulls == expected.required_nulls
    assert distributed.warnings == expected.warnings
    assert distributed.inconsistent_references == expected.inconsistent_references
