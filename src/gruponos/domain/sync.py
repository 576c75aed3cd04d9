"""Value objects of a sync: modes, checkpoints, read windows, batches and reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from gruponos.domain.normalize import NormalizedRecord


class SyncMode(StrEnum):
    FULL = "full"
    INCREMENTAL = "incremental"


class RunStatus(StrEnum):
    QUEUED = "queued"  # accepted, waiting for an executor
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: Finished, but the share of quarantined records is above the configured threshold.
    REJECTED = "rejected"
    #: Stopped by SIGINT/SIGTERM: the batch in flight committed, then the run stopped.
    INTERRUPTED = "interrupted"
    #: Stopped on request (the API's cancel), the same way as an interruption.
    CANCELLED = "cancelled"
    #: Found ``running`` by a later run while no process held it any more (killed, machine lost).
    ABANDONED = "abandoned"

    @property
    def stopped(self) -> bool:
        """Ended early on purpose (a signal or a cancel): not a failure to retry."""
        return self in (RunStatus.INTERRUPTED, RunStatus.CANCELLED)


#: The error code of a run that did not succeed, by its status.
FAILURE_CODES: Mapping[RunStatus, str] = {
    RunStatus.FAILED: "sync.failed",
    RunStatus.REJECTED: "sync.rejected",
    RunStatus.INTERRUPTED: "sync.interrupted",
    RunStatus.CANCELLED: "sync.cancelled",
}


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A point in the incremental read order ``(mod_ts, id)``; ordering compares both."""

    mod_ts: datetime
    id: int


