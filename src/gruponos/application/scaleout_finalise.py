"""The finaliser of a distributed run: completion read from the plan's rows, the full pass's end
(soft deletes, the complete checkpoint, the incremental bookmark) and the run's report, once (see
:mod:`gruponos.application.scaleout`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial

from returns.io import IOFailure, IOResult, IOSuccess

from gruponos.application.errors import PortError, StateError
from gruponos.application.ports import (
    Clock,
    RecordSink,
    RunHistory,
    RunPlans,
    StateStore,
)
from gruponos.application.scaleout_values import DistributedOptions
from gruponos.application.sync import SyncOptions
from gruponos.domain.checkpoints import (
    Checkpoint,
    Position,
    StateKey,
    SyncMode,
)
from gruponos.domain.runs import EntityReport, RunStatus, SyncReport
from gruponos.domain.scaleout import (
    RunPlan,
    TaskCounts,
    TaskNotes,
    TaskState,
    TaskStatus,
    planned_status,
)


class RunFinaliser:
    """Closes distributed runs whose tasks are all final; one finaliser per run at a time."""

    def __init__(
        self,
        sink: RecordSink,
        state: StateStore,
        runs: RunHistory,
        plans: RunPlans,
        clock: Clock,
        options: SyncOptions,
        distributed: DistributedOptions,
    ) -> None:
        self._sink = sink
        self._state = state
        self._runs = runs
        self._plans = plans
        self._clock = clock
        self._options = options
        self._dist = distributed

    def finalise(self, run_id: str, owner: str) -> IOResult[SyncReport | None, PortError]:
        """See :meth:`~gruponos.application.scaleout.DistributedRuns.finalise`."""
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
        done = _complete_pass(plan, entity, tasks)
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
        total, notes = TaskCounts(), TaskNotes()
        for task in tasks:
            total, notes = total.plus(task.counts), notes.plus(task.notes)
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
            inconsistent_references=total.inconsistent_references,
            required_nulls=notes.required_nulls,
            warnings=notes.warnings,
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
        if plan.mode is SyncMode.FULL:
            report = replace(report, checkpoint=_complete_pass(plan, entity, tasks))
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


def _complete_pass(plan: RunPlan, entity: str, tasks: Sequence[TaskState]) -> Checkpoint:
    """The full checkpoint of ``entity`` once every window of the pass is done."""
    ids = [t.last_id for t in tasks if t.entity == entity and t.last_id is not None]
    return Checkpoint(
        SyncMode.FULL,
        generation=plan.run_id,
        last_id=max(ids) if ids else None,
        complete=True,
        high_water=plan.high_water_of(entity),
    )
