"""In-memory record sink, in-sink state store and run history, sharing one ``InMemoryDatabase``.

The sink applies each batch atomically (all or nothing) with the same monotonic-upsert, seen-marker
and soft-delete semantics as the SQL sinks, so use-case tests exercise the real rules.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from returns.io import IOFailure, IOResult, IOSuccess

from gruponos.adapters.memory.state import take_lock
from gruponos.application.errors import SinkError, StateError
from gruponos.application.ports import Lease
from gruponos.domain.batches import Batch, Rejected, WriteOutcome
from gruponos.domain.checkpoints import Checkpoint, StateKey
from gruponos.domain.records import NormalizedRecord
from gruponos.domain.runs import SyncReport
from gruponos.domain.schema import EntitySchema


@dataclass
class StoredRow:
    record: NormalizedRecord
    run_id: str
    seen_generation: str | None = None
    deleted_at: datetime | None = None


@dataclass
class InMemoryDatabase:
    """The shared storage of the in-memory adapters."""

    schemas: dict[str, EntitySchema] = field(default_factory=dict)
    tables: dict[str, dict[int, StoredRow]] = field(default_factory=dict)
    quarantine: list[tuple[str, Rejected]] = field(default_factory=list)
    released: set[int] = field(default_factory=set)  # quarantine seqs (index + 1) replayed
    checkpoints: dict[StateKey, Checkpoint] = field(default_factory=dict)
    locks: dict[StateKey, str] = field(default_factory=dict)
    runs: dict[str, SyncReport] = field(default_factory=dict)
    commits: int = 0

    def live(self, entity: str) -> dict[int, NormalizedRecord]:
        return {
            rid: row.record
            for rid, row in self.tables.get(entity, {}).items()
            if row.deleted_at is None
        }


class InMemorySink:
    """Implements ``RecordSink``. ``fail_on_write`` makes the n-th write (1-based) fail."""

    def __init__(self, db: InMemoryDatabase | None = None, fail_on_write: int | None = None):
        self.db = db or InMemoryDatabase()
        self.fail_on_write = fail_on_write
        self.writes = 0

    def prepare(self, schema: EntitySchema) -> IOResult[None, SinkError]:
        self.db.schemas[schema.entity] = schema
        self.db.tables.setdefault(schema.entity, {})
        return IOSuccess(None)

    def write(self, batch: Batch) -> IOResult[WriteOutcome, SinkError]:
        self.writes += 1
        if self.fail_on_write is not None and self.writes == self.fail_on_write:
            return IOFailure(
                SinkError(
                    "sink.write_failed", "injected failure before commit", {"entity": batch.entity}
                )
            )
        if batch.entity not in self.db.tables:
            return IOFailure(
                SinkError("sink.no_table", "prepare() was not called", {"entity": batch.entity})
            )
        # Stage everything, then swap in: a batch is atomic.
        table = dict(self.db.tables[batch.entity])
        written = stale = 0
        for record in batch.records:
            current = table.get(record.id)
            if current is None or record.mod_ts >= current.record.mod_ts:
                table[record.id] = StoredRow(
                    record,
                    batch.run_id,
                    batch.generation or (current.seen_generation if current else None),
                )
                written += 1
            else:
                stale += 1
                if batch.generation is not None:
                    table[record.id] = StoredRow(
                        current.record, current.run_id, batch.generation, None
                    )
        self.db.tables[batch.entity] = table
        self.db.quarantine.extend((batch.run_id, r) for r in batch.rejected)
        if batch.state_key is not None and batch.checkpoint is not None:
            self.db.checkpoints[batch.state_key] = batch.checkpoint
        self.db.commits += 1
        return IOSuccess(
            WriteOutcome(written=written, stale=stale, quarantined=len(batch.rejected))
        )

    def soft_delete_unseen(
        self, entity: str, generation: str, at: datetime
    ) -> IOResult[int, SinkError]:
        count = 0
        for row in self.db.tables.get(entity, {}).values():
            if row.deleted_at is None and row.seen_generation != generation:
                row.deleted_at = at
                count += 1
        return IOSuccess(count)

    def existing_ids(
        self, entity: str, ids: Collection[int]
    ) -> IOResult[frozenset[int], SinkError]:
        if entity not in self.db.tables:
            return IOFailure(SinkError("sink.no_table", "no such table", {"entity": entity}))
        live = self.db.live(entity)
        return IOSuccess(frozenset(i for i in ids if i in live))

    def snapshot(self, entity: str) -> IOResult[dict[int, datetime], SinkError]:
        return IOSuccess({rid: rec.mod_ts for rid, rec in self.db.live(entity).items()})

    def check(self) -> IOResult[None, SinkError]:
        return IOSuccess(None)

    def close(self) -> None:
        """Nothing to release."""


class InMemorySinkState:
    """The state store that lives in the in-memory sink (``in_sink=True``)."""

    def __init__(self, db: InMemoryDatabase) -> None:
        self.db = db

    @property
    def in_sink(self) -> bool:
        return True

    def load(self, key: StateKey) -> IOResult[Checkpoint | None, StateError]:
        return IOSuccess(self.db.checkpoints.get(key))

    def save(self, key: StateKey, checkpoint: Checkpoint) -> IOResult[None, StateError]:
        self.db.checkpoints[key] = checkpoint
        return IOSuccess(None)

    def reset(self, key: StateKey) -> IOResult[None, StateError]:
        self.db.checkpoints.pop(key, None)
        return IOSuccess(None)

    def all(self) -> IOResult[dict[StateKey, Checkpoint], StateError]:
        return IOSuccess(dict(self.db.checkpoints))

    def lock(self, key: StateKey, owner: str) -> IOResult[Lease, StateError]:
        return take_lock(self.db.locks, key, owner)


class InMemoryRunHistory:
    def __init__(self, db: InMemoryDatabase) -> None:
        self.db = db

    def record(self, report: SyncReport) -> IOResult[None, SinkError]:
        self.db.runs[report.run_id] = report
        return IOSuccess(None)

    def list_runs(self, limit: int) -> IOResult[tuple[SyncReport, ...], SinkError]:
        ordered = sorted(self.db.runs.values(), key=lambda r: r.started_at, reverse=True)
        return IOSuccess(tuple(ordered[:limit]))

    def get_run(self, run_id: str) -> IOResult[SyncReport | None, SinkError]:
        return IOSuccess(self.db.runs.get(run_id))
