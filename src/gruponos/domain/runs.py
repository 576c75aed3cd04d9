"""Runs and their reports: statuses, per-entity counts, the roll-up of a run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from gruponos.domain.batches import WriteOutcome
from gruponos.domain.checkpoints import Checkpoint, SyncMode
from gruponos.domain.quality import Finding


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
    #: Who started the run: an API subject (``api:<subject>``) or ``cli:<user>``; ``None`` for
    #: runs recorded before this was kept, and for the library API unless its caller says.
    triggered_by: str | None = None
    #: The data-quality checks run after the run (``None``: not run), clean ones included.
    checks: tuple[Finding, ...] | None = None

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
            "triggered_by": self.triggered_by,
            "error": self.error,
            "checks": None if self.checks is None else [f.to_json() for f in self.checks],
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
