"""Ports: what the use cases need from the outside world, as ``typing.Protocol``.

Every method that does I/O returns an ``IOResult``; an adapter turns the exceptions it expects into
``IOFailure`` at its edge and lets bugs raise. Streams are iterators of ``IOResult``: after the
first failure the iterator ends.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from returns.io import IOResult

from gruponos.application.errors import PortError, SinkError, StateError, WmsError
from gruponos.domain.batches import Batch, WriteOutcome
from gruponos.domain.checkpoints import Checkpoint, Position, ReadWindow, StateKey, SyncMode
from gruponos.domain.quarantine import QuarantinedRecord
from gruponos.domain.records import NormalizedRecord
from gruponos.domain.runs import RunStatus, SyncReport
from gruponos.domain.scaleout import NO_NOTES, RunPlan, TaskCounts, TaskNotes, TaskState, TaskStatus
from gruponos.domain.schema import EntitySchema

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page:
    """One page of raw records, in the order the source returned them.

    ``retries`` counts the requests retried to get this page (429, 5xx, timeouts ...).
    ``source_changed``: the source saw the data change during this read while paging in a way
    that does not survive changes (offset paging): records may have been skipped or read twice.
    """

    entity: str
    records: Sequence[Mapping[str, Any]]
    number: int
    retries: int = 0
    source_changed: bool = False


@dataclass(frozen=True, slots=True)
class Answer(Generic[T]):
    """What the source answered outside a read (``latest``, ``id_bounds``) and how many requests
    it retried to get it, so that the entity's report counts every retry."""

    value: T
    retries: int = 0


class WmsSource(Protocol):
    """Oracle WMS Cloud (or a stand-in): lists entities, describes them, streams pages.

    ``read`` semantics: a :class:`~gruponos.domain.checkpoints.FullWindow` reads
    ``after_id < id < until_id`` in id order; an :class:`~gruponos.domain.checkpoints.IncrementalWindow` reads ``mod_ts >= since`` in
    ``(mod_ts, id)`` order with keyset paging, so rows changed during the read are not skipped.
    An empty result (the API's 404 on an empty filter) is an empty stream, not an error.
    """

    def list_entities(self) -> IOResult[tuple[str, ...], WmsError]: ...

    def describe(self, entity: str) -> IOResult[EntitySchema, WmsError]: ...

    def read(self, entity: str, window: ReadWindow) -> Iterator[IOResult[Page, WmsError]]: ...

    def latest(self, entity: str) -> IOResult[Answer[Position | None], WmsError]:
        """The newest ``(mod_ts, id)`` of the entity (``None`` when it has no records)."""
        ...

    def id_bounds(self, entity: str) -> IOResult[Answer[tuple[int, int] | None], WmsError]:
        """The lowest and highest id of the entity (``None`` when it has no records): a full
        sync splits the ids into windows it reads at the same time. ``read`` must be safe to
        call from several threads at once."""
        ...

    def close(self) -> None: ...


class RecordSink(Protocol):
    """The analytics database: tables per entity, monotonic upserts, quarantine, soft deletes."""

    def prepare(self, schema: EntitySchema) -> IOResult[None, SinkError]:
        """Create the entity's table, or add columns for new fields; never drop anything."""
        ...

    def write(self, batch: Batch) -> IOResult[WriteOutcome, SinkError]:
        """Upsert the batch's records monotonically (a stored row is only replaced by a version
        with ``mod_ts`` >= its own), quarantine its rejected records, mark rows as seen by
        ``batch.generation``, and store ``batch.checkpoint`` under ``batch.state_key`` when the
        batch carries one; all in one transaction. A sync commits through :class:`BatchCommit`."""
        ...

    def soft_delete_unseen(
        self, entity: str, generation: str, at: datetime
    ) -> IOResult[int, SinkError]:
        """After a complete full pass: mark rows not seen by ``generation`` as deleted at ``at``."""
        ...

    def existing_ids(
        self, entity: str, ids: Collection[int]
    ) -> IOResult[frozenset[int], SinkError]:
        """Which of ``ids`` are loaded (and not deleted) for ``entity``."""
        ...

    def snapshot(self, entity: str) -> IOResult[dict[int, datetime], SinkError]:
        """Every live (not soft-deleted) id of ``entity`` with its stored ``mod_ts``; for verify."""
        ...

    def check(self) -> IOResult[None, SinkError]:
        """Reachable and writable (health check)."""
        ...

    def close(self) -> None: ...


