"""A worker's side of a distributed run: one task executed under its lease (see
:mod:`gruponos.application.scaleout`)."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from returns.io import IOFailure, IOResult, IOSuccess
from returns.pipeline import is_successful

from gruponos.application.batches import BatchWriter, Emit
from gruponos.application.errors import PortError
from gruponos.application.lifecycle import StopSignal
from gruponos.application.ports import (
    Clock,
    Page,
    RecordSink,
    RunPlans,
    StateStore,
    TaskCommit,
    WmsSource,
)
from gruponos.application.prefetch import Ended, Merged
from gruponos.application.scaleout_values import (
    LEASE_LOST,
    DistributedOptions,
    TaskOutcome,
    TaskResult,
)
from gruponos.application.sync import SyncOptions
from gruponos.domain.batches import Batch, WriteOutcome
from gruponos.domain.checkpoints import (
    Checkpoint,
    ReadWindow,
    StateKey,
    SyncMode,
    incremental_window,
)
from gruponos.domain.normalize import RecordNormalizer
from gruponos.domain.runs import EntityReport
from gruponos.domain.scaleout import (
    Task,
    TaskCounts,
    TaskNotes,
    TaskState,
    TaskStatus,
)
from gruponos.domain.schema import EntitySchema


class TaskRunner:
    """Executes tasks: take the lease, resume from the row, commit fenced batches, end the row."""

    def __init__(
        self,
        source: WmsSource,
        sink: RecordSink,
        state: StateStore,
        plans: RunPlans,
        clock: Clock,
        options: SyncOptions,
        distributed: DistributedOptions,
        emit: Emit,
    ) -> None:
        self._source = source
        self._sink = sink
        self._state = state
        self._plans = plans
        self._clock = clock
        self._options = options
        self._dist = distributed
        self._emit = emit

    def execute(self, task: Task, owner: str, stop: StopSignal) -> IOResult[TaskOutcome, PortError]:
        """See :meth:`~gruponos.application.scaleout.DistributedRuns.execute`."""
        now = self._clock.now()
        claimed: IOResult[TaskState | None, PortError] = self._plans.claim(
            task.run_id, task.entity, task.index, owner, now, now + self._dist.lease
        )
        return claimed.bind(partial(self._execute_claimed, task, owner, stop))

    def _execute_claimed(
        self, task: Task, owner: str, stop: StopSignal, row: TaskState | None
    ) -> IOResult[TaskOutcome, PortError]:
        if row is None:
            return self._why_not_claimed(task)
        described: IOResult[EntitySchema, PortError] = self._source.describe(task.entity)
        return (
            described.bind(lambda schema: self._sink.prepare(schema).map(lambda _: schema))
            .bind(partial(self._start_task, row, owner, stop))
            .lash(partial(self._released_after, row, owner, TaskCounts(), TaskNotes()))
        )

    def _released_after(
        self, row: TaskState, owner: str, extra: TaskCounts, notes: TaskNotes, error: PortError
    ) -> IOResult[TaskOutcome, PortError]:
        """A failed task gives its lease up (another delivery may retry at once)."""
        released: IOResult[None, PortError] = self._plans.release(row, owner, extra, notes)
        return released.bind(lambda _: IOFailure(error))

    def _why_not_claimed(self, task: Task) -> IOResult[TaskOutcome, PortError]:
        def judged(rows: tuple[TaskState, ...]) -> TaskOutcome:
            row = next((t for t in rows if (t.entity, t.index) == (task.entity, task.index)), None)
            if row is None:
                return TaskOutcome(task, TaskResult.UNKNOWN, detail="no such task in the plan")
            if row.status is TaskStatus.CANCELLED:
                return TaskOutcome(task, TaskResult.CANCELLED, detail=row.error or "cancelled")
            if row.status.final:
                return TaskOutcome(task, TaskResult.ALREADY_DONE, detail=row.status.value)
            return TaskOutcome(task, TaskResult.HELD, detail=f"held by {row.owner}")

        rows: IOResult[tuple[TaskState, ...], PortError] = self._plans.tasks(task.run_id)
        return rows.map(judged)

    def _start_task(
        self, row: TaskState, owner: str, stop: StopSignal, schema: EntitySchema
    ) -> IOResult[TaskOutcome, PortError]:
        if row.kind == "window":
            start = Checkpoint(
                SyncMode.FULL, generation=row.run_id, last_id=row.last_id, windows=()
            )
            return self._run_task(row, owner, stop, schema, start, row.remaining(), None)
        key = StateKey(self._options.incremental_pipeline, row.entity)
        loaded: IOResult[Checkpoint | None, PortError] = self._state.load(key)

        def incremental(stored: Checkpoint | None) -> IOResult[TaskOutcome, PortError]:
            start = stored or Checkpoint(SyncMode.INCREMENTAL)
            window = incremental_window(start, self._options.overlap)
            return self._run_task(row, owner, stop, schema, start, window, key)

        return loaded.bind(incremental)

    def _run_task(
        self,
        row: TaskState,
        owner: str,
        stop: StopSignal,
        schema: EntitySchema,
        start: Checkpoint,
        window: ReadWindow,
        incremental_key: StateKey | None,
    ) -> IOResult[TaskOutcome, PortError]:
        """Read the task's window, commit its batches fenced by the lease, then end the row."""
        commit = _TaskCommit(self._plans, self._clock, self._dist, row, owner, incremental_key)
        key = incremental_key or StateKey(self._options.full_pipeline, row.entity)
        options = replace(self._options, dry_run=False)
        report = EntityReport(row.entity, start.mode)
        writer = BatchWriter(
            commit, self._sink, options, self._emit, row.run_id, key, start, report
        )
        normalizer = RecordNormalizer(schema, self._options.normalize)
        for note in schema.notes:
            writer.warn(note)
        read = self._stream(row, normalizer, writer, window, stop)
        done = writer.report
        extra = TaskCounts(
            pages=done.pages,
            retried_requests=done.retried_requests,
            inconsistent_references=done.inconsistent_references,
        )
        notes = TaskNotes(done.required_nulls, done.warnings)
        task = row.task
        written = writer.result()
        if not is_successful(written):
            return written.bind(lambda _: IOSuccess(TaskOutcome(task, TaskResult.DONE))).lash(
                partial(self._after_failed_commit, row, owner, extra, notes, done.read)
            )
        if not is_successful(read):
            return read.bind(lambda _: IOSuccess(TaskOutcome(task, TaskResult.DONE))).lash(
                partial(self._released_after, row, owner, extra, notes)
            )
        if stop.requested:
            released: IOResult[None, PortError] = self._plans.release(row, owner, extra, notes)
            return released.map(
                lambda _: TaskOutcome(task, TaskResult.INTERRUPTED, done.read, stop.reason)
            )
        ended: IOResult[bool, PortError] = self._plans.end_task(
            row, owner, TaskStatus.DONE, extra, notes=notes
        )
        return ended.bind(
            lambda ok: (
                IOSuccess(TaskOutcome(task, TaskResult.DONE, done.read))
                if ok
                else self._lost(row, done.read)
            )
        )

    def _after_failed_commit(
        self,
        row: TaskState,
        owner: str,
        extra: TaskCounts,
        notes: TaskNotes,
        read: int,
        error: PortError,
    ) -> IOResult[TaskOutcome, PortError]:
        if error.code == LEASE_LOST:
            return self._lost(row, read)
        return self._released_after(row, owner, extra, notes, error)

    def _lost(self, row: TaskState, read: int) -> IOResult[TaskOutcome, PortError]:
        """The fence refused: the run was cancelled, or another owner took the lease over."""

        def judged(outcome: TaskOutcome) -> TaskOutcome:
            if outcome.result is TaskResult.CANCELLED:
                return replace(outcome, records=read)
            return TaskOutcome(row.task, TaskResult.LEASE_LOST, read, "the lease was taken over")

        return self._why_not_claimed(row.task).map(judged)

    def _stream(
        self,
        row: TaskState,
        normalizer: RecordNormalizer,
        writer: BatchWriter,
        window: ReadWindow,
        stop: StopSignal,
    ) -> IOResult[None, PortError]:
        """As the local sync's read loop: pages through a reader thread into the writer, until
        the end, a read error, a failed write or a stop; leaving the block commits what was
        read."""
        read = self._source.read(row.entity, window)
        merged = Merged([read], self._options.prefetch_pages, should_stop=lambda: stop.requested)
        with merged as pages, writer:
            for _, item in pages:
                if stop.requested:
                    break
                if isinstance(item, Ended):
                    continue
                taken = item.map(partial(self._take_page, row, normalizer, writer))
                if not is_successful(taken):
                    return taken
                if writer.error is not None:
                    break
        return IOSuccess(None)

    def _take_page(
        self, row: TaskState, normalizer: RecordNormalizer, writer: BatchWriter, page: Page
    ) -> None:
        writer.page_read(page.retries)
        outcomes = normalizer.normalize_page(page.records)
        writer.add_page(page.records, outcomes, 0 if row.kind == "window" else None)
        writer.required_nulls(normalizer.required_nulls(outcomes))
        self._emit(
            "page_read",
            row.run_id,
            row.entity,
            {"records": len(page.records), "page": page.number, "window": row.index},
        )

    def give_up(self, task: Task, error: str) -> IOResult[bool, PortError]:
        """The executor stopped retrying ``task``: mark it failed (whoever holds it), so the run
        can close as failed. ``False`` when it was no longer pending."""
        failed: IOResult[bool, PortError] = self._plans.fail_task(
            task.run_id, task.entity, task.index, error
        )
        return failed


class _TaskCommit:
    """The :class:`~gruponos.application.ports.BatchCommit` a task's writer commits through: the
    batch with the row's progress and a renewed lease, fenced (see ``RunPlans.commit``)."""

    def __init__(
        self,
        plans: RunPlans,
        clock: Clock,
        options: DistributedOptions,
        row: TaskState,
        owner: str,
        incremental_key: StateKey | None,
    ) -> None:
        self._plans = plans
        self._clock = clock
        self._options = options
        self._row = row
        self._owner = owner
        self._key = incremental_key

    def commit(
        self,
        batch: Batch,
        key: StateKey,  # noqa: ARG002 - the row is the task's state, whatever the key
        checkpoint: Checkpoint,
    ) -> IOResult[WriteOutcome, PortError]:
        progress = TaskCommit(
            read=len(batch.records) + len(batch.rejected),
            lease_until=self._clock.now() + self._options.lease,
            last_id=checkpoint.last_id if self._key is None else None,
            position=checkpoint.position if self._key is not None else None,
            checkpoint=None if self._key is None else (self._key, checkpoint),
        )
        return self._plans.commit(batch, self._row, self._owner, progress)
