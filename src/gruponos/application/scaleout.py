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
``execute``'s ``stop`` is optional; :meth:`DistributedRuns.open_runs` lists the runs to finalise;
:func:`distributed_sink_refusal` lives in :mod:`gruponos.adapters.sql.plans` (it reads a URL).
The worker's side is :mod:`~gruponos.application.scaleout_task`, the finaliser's
:mod:`~gruponos.application.scaleout_finalise`, the values :mod:`~gruponos.application.
scaleout_values`; everything a caller needs is importable from here.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from returns.io import IOFailure, IOResult, IOSuccess
from returns.pipeline import is_successful

from gruponos.application.errors import PortError, StateError
from gruponos.application.lifecycle import StopSignal
from gruponos.application.ports import (
    Answer,
    Clock,
    Lease,
    RecordSink,
    RunHistory,
    RunPlans,
    RunRequest,
    StateStore,
    SyncEvent,
    SyncObserver,
    WmsSource,
)
from gruponos.application.railway import each
from gruponos.application.scaleout_finalise import RunFinaliser
from gruponos.application.scaleout_task import TaskRunner
from gruponos.application.scaleout_values import (
    DistributedOptions,
    RunProgress,
    TaskOutcome,
    TaskResult,
    progress_of,
)
from gruponos.application.sync import SyncOptions
from gruponos.domain.checkpoints import (
    FullWindow,
    Position,
    StateKey,
    SyncMode,
    split_ids,
)
from gruponos.domain.runs import EntityReport, SyncReport
from gruponos.domain.scaleout import (
    RunPlan,
    Task,
    TaskKind,
    TaskState,
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
        self._worker = TaskRunner(
            source, sink, state, plans, clock, self._options, self._dist, self._emit
        )
        self._finaliser = RunFinaliser(sink, state, runs, plans, clock, self._options, self._dist)

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
        # An entity named twice is planned once (its rows are keyed by it).
        request = replace(request, entities=tuple(dict.fromkeys(request.entities)))
        existing: IOResult[RunPlan | None, PortError] = self._plans.get(request.run_id)
        return existing.bind(partial(self._plan_or_resume, request))

    def _plan_or_resume(
        self, request: RunRequest, plan: RunPlan | None
    ) -> IOResult[tuple[Task, ...], PortError]:
        if plan is not None:
            return self._pending_tasks(request.run_id)
        keys = [StateKey(self._pipeline(request.mode), e) for e in request.entities]
        locked = self._lock_all(keys, request.run_id)
        planned: IOResult[tuple[Task, ...], PortError] = locked.bind(
            partial(self._plan_holding, request)
        )
        return planned

    def _lock_all(self, keys: list[StateKey], owner: str) -> IOResult[tuple[Lease, ...], PortError]:
        """Every key's run lock, or none: the ones taken are released when one is refused."""
        held: list[Lease] = []
        for key in keys:
            taken: IOResult[Lease, PortError] = self._state.lock(key, owner)
            if not is_successful(taken):
                for lease in held:
                    lease.release()
                return taken.map(lambda _: ())
            taken.map(held.append)
        return IOSuccess(tuple(held))

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

    # -- a worker, the finaliser ------------------------------------------------------------

    def execute(
        self, task: Task, owner: str, stop: StopSignal | None = None
    ) -> IOResult[TaskOutcome, PortError]:
        """A worker runs one task. Takes the task's lease (owner + expiry in the sink); if
        another live owner holds it, or it is done, returns at once (the outcome says so) and
        writes nothing. Resumes from the task's committed position; each batch commits with the
        row's progress and a renewed lease in one fenced transaction; at the end the row is
        done. On ``stop`` the batch in flight commits and the outcome is ``interrupted`` (the
        executor re-enqueues it). A read or write error is the failure track, the lease given
        up: the executor retries, and calls :meth:`give_up` once it stops retrying."""
        return self._worker.execute(task, owner, stop or StopSignal())

    def give_up(self, task: Task, error: str) -> IOResult[bool, PortError]:
        """Mark ``task`` failed (the executor's retries are exhausted), so the run can close as
        failed; ``False`` when it was no longer pending."""
        return self._worker.give_up(task, error)

    def finalise(
        self, run_id: str, owner: str | None = None
    ) -> IOResult[SyncReport | None, PortError]:
        """Close the run once every task is final; ``None`` while some task is pending (or
        another finaliser is at work). Full and all done: soft-delete rows the pass did not see
        (per entity), mark the full checkpoint complete, bookmark the incremental pipeline at
        the high-water mark; then record the run's report (counts summed from the rows) in the
        run history, once. Idempotent: a closed run's report is returned again."""
        return self._finaliser.finalise(run_id, owner or f"finaliser:{uuid.uuid4().hex}")

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
            return rows.map(partial(progress_of, plan))

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
