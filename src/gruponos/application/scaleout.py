"""Distributed runs: a coordinator plans, workers execute tasks, a finaliser closes the run.

The executor (Celery, ``adapters/executors``) only moves :class:`Task` values around; every fact
about a run lives in the sink's database, in its plan (the :class:`~gruponos.application.ports.
RunPlans` port): one row per task with its status, lease, committed position and counts. So

- :meth:`DistributedRuns.plan` (the coordinator) describes and prepares each entity, measures a
  full pass's id bounds and the source's high-water mark, splits the ids into windows of about
  ``window_ids`` ids and stores one row per window (an incremental run: one row per entity);
  planning the same run id again returns the same tasks (those not done);
- :meth:`DistributedRuns.execute` (a worker) takes the task's lease, resumes from the row's
  committed position, commits each batch *with* the row's progress and a renewed lease in one
  fenced transaction, and marks the row done at the window's end; a duplicate delivery finds the
  lease held (or the row done) and writes nothing;
- :meth:`DistributedRuns.finalise` reads completion from the rows: once every task is done it
  soft-deletes what the full pass did not see, marks the full checkpoint complete, bookmarks the
  incremental pipeline at the high-water mark and records the run's report, once;
- :meth:`DistributedRuns.stale` lists the tasks a reaper re-enqueues (lease expired, or never
  claimed within a lease), and :meth:`DistributedRuns.open_runs` the runs it finalises.

Changes to the interface first announced (kept stable since): ``Task`` lives in
:mod:`gruponos.domain.scaleout` (re-exported here); ``finalise`` takes an optional ``owner``;
:meth:`DistributedRuns.give_up` marks a task failed once the executor stops retrying it;
:func:`distributed_sink_refusal` lives in :mod:`gruponos.adapters.sql.plans` (it reads a URL).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any

from returns.io import IOFailure, IOResult, IOSuccess
from returns.pipeline import is_successful

from gruponos.application.batches import BatchWriter
from gruponos.application.errors import PortError, StateError
from gruponos.application.lifecycle import StopSignal
from gruponos.application.ports import (
    Answer,
    Clock,
    Lease,
    Page,
    RecordSink,
    RunHistory,
    RunPlans,
    RunRequest,
    StateStore,
    SyncEvent,
    SyncObserver,
    TaskCommit,
    WmsSource,
)
from gruponos.application.prefetch import Ended, Merged
from gruponos.application.railway import each
from gruponos.application.sync import SyncOptions
from gruponos.domain.batches import Batch, WriteOutcome
from gruponos.domain.checkpoints import (
    Checkpoint,
    FullWindow,
    Position,
    ReadWindow,
    StateKey,
    SyncMode,
    incremental_window,
    split_ids,
)
from gruponos.domain.normalize import RecordNormalizer
from gruponos.domain.runs import EntityReport, RunStatus, SyncReport
from gruponos.domain.scaleout import (
    RunPlan,
    Task,
    TaskCounts,
    TaskKind,
    TaskState,
    TaskStatus,
    planned_status,
)
from gruponos.domain.schema import EntitySchema

__all__ = [
    "DistributedOptions",
    "DistributedRuns",
    "RunProgress",
    "Task",
    "TaskOutcome",
    "TaskResult",
]

#: The code of a fenced commit refused because the lease is no longer the committer's.
LEASE_LOST = "plan.lease_lost"


@dataclass(frozen=True, slots=True)
class DistributedOptions:
    """``settings.executor``'s part of the run model."""

    window_ids: int = 100_000
    lease_seconds: float = 300.0

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)


class TaskResult(StrEnum):
    DONE = "done"  # this execution read the task to its end
    ALREADY_DONE = "already_done"  # nothing to do: the task was done (or failed) before
    HELD = "held"  # another live owner holds the lease: nothing written
    INTERRUPTED = "interrupted"  # stopped (SIGTERM): the batch in flight committed; re-enqueue
    LEASE_LOST = "lease_lost"  # the lease expired and was taken over mid-task: stopped writing
    CANCELLED = "cancelled"  # the run was cancelled (or is closed): nothing more to do
    UNKNOWN = "unknown"  # no such task in any plan


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """What one execution of a task did; ``requeue`` says whether the executor sends it again."""

    task: Task
    result: TaskResult
    records: int = 0  # read by this execution
    detail: str = ""

    @property
    def requeue(self) -> bool:
        return self.result is TaskResult.INTERRUPTED


