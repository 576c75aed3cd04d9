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
from datetime import timedelta
from typing import Any

from returns.io import IOFailure, IOResult, IOSuccess
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.application.abandoned import hold_run, mark_abandoned
from gruponos.application.batches import BatchWriter
from gruponos.application.errors import PortError, StateError, SyncError
from gruponos.application.lifecycle import StopSignal
from gruponos.application.ports import (
    Clock,
    RecordSink,
    RunHistory,
    StateStore,
    SyncEvent,
    SyncObserver,
    WmsSource,
)
from gruponos.application.prefetch import Ended, Merged
from gruponos.domain.checkpoints import (
    Checkpoint,
    ReadWindow,
    StateKey,
    SyncMode,
    incremental_window,
    split_ids,
)
from gruponos.domain.normalize import RecordNormalizer
from gruponos.domain.records import NormalizeOptions
from gruponos.domain.runs import FAILURE_CODES, EntityReport, RunStatus, SyncReport
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


#: The entity report's warning when a read's paging did not survive a change of the source.
SOURCE_CHANGED = (
    "the source changed during an offset-paged read (page_mode=paged): records may have been "
    "skipped; page_mode=sequenced never skips, or run the sync again"
)


class _NullObserver:
    def on_event(self, event: SyncEvent) -> None:
        """Drop events: nobody is listening."""


