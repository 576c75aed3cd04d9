"""The ``RunPlans`` contract: the lease and fence rules of a distributed run's plan, stated once,
held by the in-memory store, SQLite and PostgreSQL (Oracle's SQL: tests/unit/sql/
test_oracle_plans.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.memory import InMemoryDatabase, InMemorySink
from gruponos.adapters.memory.plans import InMemoryRunPlans
from gruponos.adapters.sql import open_sql_backend
from gruponos.adapters.sql.plans import SqlRunPlans
from gruponos.application.ports import RecordSink, RunPlans, TaskCommit
from gruponos.domain.batches import Batch
from gruponos.domain.checkpoints import Position, SyncMode
from gruponos.domain.runs import RunStatus
from gruponos.domain.scaleout import RunPlan, TaskCounts, TaskNotes, TaskState, TaskStatus
from support.distributed import err, ok
from support.sqlsink import T0, pg_schema, record, schema

LEASE = timedelta(seconds=60)
HW = Position(T0, 99)


@dataclass
class Store:
    plans: RunPlans
    sink: RecordSink
    ids: Any  # () -> the ids stored in the sink's order_hdr table


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        db = InMemoryDatabase()
        sink = InMemorySink(db)
        ok(sink.prepare(schema()))
        yield Store(InMemoryRunPlans(sink), sink, lambda: set(db.live("order_hdr")))
        return
    with pg_schema() if request.param == "postgres" else _nothing() as pg:
        url = pg or f"sqlite:///{tmp_path / 'sink.db'}"
        backend = unsafe_perform_io(open_sql_backend(url).unwrap())
        ok(backend.sink.prepare(schema()))
        try:
            yield Store(
                SqlRunPlans(backend.sink),
                backend.sink,
                lambda: set(cast("dict[int, Any]", ok(backend.sink.snapshot("order_hdr")))),
            )
        finally:
            backend.close()


class _nothing:  # noqa: N801 - a context manager standing for "no PostgreSQL schema"
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _plan(store: Store, run_id: str = "run-1", windows: int = 3) -> tuple[TaskState, ...]:
    plan = RunPlan(
        run_id,
        SyncMode.FULL,
        ("order_hdr",),
        T0,
        high_water=(("order_hdr", HW),),
        triggered_by="api:ops",
    )
    tasks = tuple(
        TaskState(
            run_id,
            "order_hdr",
            i,
            "window",
            after_id=None if i == 0 else 10 * i,
            until_id=None if i == windows - 1 else 10 * i + 11,
            lease_until=T0 + LEASE,
        )
        for i in range(windows)
    )
    assert ok(store.plans.create(plan, tasks)) is True
    return tasks


def _claim(store: Store, index: int, owner: str, at: timedelta = timedelta(0)) -> TaskState | None:
    now = T0 + at
    return cast(
        "TaskState | None",
        ok(store.plans.claim("run-1", "order_hdr", index, owner, now, now + LEASE)),
    )


def test_create_is_once_and_reads_back_what_was_planned(store: Store) -> None:
    tasks = _plan(store)
    again = RunPlan("run-1", SyncMode.INCREMENTAL, ("other",), T0)
    assert ok(store.plans.create(again, ())) is False
    plan = cast("RunPlan", ok(store.plans.get("run-1")))
    assert (plan.mode, plan.entities, plan.created_at) == (SyncMode.FULL, ("order_hdr",), T0)
    assert plan.high_water_of("order_hdr") == HW and plan.triggered_by == "api:ops"
    assert ok(store.plans.tasks("run-1")) == tasks
    assert ok(store.plans.get("nope")) is None and ok(store.plans.tasks("nope")) == ()
    assert [p.run_id for p in cast("tuple[RunPlan, ...]", ok(store.plans.open_plans()))] == [
        "run-1"
    ]


def test_a_lease_is_taken_once_until_it_expires(store: Store) -> None:
    _plan(store)
    taken = _claim(store, 0, "w1")
    assert taken is not None and (taken.owner, taken.attempts) == ("w1", 1)
    assert taken.lease_until == T0 + LEASE
    assert _claim(store, 0, "w2", timedelta(seconds=59)) is None  # live: refused
    again = _claim(store, 0, "w1", timedelta(seconds=30))  # the holder renews it
    assert again is not None and again.attempts == 2
    later = _claim(store, 0, "w2", timedelta(seconds=90))  # 30 + 60 passed: expired
    assert later is not None and later.owner == "w2"


def test_a_done_task_is_never_taken_again(store: Store) -> None:
    tasks = _plan(store)
    taken = _claim(store, 1, "w1")
    assert taken is not None
    assert ok(store.plans.end_task(taken, "w2", TaskStatus.DONE, TaskCounts())) is False
    assert ok(store.plans.end_task(taken, "w1", TaskStatus.DONE, TaskCounts(pages=4))) is True
    assert _claim(store, 1, "w1", timedelta(hours=1)) is None
    assert _claim(store, 1, "w2", timedelta(hours=1)) is None
    row = cast("tuple[TaskState, ...]", ok(store.plans.tasks("run-1")))[1]
    assert (row.status, row.owner, row.counts.pages) == (TaskStatus.DONE, None, 4)
    assert row.task == tasks[1].task


def test_a_batch_commits_with_its_progress_only_under_the_lease(store: Store) -> None:
    _plan(store)
    taken = _claim(store, 0, "w1")
    assert taken is not None
    batch = Batch("order_hdr", "run-1", (record(1, 1), record(2, 1)), generation="run-1")
    progress = TaskCommit(read=2, lease_until=T0 + 2 * LEASE, last_id=2)
    outcome = ok(store.plans.commit(batch, taken, "w1", progress))
    row = cast("tuple[TaskState, ...]", ok(store.plans.tasks("run-1")))[0]
    assert (row.last_id, row.counts.read, row.counts.written, row.counts.batches) == (2, 2, 2, 1)
    assert row.lease_until == T0 + 2 * LEASE
    assert outcome is not None and store.ids() == {1, 2}
    # Another owner (a duplicate delivery, a worker whose lease was taken over): nothing lands.
    intruder = Batch("order_hdr", "run-1", (record(3, 1),), generation="run-1")
    error = err(store.plans.commit(intruder, taken, "w2", replace(progress, last_id=3)))
    assert error.code == "plan.lease_lost"
    assert store.ids() == {1, 2}
    row = cast("tuple[TaskState, ...]", ok(store.plans.tasks("run-1")))[0]
    assert (row.last_id, row.counts.read) == (2, 2)


def test_a_released_task_stays_pending_and_free(store: Store) -> None:
    _plan(store)
    taken = _claim(store, 2, "w1")
    assert taken is not None
    ok(store.plans.release(taken, "w1", TaskCounts(pages=2, retried_requests=1)))
    row = cast("tuple[TaskState, ...]", ok(store.plans.tasks("run-1")))[2]
    assert (row.status, row.owner, row.counts.pages, row.counts.retried_requests) == (
        TaskStatus.PENDING,
        None,
        2,
        1,
    )
    assert _claim(store, 2, "w2", timedelta(seconds=1)) is not None


def test_cancel_ends_the_pending_tasks_and_fences_their_commits(store: Store) -> None:
    _plan(store)
    taken = _claim(store, 0, "w1")
    assert taken is not None
    done = _claim(store, 1, "w1")
    assert done is not None
    ok(store.plans.end_task(done, "w1", TaskStatus.DONE, TaskCounts()))
    assert ok(store.plans.cancel("run-1", "cancelled over the API")) == 2
    rows = cast("tuple[TaskState, ...]", ok(store.plans.tasks("run-1")))
    assert [r.status for r in rows] == [TaskStatus.CANCELLED, TaskStatus.DONE, TaskStatus.CANCELLED]
    assert rows[0].error == "cancelled over the API"
    batch = Batch("order_hdr", "run-1", (record(5, 1),), generation="run-1")
    progress = TaskCommit(read=1, lease_until=T0 + LEASE, last_id=5)
    assert err(store.plans.commit(batch, taken, "w1", progress)).code == "plan.lease_lost"


def test_a_failed_task_is_final_and_fences_its_holder(store: Store) -> None:
    _plan(store)
    taken = _claim(store, 0, "w1")
    assert taken is not None
    assert ok(store.plans.fail_task("run-1", "order_hdr", 0, "WMS kept failing")) is True
    assert ok(store.plans.fail_task("run-1", "order_hdr", 0, "again")) is False
    row = cast("tuple[TaskState, ...]", ok(store.plans.tasks("run-1")))[0]
    assert (row.status, row.owner, row.error) == (TaskStatus.FAILED, None, "WMS kept failing")
    batch = Batch("order_hdr", "run-1", (record(5, 1),), generation="run-1")
    progress = TaskCommit(read=1, lease_until=T0 + LEASE, last_id=5)
    assert err(store.plans.commit(batch, taken, "w1", progress)).code == "plan.lease_lost"
    assert _claim(store, 0, "w2", timedelta(hours=1)) is None


def test_one_finaliser_at_a_time_and_a_closed_run_takes_no_lease(store: Store) -> None:
    _plan(store)
    held = cast("RunPlan | None", ok(store.plans.claim_run("run-1", "f1", T0, T0 + LEASE)))
    assert held is not None and held.owner == "f1"
    assert ok(store.plans.claim_run("run-1", "f2", T0, T0 + LEASE)) is None
    ok(store.plans.note_deleted("run-1", "order_hdr", 7))
    noted = cast("RunPlan", ok(store.plans.get("run-1")))
    assert noted.deleted == (("order_hdr", 7),)
    closed = replace(noted, status=RunStatus.SUCCEEDED, finished_at=T0 + LEASE, error=None)
    assert ok(store.plans.close_run(closed, "f2")) is False
    assert ok(store.plans.close_run(closed, "f1")) is True
    stored = cast("RunPlan", ok(store.plans.get("run-1")))
    assert (stored.status, stored.finished_at, stored.deleted) == (
        RunStatus.SUCCEEDED,
        T0 + LEASE,
        (("order_hdr", 7),),
    )
    assert ok(store.plans.open_plans()) == ()
    assert ok(store.plans.claim_run("run-1", "f1", T0, T0 + LEASE)) is None
    assert _claim(store, 0, "w1", timedelta(hours=1)) is None  # a closed run's tasks neither


def test_notes_and_end_counts_add_up_over_interruptions(store: Store) -> None:
    _plan(store)
    first = _claim(store, 0, "w1")
    assert first is not None
    notes = TaskNotes((("wave_id", 2),), ("the source changed",))
    ok(store.plans.release(first, "w1", TaskCounts(inconsistent_references=1), notes))
    second = _claim(store, 0, "w2", timedelta(seconds=1))
    assert second is not None
    more = TaskNotes((("status_id", 1), ("wave_id", 3)), ("the source changed", "other"))
    ended = store.plans.end_task(
        second, "w2", TaskStatus.DONE, TaskCounts(inconsistent_references=2), notes=more
    )
    assert ok(ended) is True
    row = cast("tuple[TaskState, ...]", ok(store.plans.tasks("run-1")))[0]
    assert row.counts.inconsistent_references == 3
    assert row.notes == TaskNotes(
        (("status_id", 1), ("wave_id", 5)), ("the source changed", "other")
    )