class BatchCommit(Protocol):
    """The sync's unit of work: a batch and the checkpoint it justifies, committed together.

    Once ``commit`` succeeds both are durable; the checkpoint is never durable without the
    batch's data, so it never runs ahead of what is committed. The SQL and in-memory sinks
    commit both in one transaction (their checkpoints live in their own database);
    :class:`~gruponos.application.commit.SaveAfterCommit` saves the checkpoint to a state store
    kept elsewhere (a file, Meltano) once the sink has committed the batch.
    """

    def commit(
        self, batch: Batch, key: StateKey, checkpoint: Checkpoint
    ) -> IOResult[WriteOutcome, PortError]: ...


class Lease(Protocol):
    """A held lock; releasing twice is harmless."""

    def release(self) -> None: ...


class StateStore(Protocol):
    """Checkpoints per (pipeline, entity), and the lock that keeps one run per key.

    Where a batch's checkpoint is committed is not the state store's business but the
    :class:`BatchCommit`'s, which the composition root picks: the sink's own when the
    checkpoints live in the sink's database, else a save after the sink's commit.
    """

    def load(self, key: StateKey) -> IOResult[Checkpoint | None, StateError]: ...

    def save(self, key: StateKey, checkpoint: Checkpoint) -> IOResult[None, StateError]: ...

    def reset(self, key: StateKey) -> IOResult[None, StateError]: ...

    def all(self) -> IOResult[dict[StateKey, Checkpoint], StateError]: ...

    def lock(self, key: StateKey, owner: str) -> IOResult[Lease, StateError]:
        """Take the run lock for ``key`` or fail with code ``state.locked`` naming the holder."""
        ...


@dataclass(frozen=True, slots=True)
class RunQuery:
    """Which runs to list: by mode and status, newest first, ``limit`` of them, starting after
    ``after`` (the ``(started_at, run_id)`` of the last run of the previous page)."""

    limit: int = 50
    mode: SyncMode | None = None
    status: RunStatus | None = None
    after: tuple[datetime, str] | None = None


class RunHistory(Protocol):
    """Where every run is recorded (start, end, status, counts per entity, error)."""

    def record(self, report: SyncReport) -> IOResult[None, SinkError]:
        """Insert or update the run ``report.run_id``."""
        ...

    def list_runs(self, limit: int) -> IOResult[tuple[SyncReport, ...], SinkError]: ...

    def get_run(self, run_id: str) -> IOResult[SyncReport | None, SinkError]: ...

    def running(self) -> IOResult[tuple[SyncReport, ...], SinkError]:
        """The runs recorded as ``running``: alive, or dead without a word (a later run marks
        those ``abandoned``)."""
        ...

    def find_runs(self, query: RunQuery) -> IOResult[tuple[SyncReport, ...], SinkError]:
        """The runs matching ``query``, newest start first (then the greater run id), strictly
        after ``query.after`` in that order: keyset pagination, stable while runs are added."""
        ...


class QuarantineStore(Protocol):
    """The quarantined records, read back for a replay and released once loaded."""

    def pending(
        self, entity: str, after_seq: int, limit: int
    ) -> IOResult[tuple[QuarantinedRecord, ...], SinkError]:
        """Up to ``limit`` records of ``entity`` with ``seq > after_seq``, in ``seq`` order."""
        ...

    def newest(
        self, entity: str | None, limit: int
    ) -> IOResult[tuple[QuarantinedRecord, ...], SinkError]:
        """The newest ``limit`` records (of one entity, or all), newest first."""
        ...

    def release(self, seqs: Collection[int]) -> IOResult[None, SinkError]:
        """Remove the records ``seqs`` (replayed); seqs no longer there are ignored."""
        ...


class Clock(Protocol):
    """Time, so the core stays testable: an aware UTC ``now`` and a ``sleep`` for backoff."""

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True, slots=True)
class SyncEvent:
    """Progress and diagnostics from the use cases; adapters log, draw or count them.

    Kinds: ``run_started``, ``entity_started``, ``id_bounds`` (a new full pass that reads
    in parallel: the entity's ``low`` and ``high`` id), ``page_read``, ``batch_written``,
    ``entity_finished``, ``run_finished``, ``warning``, ``retrying_run``.
    """

    kind: str
    run_id: str
    entity: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