@dataclass(frozen=True, slots=True)
class StateKey:
    """State is kept per (pipeline, entity); the pipeline is the sync mode's name by default."""

    pipeline: str
    entity: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """How far a pipeline got for one entity, over committed data only.

    - incremental: ``position`` is the newest ``(mod_ts, id)`` committed;
    - full: ``generation`` names the full pass (its first run id), ``last_id`` the highest id
      committed in that pass (``windows``: what is left of each id window when the pass reads
      several at once), ``complete`` whether the pass finished (soft deletes done), and
      ``high_water`` the source's newest ``(mod_ts, id)`` when the pass started: everything
      changed after it has a later ``mod_ts``, so an incremental sync can start there.
    """

    mode: SyncMode
    position: Position | None = None
    generation: str | None = None
    last_id: int | None = None
    complete: bool = False
    high_water: Position | None = None
    #: Full pass read in parallel id windows: what is left of each unfinished window (a window
    #: read to its end is dropped). Empty: one window, after ``last_id``.
    windows: tuple[FullWindow, ...] = ()

    def remaining(self) -> tuple[FullWindow, ...]:
        """The id windows an unfinished full pass still has to read."""
        return self.windows or (FullWindow(after_id=self.last_id),)

    def advanced_to(self, position: Position | None, last_id: int | None) -> Checkpoint:
        """The checkpoint moved forward, never backward."""
        new_position = self.position
        if position is not None and (new_position is None or position > new_position):
            new_position = position
        new_last = self.last_id
        if last_id is not None and (new_last is None or last_id > new_last):
            new_last = last_id
        return replace(self, position=new_position, last_id=new_last)

    def to_json(self) -> dict[str, Any]:
        """A plain JSON-able form, for state stores (stable across versions)."""
        return {
            "mode": self.mode.value,
            "mod_ts": self.position.mod_ts.isoformat() if self.position else None,
            "id": self.position.id if self.position else None,
            "generation": self.generation,
            "last_id": self.last_id,
            "complete": self.complete,
            "high_water": _position_json(self.high_water),
            "windows": [w.to_json() for w in self.windows],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        """Inverse of :meth:`to_json`; raises ``ValueError``/``KeyError`` on a corrupt document."""
        last_id = data.get("last_id")
        high_water = data.get("high_water")
        return cls(
            mode=SyncMode(data["mode"]),
            position=_position_from(data),
            generation=data.get("generation"),
            last_id=None if last_id is None else int(last_id),
            complete=bool(data.get("complete", False)),
            high_water=_position_from(high_water) if isinstance(high_water, Mapping) else None,
            windows=tuple(FullWindow.from_json(w) for w in data.get("windows") or ()),
        )


def _position_json(position: Position | None) -> dict[str, Any] | None:
    return None if position is None else {"mod_ts": position.mod_ts.isoformat(), "id": position.id}


def _position_from(data: Mapping[str, Any]) -> Position | None:
    if data.get("mod_ts") is None:
        return None
    mod_ts = datetime.fromisoformat(str(data["mod_ts"]))
    if mod_ts.tzinfo is None:
        raise ValueError("checkpoint mod_ts has no UTC offset")
    return Position(mod_ts, int(data["id"]))


@dataclass(frozen=True, slots=True)
class FullWindow:
    """Read every record with ``after_id < id < until_id`` in id order (``None``: unbounded)."""

    after_id: int | None = None
    until_id: int | None = None

    def to_json(self) -> list[int | None]:
        return [self.after_id, self.until_id]

    @classmethod
    def from_json(cls, data: Any) -> FullWindow:
        after, until = data
        return cls(
            after_id=None if after is None else int(after),
            until_id=None if until is None else int(until),
        )


def split_ids(low: int, high: int, parts: int, min_span: int = 1) -> tuple[FullWindow, ...]:
    """Disjoint windows that together cover every id (the first and last are open-ended, so ids
    below ``low`` or above ``high`` -- inserted during the pass -- belong to one of them).

    At most ``parts`` windows, each spanning at least ``min_span`` ids of ``low..high``.

    >>> split_ids(1, 100, 4)
    (FullWindow(after_id=None, until_id=26), FullWindow(after_id=25, until_id=51), \
FullWindow(after_id=50, until_id=76), FullWindow(after_id=75, until_id=None))
    """
    span = high - low + 1
    count = max(1, min(parts, span // max(min_span, 1)))
    if count == 1:
        return (FullWindow(),)
    cuts = [low + span * k // count for k in range(1, count)]  # each window starts at a cut
    starts: list[int | None] = [None, *cuts]
    ends: list[int | None] = [*cuts, None]
    return tuple(
        FullWindow(after_id=None if start is None else start - 1, until_id=end)
        for start, end in zip(starts, ends, strict=True)
    )


@dataclass(frozen=True, slots=True)
class IncrementalWindow:
    """Read records with ``mod_ts >= since`` in ``(mod_ts, id)`` order."""

    since: datetime | None


ReadWindow = FullWindow | IncrementalWindow


def incremental_window(checkpoint: Checkpoint | None, overlap: timedelta) -> IncrementalWindow:
    """Read from (checkpoint - overlap); everything when there is no checkpoint yet."""
    if checkpoint is None or checkpoint.position is None:
        return IncrementalWindow(since=None)
    return IncrementalWindow(since=checkpoint.position.mod_ts - overlap)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that goes to quarantine: the raw payload, why, and where it came from."""

    entity: str
    record_id: str | None
    payload: str
    reason: str


@dataclass(frozen=True, slots=True)
class Batch:
    """Rows to load together, in one transaction, with the checkpoint they justify.

    ``generation`` marks the rows as seen by a full pass (for soft deletes); ``checkpoint`` is
    stored in the same transaction when the state lives in the sink.
    """

    entity: str
    run_id: str
    records: tuple[NormalizedRecord, ...]
    rejected: tuple[Rejected, ...] = ()
    generation: str | None = None
    state_key: StateKey | None = None
    checkpoint: Checkpoint | None = None


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """What a sink did with one batch."""

    written: int = 0  # inserted or replaced
    stale: int = 0  # not replaced: the stored version is newer (monotonic upsert)
    quarantined: int = 0  # rejected by the domain or by the database (value does not fit)

    def plus(self, other: WriteOutcome) -> WriteOutcome:
        return WriteOutcome(
            self.written + other.written,
            self.stale + other.stale,
            self.quarantined + other.quarantined,
        )


@dataclass(frozen=True, slots=True)
class EntityReport:
    """Counts and timings for one entity in one run."""

    entity: str
    mode: SyncMode
    read: int = 0
    written: int = 0
    stale: int = 0
    quarantined: int = 0
    deleted: int = 0
    pages: int = 0
    retried_requests: int = 0
    batches: int = 0
    inconsistent_references: int = 0
    seconds: float = 0.0
    status: RunStatus = RunStatus.RUNNING
    error: str | None = None
    checkpoint: Checkpoint | None = None
    # Data quality: per field, how many records read held null where describe says a create must
    # carry a value (counted, never quarantined: old records can lack it). Field names sorted.
    required_nulls: tuple[tuple[str, int], ...] = ()
    warnings: tuple[str, ...] = ()  # things an operator should know that did not fail the run

    @property
    def reject_ratio(self) -> float:
        return self.quarantined / self.read if self.read else 0.0

    def add(self, outcome: WriteOutcome, batches: int = 1) -> EntityReport:
        """This report with ``batches`` more batches that did ``outcome``."""
        return replace(
            self,
            written=self.written + outcome.written,
            stale=self.stale + outcome.stale,
            quarantined=self.quarantined + outcome.quarantined,
            batches=self.batches + batches,
        )


@dataclass(frozen=True, slots=True)
class SyncReport:
    """The report of one run over a set of entities."""

    run_id: str
    mode: SyncMode
    started_at: datetime
    finished_at: datetime | None = None
    status: RunStatus = RunStatus.RUNNING
    entities: tuple[EntityReport, ...] = field(default_factory=tuple)
    error: str | None = None
    dry_run: bool = False

    def settled(
        self,
        entities: tuple[EntityReport, ...],
        finished_at: datetime,
        stopped: RunStatus | None = None,
    ) -> SyncReport:
        """The run's final report over ``entities``: succeeded when every entity did; rejected
        when the others only had too many quarantined records; else failed; or ``stopped``
        (interrupted, cancelled) when the run was stopped. The error lists each entity's."""
        unfinished = [e for e in entities if e.status is not RunStatus.SUCCEEDED]
        status = RunStatus.SUCCEEDED
        if stopped is not None:
            status = stopped
        elif unfinished:
            rejected_only = all(e.status is RunStatus.REJECTED for e in unfinished)
            status = RunStatus.REJECTED if rejected_only else RunStatus.FAILED
        error = "; ".join(f"{e.entity}: {e.error}" for e in unfinished) or None
        return replace(self, entities=entities, finished_at=finished_at, status=status, error=error)

    @property
    def totals(self) -> dict[str, int]:
        keys = ("read", "written", "stale", "quarantined", "deleted", "pages", "retried_requests")
        return {key: sum(getattr(e, key) for e in self.entities) for key in keys}

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "mode": self.mode.value,
            "status": self.status.value,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "dry_run": self.dry_run,
            "error": self.error,
            "totals": self.totals,
            "entities": [
                {
                    "entity": e.entity,
                    "status": e.status.value,
                    "read": e.read,
                    "written": e.written,
                    "stale": e.stale,
                    "quarantined": e.quarantined,
                    "deleted": e.deleted,
                    "pages": e.pages,
                    "retried_requests": e.retried_requests,
                    "batches": e.batches,
                    "inconsistent_references": e.inconsistent_references,
                    "seconds": round(e.seconds, 3),
                    "error": e.error,
                    "checkpoint": e.checkpoint.to_json() if e.checkpoint else None,
                    "data_quality": {"required_but_null": dict(e.required_nulls)},
                    "warnings": list(e.warnings),
                }
                for e in self.entities
            ],
        }