@dataclass(frozen=True, slots=True)
class RunProgress:
    """How far a distributed run is, from its plan's rows (for the CLI's wait and the API)."""

    run_id: str
    mode: SyncMode
    status: RunStatus
    tasks_done: int
    tasks_total: int
    read: int
    written: int
    quarantined: int
    failed: int = 0

    @property
    def finished(self) -> bool:
        return self.status is not RunStatus.RUNNING


class _NullObserver:
    def on_event(self, event: SyncEvent) -> None:
        """Nobody listens."""


class DistributedRuns:
    """The use cases of a distributed run (coordinator, worker task, finaliser, reaper).

    Built by the container from the same ports as :class:`~gruponos.application.sync.
    SyncEntities`, plus the :class:`RunPlans` store (in the sink's database).
    """

    def __init__(
        self,
        source: WmsSource,
        sink: RecordSink,
        state: StateStore,
        runs: RunHistory,
        plans: RunPlans,
        clock: Clock,
        options: SyncOptions | None = None,
        distributed: DistributedOptions | None = None,
        observer: SyncObserver | None = None,
    ) -> None:
        self._source = source
        self._sink = sink
        self._state = state
        self._runs = runs
        self._plans = plans
        self._clock = clock
        self._options = options or SyncOptions()
        self._dist = distributed or DistributedOptions()
        self._observer: SyncObserver = observer or _NullObserver()

    # -- the coordinator --------------------------------------------------------------------

    def plan(self, request: RunRequest) -> IOResult[tuple[Task, ...], PortError]:
        """Plan the run (see the module's docstring); the tasks to enqueue: those not done.

        Refused (``state.locked``) while another run holds the run lock of one of its
        (pipeline, entity) pairs: a live local run, or a distributed run not closed yet.
        """
        if request.dry_run:
            return IOFailure(
                StateError(
                    "plan.dry_run",
                    "a dry run is not distributed: run it with the local executor",
                    {"run_id": request.run_id},
                )
            )
        existing: IOResult[RunPlan | None, PortError] = self._plans.get(request.run_id)
        return existing.bind(partial(self._plan_or_resume, request))

    def _plan_or_resume(
        self, request: RunRequest, plan: RunPlan | None
    ) -> IOResult[tuple[Task, ...], PortError]:
        if plan is not None:
            return self._pending_tasks(request.run_id)
        keys = [StateKey(self._pipeline(request.mode), e) for e in request.entities]
        locked: IOResult[tuple[Lease, ...], PortError] = each(
            keys, lambda key: self._state.lock(key, request.run_id)
        )
        planned: IOResult[tuple[Task, ...], PortError] = locked.bind(
            partial(self._plan_holding, request)
        )
        return planned

    def _plan_holding(
        self, request: RunRequest, leases: tuple[Lease, ...]
    ) -> IOResult[tuple[Task, ...], PortError]:
        """Planning under the run locks of every (pipeline, entity): two coordinators of the
        same pipeline take turns, and the second sees the first's open plan."""
        try:
            opened: IOResult[tuple[RunPlan, ...], PortError] = self._plans.open_plans()
            return (
                opened.bind(partial(self._refuse_overlap, request))
                .bind(lambda _: self._measure_all(request))
                .bind(partial(self._store, request))
            )
        finally:
            for lease in leases:
                lease.release()

    def _refuse_overlap(
        self, request: RunRequest, opened: tuple[RunPlan, ...]
    ) -> IOResult[None, PortError]:
        for other in opened:
            if other.run_id == request.run_id or other.mode is not request.mode:
                continue
            shared = sorted(set(other.entities) & set(request.entities))
            if shared:
                return IOFailure(
                    StateError(
                        "state.locked",
                        f"run {other.run_id} ({other.mode.value}, distributed) is still open on "
                        f"{', '.join(shared)}: wait for it to end or cancel it",
                        {"run_id": request.run_id, "holder": other.run_id},
                    )
                )
        return IOSuccess(None)

    def _measure_all(
        self, request: RunRequest
    ) -> IOResult[tuple[tuple[str, Position | None, tuple[FullWindow, ...]], ...], PortError]:
        return each(request.entities, partial(self._measure, request.mode))

    def _measure(
        self, mode: SyncMode, entity: str
    ) -> IOResult[tuple[str, Position | None, tuple[FullWindow, ...]], PortError]:
        """Describe and prepare the entity; a full pass also measures its high-water mark and
        id bounds and splits them into windows."""
        described: IOResult[EntitySchema, PortError] = self._source.describe(entity)
        prepared = described.bind(self._sink.prepare)
        if mode is SyncMode.INCREMENTAL:
            return prepared.map(lambda _: (entity, None, ()))

        def windows(
            newest: Answer[Position | None],
        ) -> IOResult[tuple[str, Position | None, tuple[FullWindow, ...]], PortError]:
            bounds: IOResult[Answer[tuple[int, int] | None], PortError] = self._source.id_bounds(
                entity
            )
            return bounds.map(lambda b: (entity, newest.value, self._split(b.value)))

        latest: IOResult[Answer[Position | None], PortError] = prepared.bind(
            lambda _: self._source.latest(entity)
        )
        return latest.bind(windows)

    def _split(self, bounds: tuple[int, int] | None) -> tuple[FullWindow, ...]:
        if bounds is None:
            return (FullWindow(),)
        low, high = bounds
        size = self._dist.window_ids
        parts = max(1, -(-(high - low + 1) // size))
        return split_ids(low, high, parts)

    def _store(
        self,
        request: RunRequest,
        measured: tuple[tuple[str, Position | None, tuple[FullWindow, ...]], ...],
    ) -> IOResult[tuple[Task, ...], PortError]:
        now = self._clock.now()
        full = request.mode is SyncMode.FULL
        kind: TaskKind = "window" if full else "entity"
        grace = now + self._dist.lease  # a task not claimed by then is stale
        tasks = [
            TaskState(
                request.run_id,
                entity,
                index,
                kind,
                after_id=window.after_id,
                until_id=window.until_id,
                lease_until=grace,
            )
            for entity, _, windows in measured
            for index, window in enumerate(windows if full else (FullWindow(),))
        ]
        plan = RunPlan(
            run_id=request.run_id,
            mode=request.mode,
            entities=request.entities,
            created_at=now,
            high_water=tuple((entity, hw) for entity, hw, _ in measured) if full else (),
            triggered_by=request.triggered_by,
        )
        report = SyncReport(
            run_id=request.run_id,
            mode=request.mode,
            started_at=now,
            triggered_by=request.triggered_by,
            entities=tuple(EntityReport(e, request.mode) for e in request.entities),
        )
        # The history first: its start is what the soft delete spares rows loaded after.
        recorded: IOResult[None, PortError] = self._runs.record(report)
        created: IOResult[bool, PortError] = recorded.bind(
            lambda _: self._plans.create(plan, tasks)
        )
        self._emit("run_started", request.run_id, data={"mode": request.mode.value})
        return created.bind(lambda _: self._pending_tasks(request.run_id))

    def _pending_tasks(self, run_id: str) -> IOResult[tuple[Task, ...], PortError]:
        tasks: IOResult[tuple[TaskState, ...], PortError] = self._plans.tasks(run_id)
        return tasks.map(lambda rows: tuple(t.task for t in rows if not t.status.final))

    # -- a worker ---------------------------------------------------------------------------

    def execute(
        self, task: Task, owner: str, stop: StopSignal | None = None
    ) -> IOResult[TaskOutcome, PortError]:
        """Run one task under its lease (see the module's docstring). A read or write error is
        the failure track (the lease is given up: the executor retries the task, and calls
        :meth:`give_up` when it stops retrying)."""
        stop = stop or StopSignal()
        now = self._clock.now()
        claimed: IOResult[TaskState | None, PortError] = self._plans.claim(
            task.run_id, task.entity, task.index, owner, now, now + self._dist.lease
        )
        return claimed.bind(partial(self._execute_claimed, task, owner, stop))

    def _execute_claimed(
        self, task: Task, owner: str, stop: StopSignal, row: TaskState | None
    ) -> IOResult[TaskOutcome, PortError]:
        if row is None:
            return self._why_not_claimed(task)
        described: IOResult[EntitySchema, PortError] = self._source.describe(task.entity)
        return (
            described.bind(lambda schema: self._sink.prepare(schema).map(lambda _: schema))
            .bind(partial(self._start_task, row, owner, stop))
            .lash(partial(self._released_after, row, owner, TaskCounts()))
        )

    def _released_after(
        self, row: TaskState, owner: str, extra: TaskCounts, error: PortError
    ) -> IOResult[TaskOutcome, PortError]:
        """A failed task gives its lease up (another delivery may retry at once)."""
        released: IOResult[None, PortError] = self._plans.release(row, owner, extra)
        return released.bind(lambda _: IOFailure(error))

    def _why_not_claimed(self, task: Task) -> IOResult[TaskOutcome, PortError]:
        def judged(rows: tuple[TaskState, ...]) -> TaskOutcome:
            row = next((t for t in rows if (t.entity, t.index) == (task.entity, task.index)), None)
            if row is None:
                return TaskOutcome(task, TaskResult.UNKNOWN, detail="no such task in the plan")
            if row.status is TaskStatus.CANCELLED:
                return TaskOutcome(task, TaskResult.CANCELLED, detail=row.error or "cancelled")
            if row.status.final:
                return TaskOutcome(task, TaskResult.ALREADY_DONE, detail=row.status.value)
            return TaskOutcome(task, TaskResult.HELD, detail=f"held by {row.owner}")

        rows: IOResult[tuple[TaskState, ...], PortError] = self._plans.tasks(task.run_id)
        return rows.map(judged)

    def _start_task(
        self, row: TaskState, owner: str, stop: StopSignal, schema: EntitySchema
    ) -> IOResult[TaskOutcome, PortError]:
        if row.kind == "window":
            start = Checkpoint(
                SyncMode.FULL, generation=row.run_id, last_id=row.last_id, windows=()
            )
            return self._run_task(row, owner, stop, schema, start, row.remaining(), None)
        key = StateKey(self._options.incremental_pipeline, row.entity)
        loaded: IOResult[Checkpoint | None, PortError] = self._state.load(key)

        def incremental(stored: Checkpoint | None) -> IOResult[TaskOutcome, PortError]:
            start = stored or Checkpoint(SyncMode.INCREMENTAL)
            window = incremental_window(start, self._options.overlap)
            return self._run_task(row, owner, stop, schema, start, window, key)

        return loaded.bind(incremental)

    def _run_task(
        self,
        row: TaskState,
        owner: str,
        stop: StopSignal,
        schema: EntitySchema,
        start: Checkpoint,
        window: ReadWindow,
        incremental_key: StateKey | None,
    ) -> IOResult[TaskOutcome, PortError]:
        """Read the task's window, commit its batches fenced by the lease, then end the row."""
        commit = _TaskCommit(self._plans, self._clock, self._dist, row, owner, incremental_key)
        key = incremental_key or StateKey(self._options.full_pipeline, row.entity)
        options = replace(self._options, dry_run=False)
        report = EntityReport(row.entity, start.mode)
        writer = BatchWriter(
            commit, self._sink, options, self._emit, row.run_id, key, start, report
        )
        normalizer = RecordNormalizer(schema, self._options.normalize)
        read = self._stream(row, normalizer, writer, window, stop)
        done = writer.report
        extra = TaskCounts(pages=done.pages, retried_requests=done.retried_requests)
        task = row.task
        written = writer.result()
        if not is_successful(written):
            return written.bind(lambda _: IOSuccess(TaskOutcome(task, TaskResult.DONE))).lash(
                partial(self._after_failed_commit, row, owner, extra, done.read)
            )
        if not is_successful(read):
            return read.bind(lambda _: IOSuccess(TaskOutcome(task, TaskResult.DONE))).lash(
                partial(self._released_after, row, owner, extra)
            )
        if stop.requested:
            released: IOResult[None, PortError] = self._plans.release(row, owner, extra)
            return released.map(
                lambda _: TaskOutcome(task, TaskResult.INTERRUPTED, done.read, stop.reason)
            )
        ended: IOResult[bool, PortError] = self._plans.end_task(row, owner, TaskStatus.DONE, extra)
        return ended.bind(
            lambda ok: (
                IOSuccess(TaskOutcome(task, TaskResult.DONE, done.read))
                if ok
                else self._lost(row, done.read)
            )
        )

    def _after_failed_commit(
        self, row: TaskState, owner: str, extra: TaskCounts, read: int, error: PortError
    ) -> IOResult[TaskOutcome, PortError]:
        if error.code == LEASE_LOST:
            return self._lost(row, read)
        return self._released_after(row, owner, extra, error)

    def _lost(self, row: TaskState, read: int) -> IOResult[TaskOutcome, PortError]:
        """The fence refused: the run was cancelled, or another owner took the lease over."""

        def judged(outcome: TaskOutcome) -> TaskOutcome:
            if outcome.result is TaskResult.CANCELLED:
                return replace(outcome, records=read)
            return TaskOutcome(row.task, TaskResult.LEASE_LOST, read, "the lease was taken over")

        return self._why_not_claimed(row.task).map(judged)

    def _stream(
        self,
        row: TaskState,
        normalizer: RecordNormalizer,
        writer: BatchWriter,
        window: ReadWindow,
        stop: StopSignal,
    ) -> IOResult[None, PortError]:
        """As the local sync's read loop: pages through a reader thread into the writer, until
        the end, a read error, a failed write or a stop; leaving the block commits what was
        read."""
        read = self._source.read(row.entity, window)
        merged = Merged([read], self._options.prefetch_pages, should_stop=lambda: stop.requested)
        with merged as pages, writer:
            for _, item in pages:
                if stop.requested:
                    break
                if isinstance(item, Ended):
                    continue
                taken = item.map(partial(self._take_page, row, normalizer, writer))
                if not is_successful(taken):
                    return taken
                if writer.error is not None:
                    break
        return IOSuccess(None)

    def _take_page(
        self, row: TaskState, normalizer: RecordNormalizer, writer: BatchWriter, page: Page
    ) -> None:
        writer.page_read(page.retries)
        outcomes = normalizer.normalize_page(page.records)
        writer.add_page(page.records, outcomes, 0 if row.kind == "window" else None)
        writer.required_nulls(normalizer.required_nulls(outcomes))
        self._emit(
            "page_read",
            row.run_id,
            row.entity,
            {"records": len(page.records), "page": page.number, "window": row.index},
        )

    def give_up(self, task: Task, error: str) -> IOResult[bool, PortError]:
        """The executor stopped retrying ``task``: mark it failed (whoever holds it), so the run
        can close as failed. ``False`` when it was no longer pending."""
        now = self._clock.now()
        taker = f"give-up:{uuid.uuid4().hex}"
        # Take the lease whatever its state (expired now by construction), then end it failed.
        claimed: IOResult[TaskState | None, PortError] = self._plans.claim(
            task.run_id, task.entity, task.index, taker, now + self._dist.lease * 1000, now
        )

        def failed(row: TaskState | None) -> IOResult[bool, PortError]:
            if row is None:
                return IOSuccess(False)  # noqa: FBT003 - a result's value
            return self._plans.end_task(row, taker, TaskStatus.FAILED, TaskCounts(), error)

        return claimed.bind(failed)

    # -- the finaliser ----------------------------------------------------------------------

    def finalise(
        self, run_id: str, owner: str | None = None
    ) -> IOResult[SyncReport | None, PortError]:
        """Close the run once every task is final (see the module's docstring); ``None`` while
        some task is pending (or another finaliser is at work). Idempotent: a closed run's
        report is returned again, never recorded twice."""
        owner = owner or f"finaliser:{uuid.uuid4().hex}"
        found: IOResult[RunPlan | None, PortError] = self._plans.get(run_id)
        return found.bind(partial(self._finalise_plan, run_id, owner))

    def _finalise_plan(
        self, run_id: str, owner: str, plan: RunPlan | None
    ) -> IOResult[SyncReport | None, PortError]:
        if plan is None:
            return IOFailure(
                StateError("plan.unknown", "no such distributed run", {"run_id": run_id})
            )
        if not plan.open:
            return self._closed_report(plan)
        tasks: IOResult[tuple[TaskState, ...], PortError] = self._plans.tasks(run_id)
        return tasks.bind(partial(self._finalise_tasks, plan, owner))

    def _finalise_tasks(
        self, plan: RunPlan, owner: str, tasks: tuple[TaskState, ...]
    ) -> IOResult[SyncReport | None, PortError]:
        if planned_status(tasks) is None:
            return IOSuccess(None)
        now = self._clock.now()
        claimed: IOResult[RunPlan | None, PortError] = self._plans.claim_run(
            plan.run_id, owner, now, now + self._dist.lease
        )

        def close(held: RunPlan | None) -> IOResult[SyncReport | None, PortError]:
            if held is None:
                return IOSuccess(None)
            return self._close(held, owner, tasks)

        return claimed.bind(close)

    def _close(
        self, plan: RunPlan, owner: str, tasks: tuple[TaskState, ...]
    ) -> IOResult[SyncReport | None, PortError]:
        status = planned_status(tasks)
        finishing: IOResult[RunPlan, PortError] = IOSuccess(plan)
        if status is RunStatus.RUNNING and plan.mode is SyncMode.FULL:
            for entity in plan.entities:
                finishing = finishing.bind(partial(self._finish_pass, entity, tasks))
        history: IOResult[SyncReport | None, PortError] = finishing.bind(
            lambda _: self._runs.get_run(plan.run_id)
        )

        def record(
            done: RunPlan, started: SyncReport | None
        ) -> IOResult[SyncReport | None, PortError]:
            report = self._report(done, tasks, started, self._clock.now())
            closed = replace(
                done, status=report.status, finished_at=report.finished_at, error=report.error
            )
            stored: IOResult[bool, PortError] = self._plans.close_run(closed, owner)
            return stored.bind(
                lambda ok: (
                    self._runs.record(report).map(lambda _: report) if ok else IOSuccess(None)
                )
            )

        return finishing.bind(lambda done: history.bind(partial(record, done)))

    def _finish_pass(
        self, entity: str, tasks: tuple[TaskState, ...], plan: RunPlan
    ) -> IOResult[RunPlan, PortError]:
        """One entity of a complete full pass: soft-delete what no window saw (once: a
        finaliser taking over finds the count), mark the pass complete, bookmark incremental."""
        if entity in dict(plan.deleted):
            deleted: IOResult[int, PortError] = IOSuccess(dict(plan.deleted)[entity])
        else:
            deleted = self._sink.soft_delete_unseen(entity, plan.run_id, self._clock.now()).bind(
                lambda n: self._plans.note_deleted(plan.run_id, entity, n).map(lambda _: n)
            )
        ids = [t.last_id for t in tasks if t.entity == entity and t.last_id is not None]
        done = Checkpoint(
            SyncMode.FULL,
            generation=plan.run_id,
            last_id=max(ids) if ids else None,
            complete=True,
            high_water=plan.high_water_of(entity),
        )
        key = StateKey(self._options.full_pipeline, entity)

        def saved(count: int) -> IOResult[RunPlan, PortError]:
            noted = replace(
                plan, deleted=(*((e, n) for e, n in plan.deleted if e != entity), (entity, count))
            )
            saving: IOResult[None, PortError] = self._state.save(key, done)
            return saving.bind(lambda _: self._bookmark(entity, done.high_water)).map(
                lambda _: noted
            )

        return deleted.bind(saved)

    def _bookmark(self, entity: str, high_water: Position | None) -> IOResult[None, PortError]:
        """The incremental pipeline starts at the pass's high-water mark (a bookmark already
        ahead is kept), as after a local full pass."""
        if high_water is None:
            return IOSuccess(None)
        key = StateKey(self._options.incremental_pipeline, entity)

        def move(stored: Checkpoint | None) -> IOResult[None, PortError]:
            if stored is not None and stored.position is not None and stored.position >= high_water:
                return IOSuccess(None)
            base = stored or Checkpoint(SyncMode.INCREMENTAL)
            return self._state.save(key, replace(base, position=high_water))

        loaded: IOResult[Checkpoint | None, PortError] = self._state.load(key)
        return loaded.bind(move)

    def _report(
        self,
        plan: RunPlan,
        tasks: tuple[TaskState, ...],
        started: SyncReport | None,
        now: datetime,
    ) -> SyncReport:
        """The run's report: per entity, the counts summed over its tasks."""
        status = planned_status(tasks)
        deleted = dict(plan.deleted)
        entities = tuple(
            self._entity_report(plan, entity, [t for t in tasks if t.entity == entity], deleted)
            for entity in plan.entities
        )
        base = started or SyncReport(
            run_id=plan.run_id,
            mode=plan.mode,
            started_at=plan.created_at,
            triggered_by=plan.triggered_by,
        )
        stopped = RunStatus.CANCELLED if status is RunStatus.CANCELLED else None
        seconds = (now - base.started_at).total_seconds()
        entities = tuple(replace(e, seconds=seconds) for e in entities)
        return base.settled(entities, now, stopped)

    def _entity_report(
        self, plan: RunPlan, entity: str, tasks: list[TaskState], deleted: dict[str, int]
    ) -> EntityReport:
        total = TaskCounts()
        for task in tasks:
            total = total.plus(task.counts)
        report = EntityReport(
            entity,
            plan.mode,
            read=total.read,
            written=total.written,
            stale=total.stale,
            quarantined=total.quarantined,
            deleted=deleted.get(entity, 0),
            pages=total.pages,
            retried_requests=total.retried_requests,
            batches=total.batches,
        )
        errors = sorted({t.error for t in tasks if t.status.final and t.error})
        if any(t.status is TaskStatus.CANCELLED for t in tasks):
            return replace(report, status=RunStatus.CANCELLED, error="; ".join(errors) or None)
        if any(t.status is TaskStatus.FAILED for t in tasks):
            return replace(report, status=RunStatus.FAILED, error="; ".join(errors) or "failed")
        ratio, limit = report.reject_ratio, self._options.max_reject_ratio
        if ratio > limit:
            error = f"{report.quarantined} of {report.read} records quarantined ({ratio:.1%} > {limit:.1%})"
            return replace(report, status=RunStatus.REJECTED, error=error)
        return replace(report, status=RunStatus.SUCCEEDED)

    def _closed_report(self, plan: RunPlan) -> IOResult[SyncReport | None, PortError]:
        """A closed run: its recorded report (recorded again from the rows if the finaliser
        died between closing the plan and recording the history)."""
        got: IOResult[SyncReport | None, PortError] = self._runs.get_run(plan.run_id)

        def ensure(report: SyncReport | None) -> IOResult[SyncReport | None, PortError]:
            if report is not None and report.status is not RunStatus.RUNNING:
                return IOSuccess(report)
            tasks: IOResult[tuple[TaskState, ...], PortError] = self._plans.tasks(plan.run_id)
            at = plan.finished_at or self._clock.now()
            rebuilt = tasks.map(lambda rows: self._report(plan, rows, report, at))
            return rebuilt.bind(lambda r: self._runs.record(r).map(lambda _: r))

        return got.bind(ensure)

    # -- the reaper, the wait loop, the API ---------------------------------------------------

    def stale(self, now: datetime) -> IOResult[tuple[Task, ...], PortError]:
        """Pending tasks of open runs whose lease expired at ``now`` (a task never claimed has a
        lease of grace from its planning): a reaper re-enqueues them; duplicates are harmless."""
        opened: IOResult[tuple[RunPlan, ...], PortError] = self._plans.open_plans()

        def expired(plan: RunPlan) -> IOResult[tuple[Task, ...], PortError]:
            rows: IOResult[tuple[TaskState, ...], PortError] = self._plans.tasks(plan.run_id)
            return rows.map(
                lambda ts: tuple(
                    t.task
                    for t in ts
                    if not t.status.final and (t.lease_until is None or t.lease_until <= now)
                )
            )

        return opened.bind(lambda plans: each(plans, expired)).map(
            lambda groups: tuple(t for group in groups for t in group)
        )

    def open_runs(self) -> IOResult[tuple[str, ...], PortError]:
        """The runs not closed yet, oldest first (a reaper calls :meth:`finalise` on each: a
        finaliser that died leaves its run open)."""
        opened: IOResult[tuple[RunPlan, ...], PortError] = self._plans.open_plans()
        return opened.map(lambda plans: tuple(p.run_id for p in plans))

    def progress(self, run_id: str) -> IOResult[RunProgress, PortError]:
        found: IOResult[RunPlan | None, PortError] = self._plans.get(run_id)

        def counted(plan: RunPlan | None) -> IOResult[RunProgress, PortError]:
            if plan is None:
                return IOFailure(
                    StateError("plan.unknown", "no such distributed run", {"run_id": run_id})
                )
            rows: IOResult[tuple[TaskState, ...], PortError] = self._plans.tasks(run_id)
            return rows.map(partial(_progress, plan))

        return found.bind(counted)

    def cancel(self, run_id: str, reason: str) -> IOResult[None, PortError]:
        """Cancel the run: its pending tasks end cancelled (a task in flight stops at its next
        commit, which the fence refuses), and the run closes ``cancelled``."""
        cancelled: IOResult[int, PortError] = self._plans.cancel(run_id, reason)
        return cancelled.bind(lambda _: self.finalise(run_id)).map(lambda _: None)

    # -- helpers ----------------------------------------------------------------------------

    def _pipeline(self, mode: SyncMode) -> str:
        if mode is SyncMode.FULL:
            return self._options.full_pipeline
        return self._options.incremental_pipeline

    def _emit(
        self,
        kind: str,
        run_id: str,
        entity: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        self._observer.on_event(SyncEvent(kind, run_id, entity, data or {}))


def _progress(plan: RunPlan, rows: tuple[TaskState, ...]) -> RunProgress:
    total = TaskCounts()
    for row in rows:
        total = total.plus(row.counts)
    return RunProgress(
        run_id=plan.run_id,
        mode=plan.mode,
        status=plan.status,
        tasks_done=sum(1 for r in rows if r.status is TaskStatus.DONE),
        tasks_total=len(rows),
        read=total.read,
        written=total.written,
        quarantined=total.quarantined,
        failed=sum(1 for r in rows if r.status is TaskStatus.FAILED),
    )


class _TaskCommit:
    """The :class:`~gruponos.application.ports.BatchCommit` a task's writer commits through: the
    batch with the row's progress and a renewed lease, fenced (see ``RunPlans.commit``)."""

    def __init__(
        self,
        plans: RunPlans,
        clock: Clock,
        options: DistributedOptions,
        row: TaskState,
        owner: str,
        incremental_key: StateKey | None,
    ) -> None:
        self._plans = plans
        self._clock = clock
        self._options = options
        self._row = row
        self._owner = owner
        self._key = incremental_key

    def commit(
        self,
        batch: Batch,
        key: StateKey,  # noqa: ARG002 - the row is the task's state, whatever the key
        checkpoint: Checkpoint,
    ) -> IOResult[WriteOutcome, PortError]:
        progress = TaskCommit(
            read=len(batch.records) + len(batch.rejected),
            lease_until=self._clock.now() + self._options.lease,
            last_id=checkpoint.last_id if self._key is None else None,
            position=checkpoint.position if self._key is not None else None,
            checkpoint=None if self._key is None else (self._key, checkpoint),
        )
        return self._plans.commit(batch, self._row, self._owner, progress)