class SyncObserver(Protocol):
    def on_event(self, event: SyncEvent) -> None: ...


@dataclass(frozen=True, slots=True)
class RunRequest:
    """A run asked of an executor: its id is decided before it starts, so the caller can
    point at it (the API's ``Location``) while it is queued."""

    run_id: str
    mode: SyncMode
    entities: tuple[str, ...]
    dry_run: bool = False
    triggered_by: str | None = None


class RunExecutor(Protocol):
    """Runs syncs away from the caller (the API never blocks on a run): a bounded in-process
    pool, or distributed workers. A run it executes is the same run as the CLI's: the same use
    case, history and run lock."""

    def submit(self, request: RunRequest) -> bool:
        """Accept the run (queued, then run); ``False`` when the executor is full."""
        ...

    def cancel(self, run_id: str, reason: str) -> bool:
        """Ask a queued or running run to stop (it ends ``cancelled``, the batch in flight
        committed); ``False`` when this executor does not hold that run."""
        ...

    def active(self) -> tuple[RunRequest, ...]:
        """The runs accepted and not finished yet (queued or running)."""
        ...

    def close(self) -> None:
        """Stop accepting runs, stop those accepted as a SIGTERM would (each commits the batch
        in flight and ends ``interrupted``), and wait for them to end."""
        ...


class SinkTables(Protocol):
    """Administration of the sink's entity tables (``gruponos tables``): names, columns, drops."""

    def table_name(self, entity: str) -> str:
        """The entity's table as the database names it."""
        ...

    def describe_table(self, entity: str) -> IOResult[tuple[tuple[str, str], ...], SinkError]:
        """``(column, SQL type)`` of the entity's table, in table order; empty if it is absent."""
        ...

    def drop_table(self, entity: str) -> IOResult[bool, SinkError]:
        """Drop the entity's table (and its history); ``False`` when there was none."""
        ...


class SinkViews(Protocol):
    """The analyst's views of the entity tables (``gruponos views``): ``<table>_V``, live rows."""

    def create_view(self, schema: EntitySchema) -> IOResult[str, SinkError]:
        """(Re)create the entity's view (its table prepared first); the view's name."""
        ...

    def drop_view(self, entity: str) -> IOResult[tuple[str, bool], SinkError]:
        """Drop the entity's view: its name, and ``False`` when there was none."""
        ...

    def view_name(self, entity: str) -> str:
        """The entity's view as the analyst types it (``wms_order_dtl_v``)."""
        ...


@dataclass(frozen=True, slots=True)
class SourceReject:
    """A record the normalizer refused, as the source sent it (``record_id`` as the payload had
    it, ``None`` when it had none)."""

    entity: str
    record_id: Any
    reason: str
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    """One page of an extraction: the records that passed, the rejected ones (kept whole, so that
    none vanishes), when it was read, and whether the source saw the data change under it."""

    entity: str
    number: int
    records: Sequence[NormalizedRecord]
    rejected: Sequence[SourceReject]
    extracted: datetime
    source_changed: bool = False


class ExtractOutput(Protocol):
    """Where an extraction sends what it read (``tap-gruponos``: Singer messages on stdout).

    Per entity: :meth:`begin` with its schema, :meth:`page` for every page read, then
    :meth:`checkpoint` once the position moved past that page (never before its records and
    rejects are out), and :meth:`end` with what the entity gave.
    """

    def begin(self, schema: EntitySchema) -> IOResult[None, SinkError]: ...

    def page(self, page: ExtractedPage) -> IOResult[None, SinkError]: ...

    def checkpoint(self, entity: str, checkpoint: Checkpoint) -> IOResult[None, SinkError]: ...

    def end(
        self, entity: str, *, records: int, rejected: int, pages: int
    ) -> IOResult[None, SinkError]: ...


class CommittedStates(Protocol):
    """Where a load passes on its input's state (``target-gruponos``: stdout, for Meltano), only
    once every record that came before it is committed."""

    def emit(self, state: Mapping[str, Any]) -> IOResult[None, SinkError]: ...