class SyncEntities:
    """Full or incremental sync of entities from a WMS source into a record sink.

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
    ) -> None:
        self._source = source
        self._sink = sink
        self._state = state
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
            run_id=run_id, mode=mode, started_at=self._clock.now(), dry_run=self._options.dry_run
        )
        self._emit("run_started", run_id, data={"mode": mode.value, "entities": list(entities)})
        alive = None if self._options.dry_run else hold_run(self._state, run_id)
        self._record(report)
        self._find_abandoned(run_id)
        results: list[EntityReport] = []
        try:
            for entity in entities:
                if stop.requested:
                    results.append(_not_started(entity, mode, stop))
                    continue
                results.append(self._sync_entity(run_id, mode, entity, stop))
                report = replace(report, entities=tuple(results))
                self._record(report)
        finally:
            if alive is not None:
                alive.map(lambda lease: lease.release())
        stopped = stop.status if any(e.status.stopped for e in results) else None
        report = report.settled(tuple(results), self._clock.now(), stopped)
        self._record(report)
        self._emit("run_finished", run_id, data=report.to_json())
        if report.status is not RunStatus.SUCCEEDED:
            return IOFailure(
                SyncError(
                    FAILURE_CODES[report.status],
                    report.error or f"sync {report.status}",
                    {"run_id": run_id, "report": report},
                )
            )
        return IOSuccess(report)

    # -- one entity -------------------------------------------------------------------------

    def _sync_entity(
        self, run_id: str, mode: SyncMode, entity: str, stop: StopSignal
    ) -> EntityReport:
        started = self._clock.now()
        report = EntityReport(entity=entity, mode=mode)
        self._emit("entity_started", run_id, entity)
        pipeline = (
            self._options.full_pipeline
            if mode is SyncMode.FULL
            else self._options.incremental_pipeline
        )
        key = StateKey(pipeline, entity)
        lease_result = self._state.lock(key, run_id)
        if not is_successful(lease_result):
            return self._failed(report, _error_of(lease_result), started)
        lease = unsafe_perform_io(lease_result.unwrap())
        try:
            report = self._sync_locked(run_id, mode, key, report, stop)
        finally:
            lease.release()
        report = replace(report, seconds=(self._clock.now() - started).total_seconds())
        self._emit("entity_finished", run_id, entity, _entity_data(report))
        return report

    def _sync_locked(
        self, run_id: str, mode: SyncMode, key: StateKey, report: EntityReport, stop: StopSignal
    ) -> EntityReport:
        entity = key.entity
        begun = self._begin(run_id, mode, key)
        if isinstance(begun, PortError):
            return _with_error(report, begun)
        schema, checkpoint, windows, retried = begun  # retried: by latest() and id_bounds()
        report = replace(report, retried_requests=report.retried_requests + retried)
        normalizer = RecordNormalizer(schema, self._options.normalize)
        writer = BatchWriter(
            self._sink, self._state, self._options, self._emit, run_id, key, checkpoint, report
        )
        for note in schema.notes:
            writer.warn(note)
            self._emit("warning", run_id, entity, {"message": note})
        read_error = self._stream(run_id, mode, windows, normalizer, writer, stop)
        error = writer.error or read_error
        if error is not None:
            return _with_error(writer.report, error)
        report = writer.report
        if stop.status is not None:
            return replace(report, status=stop.status, error=stop.reason)
        if mode is SyncMode.FULL and not self._options.dry_run:
            report = self._finish_full_pass(key, writer.checkpoint, report)
            if report.error is not None:
                return report
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

    def _stream(
        self,
        run_id: str,
        mode: SyncMode,
        windows: tuple[ReadWindow, ...],
        normalizer: RecordNormalizer,
        writer: BatchWriter,
        stop: StopSignal,
    ) -> PortError | None:
        """Read the windows' pages, normalize them and hand them to the writer, until the end,
        a read error (returned), a failed write, or a stop. Leaving the ``with`` block commits
        what was read, with its checkpoint."""
        entity = normalizer.schema.entity
        full = mode is SyncMode.FULL
        reads = [self._source.read(entity, w) for w in windows]
        merged = Merged(reads, self._options.prefetch_pages, should_stop=lambda: stop.requested)
        warned_change = False
        with merged as pages, writer:
            for index, item in pages:
                if stop.requested:
                    break
                if isinstance(item, Ended):
                    if full:
                        writer.window_done(index)
                    continue
                if not is_successful(item):
                    return _error_of(item)  # what was read is still written (the block's exit)
                page = unsafe_perform_io(item.unwrap())
                writer.page_read(page.retries)
                if page.source_changed and not warned_change:
                    warned_change = True
                    writer.warn(SOURCE_CHANGED)
                    self._emit("warning", run_id, entity, {"message": SOURCE_CHANGED})
                outcomes = normalizer.normalize_page(page.records)
                writer.add_page(page.records, outcomes, index if full else None)
                writer.required_nulls(normalizer.required_nulls(outcomes))
                self._emit(
                    "page_read",
                    run_id,
                    entity,
                    {"records": len(page.records), "retries": page.retries, "page": page.number},
                )
                if writer.error is not None:
                    break
        return None

    def _begin(
        self, run_id: str, mode: SyncMode, key: StateKey
    ) -> tuple[EntitySchema, Checkpoint, tuple[ReadWindow, ...], int] | PortError:
        """Describe, prepare the table, load the checkpoint and decide the read windows (and
        count the requests the source retried for them)."""
        described = self._source.describe(key.entity)
        if not is_successful(described):
            return _error_of(described)
        schema = unsafe_perform_io(described.unwrap())
        if not self._options.dry_run:
            prepared = self._sink.prepare(schema)
            if not is_successful(prepared):
                return _error_of(prepared)
        loaded = self._state.load(key)
        if not is_successful(loaded):
            return _error_of(loaded)
        checkpoint = self._start(run_id, mode, unsafe_perform_io(loaded.unwrap()))
        if mode is SyncMode.FULL and checkpoint.generation == run_id:
            # A new pass: note where the source stands, so the incremental pipeline can start
            # there once the pass is complete instead of re-reading everything.
            newest = self._source.latest(key.entity)
            if not is_successful(newest):
                return _error_of(newest)
            answer = unsafe_perform_io(newest.unwrap())
            checkpoint = replace(checkpoint, high_water=answer.value)
            split = self._split(run_id, key.entity, checkpoint)
            if isinstance(split, PortError):
                return split
            checkpoint, retried = split
            return schema, checkpoint, checkpoint.remaining(), answer.retries + retried
        if mode is SyncMode.FULL:
            return schema, checkpoint, checkpoint.remaining(), 0
        return schema, checkpoint, (incremental_window(checkpoint, self._options.overlap),), 0

    def _start(self, run_id: str, mode: SyncMode, stored: Checkpoint | None) -> Checkpoint:
        if mode is SyncMode.INCREMENTAL:
            return stored or Checkpoint(SyncMode.INCREMENTAL)
        if stored is not None and not stored.complete and stored.generation is not None:
            return stored  # resume the unfinished pass: each window after its last id
        return Checkpoint(SyncMode.FULL, generation=run_id)

    def _split(
        self, run_id: str, entity: str, checkpoint: Checkpoint
    ) -> tuple[Checkpoint, int] | PortError:
        """A new full pass reads ``read_parallelism`` id windows at once, when there are ids
        enough (at least ``min_window_ids`` per window); and the requests retried to know."""
        if self._options.read_parallelism <= 1:
            return checkpoint, 0
        bounds = self._source.id_bounds(entity)
        if not is_successful(bounds):
            return _error_of(bounds)
        answer = unsafe_perform_io(bounds.unwrap())
        if answer.value is None:
            return checkpoint, answer.retries
        low, high = answer.value  # progress displays estimate the pass's size from them
        self._emit("id_bounds", run_id, entity, {"low": low, "high": high})
        windows = split_ids(
            *answer.value, self._options.read_parallelism, min_span=self._options.min_window_ids
        )
        return replace(checkpoint, windows=windows if len(windows) > 1 else ()), answer.retries

    def _finish_full_pass(
        self, key: StateKey, checkpoint: Checkpoint, report: EntityReport
    ) -> EntityReport:
        generation = checkpoint.generation or ""
        deleted = self._sink.soft_delete_unseen(key.entity, generation, self._clock.now())
        if not is_successful(deleted):
            return _with_error(report, _error_of(deleted))
        done = replace(checkpoint, complete=True, windows=())
        saved = self._state.save(key, done)
        if not is_successful(saved):
            return _with_error(report, _error_of(saved))
        bookmarked = self._bookmark_incremental(key.entity, done)
        if not is_successful(bookmarked):
            return _with_error(report, _error_of(bookmarked))
        return replace(report, deleted=unsafe_perform_io(deleted.unwrap()), checkpoint=done)

    def _bookmark_incremental(self, entity: str, done: Checkpoint) -> IOResult[None, StateError]:
        """After a complete pass, start the incremental pipeline at the pass's high-water mark.

        Every record changed after the pass started has a later ``mod_ts`` than the mark, and
        the pass itself loaded every record as it was then or newer; so the incremental sync
        loses nothing by starting there (less the overlap). A bookmark already ahead is kept.
        """
        if done.high_water is None:
            return IOSuccess(None)
        key = StateKey(self._options.incremental_pipeline, entity)
        current = self._state.load(key)
        if not is_successful(current):
            return current.map(lambda _: None)
        stored = unsafe_perform_io(current.unwrap())
        if (
            stored is not None
            and stored.position is not None
            and stored.position >= done.high_water
        ):
            return IOSuccess(None)
        base = stored or Checkpoint(SyncMode.INCREMENTAL)
        return self._state.save(key, replace(base, position=done.high_water))

    # -- helpers ----------------------------------------------------------------------------

    def _find_abandoned(self, run_id: str) -> None:
        """Mark runs found dead (kill -9, a lost machine) ``abandoned``; a warning each."""
        if self._runs is None or self._options.dry_run:
            return

        def warn(dead: tuple[str, ...]) -> None:
            for other in dead:
                self._emit("warning", run_id, data={"message": f"run {other} was abandoned"})

        mark_abandoned(self._runs, self._state, run_id, self._clock.now()).map(warn)

    def _record(self, report: SyncReport) -> None:
        if self._runs is None or self._options.dry_run:
            return
        recorded = self._runs.record(report)
        if not is_successful(recorded):
            # History is diagnostics: a failure to record it must not fail the data load.
            self._emit("warning", report.run_id, data={"message": str(_error_of(recorded))})

    def _failed(self, report: EntityReport, error: PortError, started: Any) -> EntityReport:
        report = _with_error(report, error)
        return replace(report, seconds=(self._clock.now() - started).total_seconds())

    def _emit(
        self,
        kind: str,
        run_id: str,
        entity: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        self._observer.on_event(SyncEvent(kind, run_id, entity, data or {}))


def _error_of(result: IOResult[Any, PortError]) -> PortError:
    return unsafe_perform_io(result.failure())


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
