"""The values of the distributed run model's use cases: options, a task's outcome, a run's
progress (see :mod:`gruponos.application.scaleout`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from gruponos.application.errors import StateError
from gruponos.domain.checkpoints import (
    SyncMode,
)
from gruponos.domain.runs import RunStatus
from gruponos.domain.scaleout import (
    RunPlan,
    Task,
    TaskCounts,
    TaskState,
    TaskStatus,
)

#: The code of a fenced commit refused because the lease is no longer the committer's.
LEASE_LOST = "plan.lease_lost"


def lease_lost(task: TaskState, owner: str) -> StateError:
    """The fence's refusal (code ``plan.lease_lost``), as every ``RunPlans`` store words it."""
    return StateError(
        LEASE_LOST,
        f"task {task.entity}#{task.index} of run {task.run_id} is no longer leased to {owner}"
        " (taken over, done or cancelled): the batch was not committed",
        {"run_id": task.run_id, "entity": task.entity, "index": task.index},
    )


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


def progress_of(plan: RunPlan, rows: tuple[TaskState, ...]) -> RunProgress:
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