@dataclass(frozen=True, slots=True)
class TaskCommit:
    """What a task's batch moves forward in its plan row, in the batch's own transaction: the
    records it read (the store adds the batch's outcome to the row's counts), the window's new
    ``last_id`` or the entity task's ``position``, the lease's new expiry, and (an entity task)
    the incremental checkpoint it justifies."""

    read: int
    lease_until: datetime
    last_id: int | None = None
    position: Position | None = None
    checkpoint: tuple[StateKey, Checkpoint] | None = None


class RunPlans(Protocol):
    """The durable plans of distributed runs: a row per run and a row per task (an id window of
    a full pass, an entity of an incremental run), kept in the sink's database.

    Leases are atomic (a conditional update, judged by the rows it changed): a task is taken
    only while pending and free, expired, or already the taker's; a done task is never taken
    again. A task's batches commit *fenced*: the data, the row's progress and the renewed lease
    in one transaction, which fails with code ``plan.lease_lost`` (and writes nothing) when the
    caller no longer holds the lease or the task is no longer pending.
    """

    def create(self, plan: RunPlan, tasks: Sequence[TaskState]) -> IOResult[bool, SinkError]:
        """Store the run and its tasks in one transaction; ``False`` (nothing written) when the
        run id is already planned."""
        ...

    def get(self, run_id: str) -> IOResult[RunPlan | None, SinkError]: ...

    def tasks(self, run_id: str) -> IOResult[tuple[TaskState, ...], SinkError]:
        """The run's tasks by entity (in plan order) and index."""
        ...

    def open_plans(self) -> IOResult[tuple[RunPlan, ...], SinkError]:
        """The runs not closed yet (status ``running``), oldest first."""
        ...

    def claim(
        self, run_id: str, entity: str, index: int, owner: str, now: datetime, until: datetime
    ) -> IOResult[TaskState | None, SinkError]:
        """Take the task's lease until ``until``; the row as taken, or ``None`` when it is
        done (or failed, cancelled) or another owner's lease is live at ``now``."""
        ...

    def commit(
        self, batch: Batch, task: TaskState, owner: str, progress: TaskCommit
    ) -> IOResult[WriteOutcome, PortError]:
        """The batch and ``progress`` in one transaction, fenced by ``owner``'s lease."""
        ...

    def end_task(
        self,
        task: TaskState,
        owner: str,
        status: TaskStatus,
        extra: TaskCounts,
        error: str | None = None,
        notes: TaskNotes = NO_NOTES,
    ) -> IOResult[bool, SinkError]:
        """Mark the task ``status`` (done, failed) adding ``extra`` and ``notes``, and drop its
        lease; only while ``owner`` holds it and it is pending (``False`` otherwise)."""
        ...

    def release(
        self, task: TaskState, owner: str, extra: TaskCounts, notes: TaskNotes = NO_NOTES
    ) -> IOResult[None, SinkError]:
        """Give the lease up (an interrupted task), adding ``extra`` and ``notes``; the task
        stays pending."""
        ...

    def claim_run(
        self, run_id: str, owner: str, now: datetime, until: datetime
    ) -> IOResult[RunPlan | None, SinkError]:
        """The finaliser's lease on the run's row (one finaliser at a time): the row, or
        ``None`` when the run is closed or another live finaliser holds it."""
        ...

    def close_run(self, plan: RunPlan, owner: str) -> IOResult[bool, SinkError]:
        """Store ``plan`` (its final status, deletions, error, end), fenced by ``owner``'s
        finaliser lease; ``False`` when that lease was lost."""
        ...

    def note_deleted(self, run_id: str, entity: str, deleted: int) -> IOResult[None, SinkError]:
        """Keep the finaliser's soft-delete count of ``entity`` (a finaliser taking over after
        a crash finds it there)."""
        ...

    def cancel(self, run_id: str, reason: str) -> IOResult[int, SinkError]:
        """Mark the run's pending tasks cancelled (their in-flight commits then fail the
        fence); how many."""
        ...

    def fail_task(
        self, run_id: str, entity: str, index: int, error: str
    ) -> IOResult[bool, SinkError]:
        """Mark a pending task failed whoever holds it (the executor gave up on it; a holder's
        next commit fails the fence); ``False`` when it was not pending."""
        ...
