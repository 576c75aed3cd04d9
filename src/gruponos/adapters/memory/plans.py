"""In-memory run plans (the ``RunPlans`` port) over an :class:`InMemorySink`: the same lease and
fence rules as the SQL store, one lock standing for the database's atomic updates."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from returns.io import IOFailure, IOResult, IOSuccess

from gruponos.adapters.memory.sink import InMemorySink
from gruponos.application.errors import PortError, SinkError
from gruponos.application.ports import TaskCommit
from gruponos.application.scaleout_values import lease_lost
from gruponos.domain.batches import Batch, WriteOutcome
from gruponos.domain.runs import RunStatus
from gruponos.domain.scaleout import NO_NOTES, RunPlan, TaskCounts, TaskNotes, TaskState, TaskStatus

_Key = tuple[str, str, int]


class InMemoryRunPlans:
    """Implements ``RunPlans``; ``commits`` counts the fenced commits that went through."""

    def __init__(self, sink: InMemorySink) -> None:
        self.sink = sink
        self.plans: dict[str, RunPlan] = {}
        self.rows: dict[_Key, TaskState] = {}
        self.commits = 0
        self._lock = threading.RLock()

    def create(self, plan: RunPlan, tasks: Sequence[TaskState]) -> IOResult[bool, SinkError]:
        with self._lock:
            if plan.run_id in self.plans:
                return IOSuccess(False)  # noqa: FBT003 - a result's value
            self.plans[plan.run_id] = plan
            for task in tasks:
                self.rows[(task.run_id, task.entity, task.index)] = task
            return IOSuccess(True)  # noqa: FBT003 - a result's value

    def get(self, run_id: str) -> IOResult[RunPlan | None, SinkError]:
        with self._lock:
            return IOSuccess(self.plans.get(run_id))

    def tasks(self, run_id: str) -> IOResult[tuple[TaskState, ...], SinkError]:
        with self._lock:
            plan = self.plans.get(run_id)
            if plan is None:
                return IOSuccess(())
            order = {entity: n for n, entity in enumerate(plan.entities)}
            rows = [t for t in self.rows.values() if t.run_id == run_id]
            return IOSuccess(tuple(sorted(rows, key=lambda t: (order[t.entity], t.index))))

    def open_plans(self) -> IOResult[tuple[RunPlan, ...], SinkError]:
        with self._lock:
            opened = [p for p in self.plans.values() if p.open]
            return IOSuccess(tuple(sorted(opened, key=lambda p: (p.created_at, p.run_id))))

    def claim(
        self, run_id: str, entity: str, index: int, owner: str, now: datetime, until: datetime
    ) -> IOResult[TaskState | None, SinkError]:
        with self._lock:
            row = self.rows.get((run_id, entity, index))
            plan = self.plans.get(run_id)
            if row is None or plan is None or not plan.open or not row.claimable(owner, now):
                return IOSuccess(None)
            taken = replace(row, owner=owner, lease_until=until, attempts=row.attempts + 1)
            self.rows[(run_id, entity, index)] = taken
            return IOSuccess(taken)

    def commit(
        self, batch: Batch, task: TaskState, owner: str, progress: TaskCommit
    ) -> IOResult[WriteOutcome, PortError]:
        key = (task.run_id, task.entity, task.index)
        with self._lock:
            row = self.rows.get(key)
            if row is None or row.status is not TaskStatus.PENDING or row.owner != owner:
                return IOFailure(lease_lost(task, owner))
            stamped = batch
            if progress.checkpoint is not None:
                state_key, checkpoint = progress.checkpoint
                stamped = replace(batch, state_key=state_key, checkpoint=checkpoint)
            written: IOResult[WriteOutcome, PortError] = self.sink.write(stamped)

            def moved(outcome: WriteOutcome) -> WriteOutcome:
                counts = TaskCounts.of_batch(progress.read, outcome)
                advanced = row.committed(counts, progress.last_id, progress.position)
                self.rows[key] = replace(advanced, lease_until=progress.lease_until)
                self.commits += 1
                return outcome

            return written.map(moved)

    def end_task(
        self,
        task: TaskState,
        owner: str,
        status: TaskStatus,
        extra: TaskCounts,
        error: str | None = None,
        notes: TaskNotes = NO_NOTES,
    ) -> IOResult[bool, SinkError]:
        key = (task.run_id, task.entity, task.index)
        with self._lock:
            row = self.rows.get(key)
            if row is None or row.status is not TaskStatus.PENDING or row.owner != owner:
                return IOSuccess(False)  # noqa: FBT003 - a result's value
            self.rows[key] = replace(
                row,
                status=status,
                counts=row.counts.plus(extra),
                owner=None,
                lease_until=None,
                error=error,
                notes=row.notes.plus(notes),
            )
            return IOSuccess(True)  # noqa: FBT003 - a result's value

    def release(
        self, task: TaskState, owner: str, extra: TaskCounts, notes: TaskNotes = NO_NOTES
    ) -> IOResult[None, SinkError]:
        key = (task.run_id, task.entity, task.index)
        with self._lock:
            row = self.rows.get(key)
            if row is not None and row.owner == owner:
                # No owner, but the lease's time stays: a reaper re-enqueues it once that passed.
                self.rows[key] = replace(
                    row, owner=None, counts=row.counts.plus(extra), notes=row.notes.plus(notes)
                )
            return IOSuccess(None)

    def claim_run(
        self, run_id: str, owner: str, now: datetime, until: datetime
    ) -> IOResult[RunPlan | None, SinkError]:
        with self._lock:
            plan = self.plans.get(run_id)
            if plan is None or not plan.open:
                return IOSuccess(None)
            held = plan.owner not in (None, owner) and (
                plan.lease_until is not None and plan.lease_until > now
            )
            if held:
                return IOSuccess(None)
            taken = replace(plan, owner=owner, lease_until=until)
            self.plans[run_id] = taken
            return IOSuccess(taken)

    def close_run(self, plan: RunPlan, owner: str) -> IOResult[bool, SinkError]:
        with self._lock:
            stored = self.plans.get(plan.run_id)
            if stored is None or not stored.open or stored.owner != owner:
                return IOSuccess(False)  # noqa: FBT003 - a result's value
            self.plans[plan.run_id] = replace(plan, owner=None, lease_until=None)
            return IOSuccess(True)  # noqa: FBT003 - a result's value

    def note_deleted(self, run_id: str, entity: str, deleted: int) -> IOResult[None, SinkError]:
        with self._lock:
            plan = self.plans.get(run_id)
            if plan is not None:
                kept = tuple((e, n) for e, n in plan.deleted if e != entity)
                self.plans[run_id] = replace(plan, deleted=(*kept, (entity, deleted)))
            return IOSuccess(None)

    def fail_task(
        self, run_id: str, entity: str, index: int, error: str
    ) -> IOResult[bool, SinkError]:
        with self._lock:
            row = self.rows.get((run_id, entity, index))
            if row is None or row.status is not TaskStatus.PENDING:
                return IOSuccess(False)  # noqa: FBT003 - a result's value
            self.rows[(run_id, entity, index)] = replace(
                row, status=TaskStatus.FAILED, owner=None, lease_until=None, error=error
            )
            return IOSuccess(True)  # noqa: FBT003 - a result's value

    def cancel(self, run_id: str, reason: str) -> IOResult[int, SinkError]:
        with self._lock:
            plan = self.plans.get(run_id)
            if plan is None or plan.status is not RunStatus.RUNNING:
                return IOSuccess(0)
            count = 0
            for key, row in list(self.rows.items()):
                if row.run_id == run_id and row.status is TaskStatus.PENDING:
                    self.rows[key] = replace(
                        row, status=TaskStatus.CANCELLED, owner=None, lease_until=None, error=reason
                    )
                    count += 1
            return IOSuccess(count)
