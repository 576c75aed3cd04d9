"""What a sink is given and what it did: batches of records with their checkpoint, rejects."""

from __future__ import annotations

from dataclasses import dataclass

from gruponos.domain.checkpoints import Checkpoint, StateKey
from gruponos.domain.records import NormalizedRecord


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
