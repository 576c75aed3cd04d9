"""The plan of a distributed run: one row per task (an id window of a full pass, or an entity of
an incremental run), each with its status, lease and committed position.

The rows are the run's durable truth: a worker resumes a task from its row, the finaliser reads
completion from the rows (never from a task queue's result backend), and the run's report sums
their counts. Pure values and rules; the store is the ``RunPlans`` port.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, cast

from gruponos.domain.batches import WriteOutcome
from gruponos.domain.checkpoints import Checkpoint, FullWindow, Position, SyncMode
from gruponos.domain.runs import RunStatus

TaskKind = Literal["window", "entity"]
_KINDS = ("window", "entity")


@dataclass(frozen=True, slots=True)
class Task:
    """A unit of work sent to a worker (a Celery task's argument): one id window of a full pass
    (``index``: the window's number), or one entity of an incremental run (``index`` 0).

    >>> Task.from_json(Task("r1", "window", "allocation", 3).to_json())
    Task(run_id='r1', kind='window', entity='allocation', index=3)
    """

    run_id: str
    kind: TaskKind
    entity: str
    index: int

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "entity": self.entity,
            "index": self.index,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Task:
        """Inverse of :meth:`to_json`; ``ValueError`` (or ``KeyError``) on anything else."""
        kind = data["kind"]
        if kind not in _KINDS:
            raise ValueError(f"unknown task kind {kind!r}")
        index = data["index"]
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise ValueError(f"bad task index {index!r}")
        run_id, entity = data["run_id"], data["entity"]
        if not isinstance(run_id, str) or not isinstance(entity, str):
            raise ValueError("run_id and entity must be strings")
        return cls(run_id, cast("TaskKind", kind), entity, index)


class TaskStatus(StrEnum):
    PENDING = "pending"  # not finished: never claimed, running, or interrupted
    DONE = "done"  # read to its end, every batch committed
    FAILED = "failed"  # given up (the executor's retries exhausted)
    CANCELLED = "cancelled"  # the run was cancelled before the task finished

    @property
    def final(self) -> bool:
        return self is not TaskStatus.PENDING


@dataclass(frozen=True, slots=True)
class TaskCounts:
    """What a task did so far, summed over its committed batches (``pages``,
    ``retried_requests`` and ``inconsistent_references`` are added when the task ends or is
    interrupted)."""

    read: int = 0
    written: int = 0
    stale: int = 0
    quarantined: int = 0
    batches: int = 0
    pages: int = 0
    retried_requests: int = 0
    inconsistent_references: int = 0

    def plus(self, other: TaskCounts) -> TaskCounts:
        return TaskCounts(
            *(getattr(self, name) + getattr(other, name) for name in TaskCounts.__slots__)
        )

    @classmethod
    def of_batch(cls, read: int, outcome: WriteOutcome) -> TaskCounts:
        """One committed batch of ``read`` records (rejects included)."""
        return cls(read, outcome.written, outcome.stale, outcome.quarantined, 1)


@dataclass(frozen=True, slots=True)
class TaskNotes:
    """A task's data-quality notes, for the run's report: per field, the nulls in fields
    describe calls required (sorted by field), and the warnings (each once, in order)."""

    required_nulls: tuple[tuple[str, int], ...] = ()
    warnings: tuple[str, ...] = ()

    def plus(self, other: TaskNotes) -> TaskNotes:
        nulls = dict(self.required_nulls)
        for name, count in other.required_nulls:
            nulls[name] = nulls.get(name, 0) + count
        warnings = (*self.warnings, *(w for w in other.warnings if w not in self.warnings))
        return TaskNotes(tuple(sorted(nulls.items())), warnings)

    def to_json(self) -> dict[str, Any]:
        return {"required_nulls": dict(self.required_nulls), "warnings": list(self.warnings)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskNotes:
        nulls = data.get("required_nulls") or {}
        return cls(
            tuple(sorted((str(k), int(v)) for k, v in nulls.items())),
            tuple(str(w) for w in data.get("warnings") or ()),
        )


#: No notes (a default argument: the value is immutable).
NO_NOTES = TaskNotes()


@dataclass(frozen=True, slots=True)
class TaskState:
    """One row of a run plan.

    A window task reads ``after_id < id < until_id``; ``last_id`` is the highest id it committed
    (it resumes after it). An entity task (incremental) resumes from the incremental checkpoint,
    which its batches commit; ``position`` mirrors the newest one it committed. ``owner`` holds
    the lease until ``lease_until``; a lease renews with every committed batch.
    """

    run_id: str
    entity: str
    index: int
    kind: TaskKind
    after_id: int | None = None
    until_id: int | None = None
    status: TaskStatus = TaskStatus.PENDING
    owner: str | None = None
    lease_until: datetime | None = None
    last_id: int | None = None
    position: Position | None = None
    counts: TaskCounts = TaskCounts()
    attempts: int = 0  # how many times a lease was taken
    error: str | None = None
    notes: TaskNotes = NO_NOTES

    @property
    def task(self) -> Task:
        return Task(self.run_id, self.kind, self.entity, self.index)

    def remaining(self) -> FullWindow:
        """What a window task still has to read: after what it committed."""
        after = self.after_id
        if self.last_id is not None and (after is None or self.last_id > after):
            after = self.last_id
        return FullWindow(after_id=after, until_id=self.until_id)

    def held_by_other(self, owner: str, now: datetime) -> bool:
        """Another owner holds a live lease."""
        return (
            self.owner is not None
            and self.owner != owner
            and self.lease_until is not None
            and self.lease_until > now
        )

    def claimable(self, owner: str, now: datetime) -> bool:
        """The lease rule every store applies atomically: pending, and free, expired or ours."""
        return self.status is TaskStatus.PENDING and not self.held_by_other(owner, now)

    def committed(
        self, counts: TaskCounts, last_id: int | None, position: Position | None
    ) -> TaskState:
        """The row after one more committed batch (positions never move back, as a
        checkpoint's)."""
        moved = Checkpoint(SyncMode.FULL, self.position, last_id=self.last_id).advanced_to(
            position, last_id
        )
        return replace(
            self, counts=self.counts.plus(counts), last_id=moved.last_id, position=moved.position
        )


@dataclass(frozen=True, slots=True)
class RunPlan:
    """The run's own row: what was asked, when, the source's high-water mark of each entity of a
    full pass, and the finaliser's lease (one finaliser at a time) and outcome."""

    run_id: str
    mode: SyncMode
    entities: tuple[str, ...]
    created_at: datetime
    status: RunStatus = RunStatus.RUNNING
    high_water: tuple[tuple[str, Position | None], ...] = ()
    triggered_by: str | None = None
    owner: str | None = None
    lease_until: datetime | None = None
    finished_at: datetime | None = None
    #: Rows soft-deleted per entity by the finaliser.
    deleted: tuple[tuple[str, int], ...] = ()
    error: str | None = None

    @property
    def open(self) -> bool:
        return self.status is RunStatus.RUNNING

    def high_water_of(self, entity: str) -> Position | None:
        return dict(self.high_water).get(entity)


def planned_status(tasks: tuple[TaskState, ...]) -> RunStatus | None:
    """The run's status as its rows tell it: ``None`` while a task is pending; cancelled if any
    was cancelled, failed if any failed; else running (the finaliser decides the rest)."""
    if any(not t.status.final for t in tasks):
        return None
    if any(t.status is TaskStatus.CANCELLED for t in tasks):
        return RunStatus.CANCELLED
    if any(t.status is TaskStatus.FAILED for t in tasks):
        return RunStatus.FAILED
    return RunStatus.RUNNING
