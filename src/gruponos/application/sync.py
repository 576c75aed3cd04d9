"""The sync use cases: full and incremental sync of a set of entities.

The algorithm, per entity:

1. take the run lock for (pipeline, entity);
2. describe the entity, compile its normalizer, prepare the table (create / add columns);
3. load the checkpoint and derive the read window (incremental: from checkpoint - overlap;
   full: resume the unfinished pass where each of its id windows got to, or start a new pass
   split into ``read_parallelism`` id windows read at the same time);
4. stream pages; normalize each record (rejects go to quarantine, never dropped); flush a batch
   every ``batch_size`` records, with the checkpoint that the batch justifies, in one transaction;
5. full sync only: after the whole pass, soft-delete rows the pass did not see and mark the
   checkpoint complete;
6. fail the entity when the share of quarantined records is above ``max_reject_ratio``.

The checkpoint only moves over committed data, so a crash anywhere loses nothing: the re-run
re-reads from the last committed position, and the monotonic upsert makes re-reads harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from returns.io import IO, IOFailure, IOResult, IOSuccess
from returns.methods import unwrap_or_failure
from returns.pipeline import is_successful
from returns.result import Failure, Result, Success

from gruponos.application.abandoned import hold_run, mark_abandoned
from gruponos.application.batches import BatchWriter
from gruponos.application.commit import SaveAfterCommit
from gruponos.application.errors import PortError, StateError, SyncError
from gruponos.application.lifecycle import StopSignal
from gruponos.application.ports import (
    Answer,
    BatchCommit,
    Clock,
    Lease,
    Page,
    RecordSink,
    RunHistory,
    RunPlans,
    StateStore,
    SyncEvent,
    SyncObserver,
    WmsSource,
)
from gruponos.application.prefetch import Ended, Merged
from gruponos.domain.checkpoints import (
    Checkpoint,
    Position,
    ReadWindow,
    StateKey,
    SyncMode,
    incremental_window,
    split_ids,
)
from gruponos.domain.normalize import RecordNormalizer
from gruponos.domain.records import NormalizeOptions
from gruponos.domain.runs import FAILURE_CODES, EntityReport, RunStatus, SyncReport
from gruponos.domain.scaleout import RunPlan
from gruponos.domain.schema import EntitySchema


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """Tuning and policy of a run (the settings layer fills these from configuration)."""

    batch_size: int = 5000
    overlap: timedelta = timedelta(minutes=5)
    max_reject_ratio: float = 0.05
    dry_run: bool = False
    normalize: NormalizeOptions = NormalizeOptions()
    #: Pipeline names for state keys; two deployments can keep separate bookmarks.
    full_pipeline: str = "full"
    incremental_pipeline: str = "incremental"
    #: (child entity, relation field, parent entity) pairs checked after each batch.
    references: tuple[tuple[str, str, str], ...] = (("order_dtl", "order_id", "order_hdr"),)
    #: Pages fetched ahead by a reader thread while the previous ones are normalized and
    #: written (the bound of the buffer: memory stays flat); 0 reads in the calling thread.
    prefetch_pages: int = 2
    #: Batches are written by a writer thread while the next pages are normalized (at most one
    #: batch waits); ``False`` writes each batch in the calling thread.
    write_behind: bool = True
    #: A new full pass splits the ids into this many disjoint windows, each with its own reader
    #: thread (``prefetch_pages`` pages ahead in all); a reader starts when the pipeline waits
    #: for pages (see :class:`~gruponos.application.prefetch.Merged`). 1: one sweep.
    read_parallelism: int = 4
    #: ... but only when each window spans at least this many ids.
    min_window_ids: int = 10_000
    #: Who starts the runs (kept in the run history): ``cli:<user>``, an API subject.
    triggered_by: str | None = None


#: The entity report's warning when a read's paging did not survive a change of the source.
SOURCE_CHANGED = (
    "the source changed during an offset-paged read (page_mode=paged): records may have been "
    "skipped; page_mode=sequenced never skips, or run the sync again"
)


class _NullObserver:
    def on_event(self, event: SyncEvent) -> None:
        """Drop events: nobody is listening."""


@dataclass(frozen=True, slots=True)
class _Plan:
    """Where an entity's load starts: its schema, the checkpoint, the windows to read, and the
    requests the source retried to decide them (``latest``, ``id_bounds``)."""

    schema: EntitySchema
    checkpoint: Checkpoint
    windows: tuple[ReadWindow, ...]
    retried: int = 0


class SyncEntities:
    """Full or incremental sync of entities from a WMS source into a record sink.

    ``commit`` commits each batch with its checkpoint (see
    :class:`~gruponos.application.ports.BatchCommit`); by default the sink writes the batch and
    ``state`` saves the checkpoint after it. The container passes the sink itself when the
    checkpoints live in the sink's database (one transaction for both).

    ``plans``: the distributed runs' plans (:mod:`~gruponos.application.scaleout`). An open
    distributed run holds the run locks of its entities, so a local run of the same pipeline
    is refused on them, and it is never taken for abandoned (it holds no process's lock).

    >>> # report = SyncEntities(source, sink, state, runs, clock, new_run_id).run(
    >>> #     SyncMode.INCREMENTAL, ["allocation"])
    """

    def __init__(
        self,
        source: WmsSource,
        sink: RecordSink,
        state: StateStore,
        runs: RunHistory | None,
        clock: Clock,
        new_run_id: Callable[[], str],
        options: SyncOptions | None = None,
        observer: SyncObserver | None = None,
        commit: BatchCommit | None = None,
        plans: RunPlans | None = None,
    ) -> None:
        self._plans = plans
        self._source = source
        self._sink = sink
        self._state = state
        self._commit = commit or SaveAfterCommit(sink, state)
        self._runs = runs
        self._clock = clock
        self._new_run_id = new_run_id
        self._options = options or SyncOptions()
        self._observer: SyncObserver = observer or _NullObserver()

    def run(
        self, mode: SyncMode, entities: Sequence[str], stop: StopSignal | None = None
    ) -> IOResult[SyncReport, SyncError]:
        """Sync ``entities`` one after the other; the report says what happened to each.

        ``stop``, once requested, ends the run early: the entity being synced commits the batch
        in flight with its checkpoint and ends ``interrupted`` (or ``cancelled``), the entities
        not started are reported as such, and so is the run.

        Returns ``IOFailure`` when any entity did not succeed; the error's context holds the
        report.
        """
        stop = stop or StopSignal()
        run_id = self._new_run_id()
        report = SyncReport(
            run_id=run_id,
            mode=mode,
            started_at=self._clock.now(),
            dry_run=self._options.dry_run,
            triggered_by=self._options.triggered_by,
        )
        self._emit("run_started", run_id, data={"mode": mode.value, "entities": list(entities)})
        alive = None if self._options.dry_run else hold_run(self._state, run_id)
        self._record(report)
        self._find_abandoned(run_id)
        try:
            synced = self._sync_all(report, entities, stop)
        finally:
            if alive is not None:
                alive.map(lambda lease: lease.release())
        return IOResult.from_typecast(synced.map(partial(self._settle, report, stop)))

    def _sync_all(
        self, run: SyncReport, entities: Sequence[str], stop: StopSignal
    ) -> IO[tuple[EntityReport, ...]]:
        done: IO[tuple[EntityReport, ...]] = IO(())
        for entity in entities:
            done = done.bind(partial(self._sync_next, run, entity, stop))
        return done

    def _sync_next(
        self, run: SyncReport, entity: str, stop: StopSignal, done: tuple[EntityReport, ...]
    ) -> IO[tuple[EntityReport, ...]]:
        """The reports so far and the next entity's; once a stop is asked, it does not start."""
        if stop.requested:
            return IO((*done, _not_started(entity, run.mode, stop)))

        def recorded(report: EntityReport) -> tuple[EntityReport, ...]:
            reports = (*done, report)
            self._record(replace(run, entities=reports))
            return reports

        return self._sync_entity(run.run_id, run.mode, entity, stop).map(recorded)

    def _settle(
        self, run: SyncReport, stop: StopSignal, reports: tuple[EntityReport, ...]
    ) -> Result[SyncReport, SyncError]:
        """The run's final report, recorded and announced; a failure unless every entity
        succeeded."""
        stopped = stop.status if any(e.status.stopped for e in reports) else None
        report = run.settled(reports, self._clock.now(), stopped)
        self._record(report)
        self._emit("run_finished", run.run_id, data=report.to_json())
        if report.status is not RunStatus.SUCCEEDED:
            return Failure(
                SyncError(
                    FAILURE_CODES[report.status],
                    report.error or f"sync {report.status}",
                    {"run_id": run.run_id, "report": report},
                )
            )
        return Success(report)

    # -- one entity -------------------------------------------------------------------------

    def _sync_entity(
        self, run_id: str, mode: SyncMode, entity: str, stop: StopSignal
    ) -> IO[EntityReport]:
        """Sync one entity under its run lock; a failure is the entity's report, not the run's."""
        started = self._clock.now()
        report = EntityReport(entity=entity, mode=mode)
        self._emit("entity_started", run_id, entity)
        key = StateKey(self._pipeline(mode), entity)
        synced = (
            self._state.lock(key, run_id)
            .alt(partial(self._failed, report, started))
            .bind(partial(self._sync_holding, run_id, mode, key, report, stop, started))
        )
        return unwrap_or_failure(synced)

    def _sync_holding(
        self,
        run_id: str,
        mode: SyncMode,
        key: StateKey,
        report: EntityReport,
        stop: StopSignal,
        started: datetime,
        lease: Lease,
    ) -> IOResult[EntityReport, EntityReport]:
        try:
            synced = self._sync_locked(run_id, mode, key, report, stop)
        finally:
            lease.release()
        finished = partial(self._finished, run_id, started)
        return synced.map(finished).alt(finished)

    def _sync_locked(
        self, run_id: str, mode: SyncMode, key: StateKey, report: EntityReport, stop: StopSignal
    ) -> IOResult[EntityReport, EntityReport]:
        """The entity's report: succeeded (or stopped) on the success track, failed on the
        failure track."""
        free: IOResult[None, PortError] = self._no_open_plan(run_id, mode, key)
        return (
            free.bind(lambda _: self._begin(run_id, mode, key))
            .alt(partial(_with_error, report))
            .bind(partial(self._load, run_id, mode, key, report, stop))
        )

    def _no_open_plan(
        self, run_id: str, mode: SyncMode, key: StateKey
    ) -> IOResult[None, PortError]:
        """Refused (``state.locked``) while a distributed run of the pipeline is open on the
        entity: its workers hold no process lock a local run could find."""
        if self._plans is None or self._options.dry_run:
            return IOSuccess(None)

        def free(opened: tuple[RunPlan, ...]) -> IOResult[None, PortError]:
            for plan in opened:
                if plan.run_id != run_id and plan.mode is mode and key.entity in plan.entities:
                    return IOFailure(
                        StateError(
                            "state.locked",
                            f"distributed run {plan.run_id} is still open on {key.entity} "
                            f"({key.pipeline}): wait for it to end or cancel it",
                            {"entity": key.entity, "pipeline": key.pipeline, "holder": plan.run_id},
                        )
                    )
            return IOSuccess(None)

        opened: IOResult[tuple[RunPlan, ...], PortError] = self._plans.open_plans()
        return opened.bind(free)

    def _load(
        self,
        run_id: str,
        mode: SyncMode,
        key: StateKey,
        report: EntityReport,
        stop: StopSignal,
        plan: _Plan,
    ) -> IOResult[EntityReport, EntityReport]:
        report = replace(report, retried_requests=report.retried_requests + plan.retried)
        normalizer = RecordNormalizer(plan.schema, self._options.normalize)
        writer = BatchWriter(
            self._commit,
            self._sink,
            self._options,
            self._emit,
            run_id,
            key,
            plan.checkpoint,
            report,
        )
        for note in plan.schema.notes:
            writer.warn(note)
            self._emit("warning", run_id, key.entity, {"message": note})
        read = self._stream(run_id, mode, plan.windows, normalizer, writer, stop)
        loaded = writer.report
        return (
            writer.result()  # a failed write first: it is what ended the read
            .bind(lambda committed: read.map(lambda _: committed))
            .bind(partial(self._complete, key, mode, loaded, stop))
            .alt(partial(_with_error, loaded))
        )

    def _stream(
        self,
        run_id: str,
        mode: SyncMode,
        windows: tuple[ReadWindow, ...],
        normalizer: RecordNormalizer,
        writer: BatchWriter,
        stop: StopSignal,
    ) -> IOResult[None, PortError]:
        """Read the windows' pages, normalize them and hand them to the writer, until the end,
        a read error (the result), a failed write, or a stop. Leaving the ``with`` block
        commits what was read, with its checkpoint."""
        entity = normalizer.schema.entity
        full = mode is SyncMode.FULL
        reads = [self._source.read(entity, w) for w in windows]
        merged = Merged(
            reads,
            self._options.prefetch_pages,
            should_stop=lambda: stop.requested,
            now=self._clock.now,
        )
        with merged as pages, writer:
            for index, item in pages:
                if stop.requested:
                    break
                if isinstance(item, Ended):
                    if full:
                        writer.window_done(index)
                    continue
                taken = item.map(
                    partial(self._take_page, run_id, normalizer, writer, index if full else None)
                )
                if not is_successful(taken):
                    return taken  # what was read is still written (the block's exit)
                if writer.error is not None:
                    break
        return IOSuccess(None)

    def _take_page(
        self,
        run_id: str,
        normalizer: RecordNormalizer,
        writer: BatchWriter,
        window: int | None,
        page: Page,
    ) -> None:
        """Normalize a page and hand its records (and rejects) to the writer."""
        entity = normalizer.schema.entity
        writer.page_read(page.retries)
        if page.source_changed and writer.warn(SOURCE_CHANGED):
            self._emit("warning", run_id, entity, {"message": SOURCE_CHANGED})
        outcomes = normalizer.normalize_page(page.records)
        writer.add_page(page.records, outcomes, window)
        writer.required_nulls(normalizer.required_nulls(outcomes))
        self._emit(
            "page_read",
            run_id,
            entity,
            {"records": len(page.records), "retries": page.retries, "page": page.number},
        )

    def _complete(
        self,
        key: StateKey,
        mode: SyncMode,
        report: EntityReport,
        stop: StopSignal,
        committed: Checkpoint,
    ) -> IOResult[EntityReport, PortError]:
        """The entity's end once everything read is committed: as a stop asked; a full pass
        then soft-deletes what it did not see; and the share of rejects judges the rest."""
        if stop.status is not None:
            return IOSuccess(replace(report, status=stop.status, error=stop.reason))
        finished: IOResult[EntityReport, PortError] = IOSuccess(report)
        if mode is SyncMode.FULL and not self._options.dry_run:
            finished = self._finish_full_pass(key, committed, report)
        return finished.map(self._judged)

    def _judged(self, report: EntityReport) -> EntityReport:
        ratio = report.reject_ratio
        if ratio > self._options.max_reject_ratio:
            return replace(
                report,
                status=RunStatus.REJECTED,
                error=(
                    f"{report.quarantined} of {report.read} records quarantined "
                    f"({ratio:.1%} > {self._options.max_reject_ratio:.1%})"
                ),
            )
        return replace(report, status=RunStatus.SUCCEEDED)

    # -- where a load starts ----------------------------------------------------------------

    def _begin(self, run_id: str, mode: SyncMode, key: StateKey) -> IOResult[_Plan, PortError]:
        """Describe, prepare the table, load the checkpoint and plan the read windows."""
        described: IOResult[EntitySchema, PortError] = self._source.describe(key.entity)
        return described.bind(self._prepared).bind(
            partial(self._planned_from_state, run_id, mode, key)
        )

    def _prepared(self, schema: EntitySchema) -> IOResult[EntitySchema, PortError]:
        if self._options.dry_run:
            return IOSuccess(schema)
        return self._sink.prepare(schema).map(lambda _: schema)

    def _planned_from_state(
        self, run_id: str, mode: SyncMode, key: StateKey, schema: EntitySchema
    ) -> IOResult[_Plan, PortError]:
        loaded: IOResult[Checkpoint | None, PortError] = self._state.load(key)
        return loaded.map(partial(self._start, run_id, mode)).bind(
            partial(self._plan, run_id, mode, key.entity, schema)
        )

    def _start(self, run_id: str, mode: SyncMode, stored: Checkpoint | None) -> Checkpoint:
        if mode is SyncMode.INCREMENTAL:
            return stored or Checkpoint(SyncMode.INCREMENTAL)
        if stored is not None and not stored.complete and stored.generation is not None:
            return stored  # resume the unfinished pass: each window after its last id
        return Checkpoint(SyncMode.FULL, generation=run_id)

    def _plan(
        self,
        run_id: str,
        mode: SyncMode,
        entity: str,
        schema: EntitySchema,
        checkpoint: Checkpoint,
    ) -> IOResult[_Plan, PortError]:
        if mode is SyncMode.INCREMENTAL:
            window = incremental_window(checkpoint, self._options.overlap)
            return IOSuccess(_Plan(schema, checkpoint, (window,)))
        if checkpoint.generation != run_id:  # the unfinished pass resumes
            return IOSuccess(_Plan(schema, checkpoint, checkpoint.remaining()))

        # A new pass: note where the source stands, so the incremental pipeline can start
        # there once the pass is complete instead of re-reading everything.
        def split(newest: Answer[Position | None]) -> IOResult[_Plan, PortError]:
            marked = replace(checkpoint, high_water=newest.value)
            return self._split(run_id, entity, marked).map(
                lambda done: _Plan(
                    schema, done.value, done.value.remaining(), newest.retries + done.retries
                )
            )

        latest: IOResult[Answer[Position | None], PortError] = self._source.latest(entity)
        return latest.bind(split)

    def _split(
        self, run_id: str, entity: str, checkpoint: Checkpoint
    ) -> IOResult[Answer[Checkpoint], PortError]:
        """A new full pass reads ``read_parallelism`` id windows at once, when there are ids
        enough (at least ``min_window_ids`` per window); and the requests retried to know."""
        if self._options.read_parallelism <= 1:
            return IOSuccess(Answer(checkpoint))
        return self._source.id_bounds(entity).map(
            lambda bounds: Answer(
                self._windowed(run_id, entity, checkpoint, bounds.value), bounds.retries
            )
        )

    def _windowed(
        self, run_id: str, entity: str, checkpoint: Checkpoint, bounds: tuple[int, int] | None
    ) -> Checkpoint:
        if bounds is None:
            return checkpoint
        low, high = bounds  # progress displays estimate the pass's size from them
        self._emit("id_bounds", run_id, entity, {"low": low, "high": high})
        windows = split_ids(
            low, high, self._options.read_parallelism, min_span=self._options.min_window_ids
        )
        return replace(checkpoint, windows=windows if len(windows) > 1 else ())

    # -- the end of a full pass -------------------------------------------------------------

    def _finish_full_pass(
        self, key: StateKey, checkpoint: Checkpoint, report: EntityReport
    ) -> IOResult[EntityReport, PortError]:
        """Soft-delete what the pass did not see, mark it complete, bookmark the incremental
        pipeline."""
        done = replace(checkpoint, complete=True, windows=())

        def saved(deleted: int) -> IOResult[int, PortError]:
            return (
                self._state.save(key, done)
                .bind(lambda _: self._bookmark_incremental(key.entity, done))
                .map(lambda _: deleted)
            )

        unseen: IOResult[int, PortError] = self._sink.soft_delete_unseen(
            key.entity, checkpoint.generation or "", self._clock.now()
        )
        return unseen.bind(saved).map(
            lambda deleted: replace(report, deleted=deleted, checkpoint=done)
        )

    def _bookmark_incremental(self, entity: str, done: Checkpoint) -> IOResult[None, StateError]:
        """After a complete pass, start the incremental pipeline at the pass's high-water mark.

        Every record changed after the pass started has a later ``mod_ts`` than the mark, and
        the pass itself loaded every record as it was then or newer; so the incremental sync
        loses nothing by starting there (less the overlap). A bookmark already ahead is kept.
        """
        if done.high_water is None:
            return IOSuccess(None)
        key = StateKey(self._options.incremental_pipeline, entity)
        return self._state.load(key).bind(partial(self._bookmark, key, done.high_water))

    def _bookmark(
        self, key: StateKey, high_water: Position, stored: Checkpoint | None
    ) -> IOResult[None, StateError]:
        if stored is not None and stored.position is not None and stored.position >= high_water:
            return IOSuccess(None)
        base = stored or Checkpoint(SyncMode.INCREMENTAL)
        return self._state.save(key, replace(base, position=high_water))

    # -- helpers ----------------------------------------------------------------------------

    def _pipeline(self, mode: SyncMode) -> str:
        if mode is SyncMode.FULL:
            return self._options.full_pipeline
        return self._options.incremental_pipeline

    def _find_abandoned(self, run_id: str) -> None:
        """Mark runs found dead (kill -9, a lost machine) ``abandoned``; a warning each."""
        if self._runs is None or self._options.dry_run:
            return

        def warn(dead: tuple[str, ...]) -> None:
            for other in dead:
                self._emit("warning", run_id, data={"message": f"run {other} was abandoned"})

        runs, now = self._runs, self._clock.now()
        alive: IOResult[tuple[str, ...], PortError] = IOSuccess(())
        if self._plans is not None:  # open distributed runs are alive without a process lock
            alive = self._plans.open_plans().map(lambda plans: tuple(p.run_id for p in plans))
        alive.bind(lambda ids: mark_abandoned(runs, self._state, run_id, now, ids)).map(warn)

    def _record(self, report: SyncReport) -> None:
        if self._runs is None or self._options.dry_run:
            return
        # History is diagnostics: a failure to record it must not fail the data load.
        self._runs.record(report).alt(
            lambda error: self._emit("warning", report.run_id, data={"message": str(error)})
        )

    def _failed(self, report: EntityReport, started: datetime, error: PortError) -> EntityReport:
        return replace(_with_error(report, error), seconds=self._seconds_since(started))

    def _finished(self, run_id: str, started: datetime, report: EntityReport) -> EntityReport:
        report = replace(report, seconds=self._seconds_since(started))
        self._emit("entity_finished", run_id, report.entity, _entity_data(report))
        return report

    def _seconds_since(self, started: datetime) -> float:
        return (self._clock.now() - started).total_seconds()

    def _emit(
        self,
        kind: str,
        run_id: str,
        entity: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        self._observer.on_event(SyncEvent(kind, run_id, entity, data or {}))


def _not_started(entity: str, mode: SyncMode, stop: StopSignal) -> EntityReport:
    status = stop.status or RunStatus.INTERRUPTED
    return EntityReport(entity, mode, status=status, error=f"not started: {stop.reason}")


def _with_error(report: EntityReport, error: PortError) -> EntityReport:
    return replace(report, status=RunStatus.FAILED, error=str(error))


def _entity_data(report: EntityReport) -> dict[str, Any]:
    return {
        "status": report.status.value,
        "read": report.read,
        "written": report.written,
        "quarantined": report.quarantined,
        "deleted": report.deleted,
        "seconds": round(report.seconds, 3),
        "error": report.error,
    }
