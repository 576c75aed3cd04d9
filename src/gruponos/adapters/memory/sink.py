"""In-memory record sink, in-sink state store and run history, sharing one ``InMemoryDatabase``.

The sink applies each batch atomically (all or nothing) with the same monotonic-upsert, seen-marker,
quarantine and soft-delete semantics as the SQL sinks (sharing their value rules), so use-case tests
exercise the real rules; ``tests/contract`` runs one suite against both.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import datetime

from returns.io import IOFailure, IOResult, IOSuccess

from gruponos.adapters.memory.state import take_lock
from gruponos.adapters.sql.dialect import value_reason
from gruponos.adapters.sql.placing import newest_per_id, payload_of, placeable, storable_text
from gruponos.application.errors import SinkError, StateError
from gruponos.application.ports import Lease, RunQuery
from gruponos.domain.batches import Batch, Rejected, WriteOutcome
from gruponos.domain.checkpoints import Checkpoint, StateKey
from gruponos.domain.records import NormalizedRecord
from gruponos.domain.runs import RunStatus, SyncReport
from gruponos.domain.schema import EntitySchema


@dataclass
class StoredRow:
    record: NormalizedRecord
    run_id: str
    seen_generation: str | None = None
    deleted_at: datetime | None = None
    loaded_at: datetime | None = None


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

    def __init__(
        self,
        db: InMemoryDatabase | None = None,
        fail_on_write: int | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db or InMemoryDatabase()
        self.fail_on_write = fail_on_write
        #: When rows are loaded (the SQL sinks' ``GNOS_LOADED_AT``). Without one, rows have no
        #: load time and ``soft_delete_unseen`` spares none, whatever the run history says.
        self.clock = clock
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
        schema = self.db.schemas.get(batch.entity)
        if schema is None:
            context = {"entity": batch.entity, "run_id": batch.run_id}
            return IOFailure(SinkError("sink.not_prepared", "prepare the entity first", context))
        # As the SQL sinks do: records with an unusable id or mod_ts, or a value a column cannot
        # hold exactly, are quarantined; of the others, the newest version per id is upserted.
        records, unfit = placeable(batch.records)
        quarantine = list(batch.rejected)
        quarantine += [
            Rejected(batch.entity, storable_text(r.id), payload_of(r), why) for r, why in unfit
        ]
        latest = []
        for record in newest_per_id(records):
            why = "; ".join(
                f"{c.name}: {reason}"
                for c in schema.columns
                if (value := record.values.get(c.name)) is not None
                and (reason := value_reason(c.type, value))
            )
            if why:
                quarantine.append(Rejected(batch.entity, str(record.id), payload_of(record), why))
            else:
                latest.append(record)
        # Stage everything, then swap in: a batch is atomic.
        table = dict(self.db.tables[batch.entity])
        now = self.clock() if self.clock is not None else None
        written = stale = 0
        for record in latest:
            current = table.get(record.id)
            if current is None or record.mod_ts >= current.record.mod_ts:
                table[record.id] = StoredRow(
                    record,
                    batch.run_id,
                    batch.generation or (current.seen_generation if current else None),
                    loaded_at=now,
                )
                written += 1
            else:
                stale += 1
                if batch.generation is not None:
                    table[record.id] = replace(
                        current, seen_generation=batch.generation, deleted_at=None
                    )
        self.db.tables[batch.entity] = table
        self.db.quarantine.extend((batch.run_id, r) for r in quarantine)
        if batch.state_key is not None and batch.checkpoint is not None:
            self.db.checkpoints[batch.state_key] = batch.checkpoint
        self.db.commits += 1
        return IOSuccess(WriteOutcome(written=written, stale=stale, quarantined=len(quarantine)))

    def commit(
        self, batch: Batch, key: StateKey, checkpoint: Checkpoint
    ) -> IOResult[WriteOutcome, SinkError]:
        """``BatchCommit`` with the checkpoints in this database (:class:`InMemorySinkState`):
        the batch and ``checkpoint`` applied together, or neither."""
        return self.write(replace(batch, state_key=key, checkpoint=checkpoint))

    def soft_delete_unseen(
        self, entity: str, generation: str, at: datetime
    ) -> IOResult[int, SinkError]:
        """As the SQL sinks: rows loaded after the run ``generation`` started (when the run
        history knows it, and the sink has a clock) are spared."""
        run = self.db.runs.get(generation)
        started = run.started_at if run is not None else None
        count = 0
        for row in self.db.tables.get(entity, {}).values():
            if row.deleted_at is not None or row.seen_generation == generation:
                continue
            if started is not None and row.loaded_at is not None and row.loaded_at >= started:
                continue
            row.deleted_at = at
            count += 1
        return IOSuccess(count)

    def existing_ids(
        self, entity: str, ids: Collection[int]
    ) -> IOResult[frozenset[int], SinkError]:
        live = self.db.live(entity)
        return IOSuccess(frozenset(i for i in ids if i in live))

    def snapshot(self, entity: str) -> IOResult[dict[int, datetime], SinkError]:
        return IOSuccess({rid: rec.mod_ts for rid, rec in self.db.live(entity).items()})

    def check(self) -> IOResult[None, SinkError]:
        return IOSuccess(None)

    def close(self) -> None:
        """Nothing to release."""


class InMemorySinkState:
    """The state store that lives in the in-memory sink, where the sink's ``commit`` stores each
    batch's checkpoint with the batch."""

    def __init__(self, db: InMemoryDatabase) -> None:
        self.db = db

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
        # as the SQL history: newest start first, then the greater run id
        runs = self.db.runs.values()
        ordered = sorted(runs, key=lambda r: (r.started_at, r.run_id), reverse=True)
        return IOSuccess(tuple(ordered[:limit]))

    def get_run(self, run_id: str) -> IOResult[SyncReport | None, SinkError]:
        return IOSuccess(self.db.runs.get(run_id))

    def running(self) -> IOResult[tuple[SyncReport, ...], SinkError]:
        return IOSuccess(tuple(r for r in self.db.runs.values() if r.status is RunStatus.RUNNING))

    def find_runs(self, query: RunQuery) -> IOResult[tuple[SyncReport, ...], SinkError]:
        def matches(run: SyncReport) -> bool:
            return (
                (query.mode is None or run.mode is query.mode)
                and (query.status is None or run.status is query.status)
                and (query.after is None or (run.started_at, run.run_id) < query.after)
            )

        runs = [r for r in self.db.runs.values() if matches(r)]
        ordered = sorted(runs, key=lambda r: (r.started_at, r.run_id), reverse=True)
        return IOSuccess(tuple(ordered[: max(query.limit, 0)]))
