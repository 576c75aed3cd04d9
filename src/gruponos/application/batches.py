"""Batches: normalized records and rejects, written with the checkpoint they justify."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any

from returns.io import IOFailure, IOResult, IOSuccess
from returns.iterables import Fold

from gruponos.application.errors import PortError, SinkError
from gruponos.application.ports import BatchCommit, RecordSink
from gruponos.domain.batches import Batch, Rejected, WriteOutcome
from gruponos.domain.checkpoints import Checkpoint, FullWindow, Position, StateKey, SyncMode
from gruponos.domain.consistency import missing_references
from gruponos.domain.errors import RecordRejected
from gruponos.domain.records import NormalizedRecord
from gruponos.domain.runs import EntityReport

if TYPE_CHECKING:
    from gruponos.application.sync import SyncOptions

#: ``emit(kind, run_id, entity, data)``: progress events for the use case's observer.
Emit = Callable[[str, str, str | None, dict[str, Any] | None], None]


class BatchWriter:
    """Accumulates normalized records and rejects; writes them with their checkpoint.

    Each batch goes to the :class:`~gruponos.application.ports.BatchCommit` with the checkpoint
    it justifies: the position of the batch's last record in read order, so it never covers
    anything uncommitted. Where that checkpoint is kept is the commit's business, not the
    writer's.

    With ``options.write_behind`` the batches are written by one writer thread, in order, while
    the caller normalizes the next pages (the database works while Python parses). At most one
    batch waits for the writer, so memory stays bounded. After a failed write no later batch is
    written: a later checkpoint would otherwise cover the failed batch's records. Use it as a
    context manager: leaving the block writes what is left (unless an exception is leaving it)
    and waits for the writer.
    """

    _STOP: Any = object()

    def __init__(
        self,
        commit: BatchCommit,
        sink: RecordSink,
        options: SyncOptions,
        emit: Emit,
        run_id: str,
        key: StateKey,
        checkpoint: Checkpoint,
        report: EntityReport,
    ) -> None:
        self._commit = commit
        self._sink = sink  # for the reference checks
        self._options = options
        self._emit = emit
        self._run_id = run_id
        self._key = key
        self._records: list[NormalizedRecord] = []
        self._rejected: list[Rejected] = []
        self._position: Position | None = None
        self._last_id: int | None = None
        # A full pass: what is left of each id window (``None``: read to its end).
        self._windows: list[FullWindow | None] = (
            list(checkpoint.remaining()) if checkpoint.mode is SyncMode.FULL else []
        )
        # The caller's counters (read, pages, retries) and the writer's (written ... checkpoint)
        # are kept apart and combined under the lock, so neither thread loses an update.
        self._read_report = report
        self._lock = threading.Lock()
        self._written = WriteOutcome()
        self._batches = 0
        self._inconsistent = 0
        self._committed = checkpoint
        self._planned = checkpoint  # the checkpoint of the last batch handed to the writer
        self._error: PortError | None = None
        self._crash: BaseException | None = None
        self._jobs: queue.Queue[Any] | None = None
        self._thread: threading.Thread | None = None
        if options.write_behind and not options.dry_run:
            self._jobs = queue.Queue(maxsize=1)
            self._thread = threading.Thread(target=self._work, name="gruponos-writer", daemon=True)

    # -- the caller's side ----------------------------------------------------------------------

    def __enter__(self) -> BatchWriter:
        if self._thread is not None:
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.flush()
        if self._jobs is not None and self._thread is not None:
            self._jobs.put(self._STOP)
            self._thread.join()
        if self._crash is not None and exc_type is None:
            raise self._crash

    @property
    def report(self) -> EntityReport:
        """The entity's report so far: what was read, and what is committed."""
        with self._lock:
            report = self._read_report.add(self._written, self._batches)
            return replace(
                report,
                inconsistent_references=report.inconsistent_references + self._inconsistent,
                checkpoint=self._committed,
            )

    @property
    def checkpoint(self) -> Checkpoint:
        """The checkpoint of the last committed batch."""
        with self._lock:
            return self._committed

    @property
    def error(self) -> PortError | None:
        with self._lock:
            return self._error

    def result(self) -> IOResult[Checkpoint, PortError]:
        """The checkpoint of the last committed batch, or the error that stopped the writing."""
        with self._lock:
            return IOSuccess(self._committed) if self._error is None else IOFailure(self._error)

    def page_read(self, retries: int) -> None:
        self._read_report = replace(
            self._read_report,
            pages=self._read_report.pages + 1,
            retried_requests=self._read_report.retried_requests + retries,
        )

    def required_nulls(self, counts: dict[str, int]) -> None:
        """Add a page's nulls in fields describe calls required (data quality, not rejects)."""
        if not counts:
            return
        merged = dict(self._read_report.required_nulls)
        for name, count in counts.items():
            merged[name] = merged.get(name, 0) + count
        self._read_report = replace(self._read_report, required_nulls=tuple(sorted(merged.items())))

    def warn(self, message: str) -> bool:
        """A warning for the entity's report (once per distinct message); ``True`` if new."""
        if message in self._read_report.warnings:
            return False
        self._read_report = replace(
            self._read_report, warnings=(*self._read_report.warnings, message)
        )
        return True

    def add_page(
        self,
        raws: Sequence[Any],
        outcomes: Sequence[NormalizedRecord | RecordRejected],
        window: int | None = None,
    ) -> None:
        """Add a page's outcomes in order, flushing every ``batch_size`` records and rejects.

        ``window``: the index (in the checkpoint's remaining windows) of the id window of a full
        pass the page was read from; its progress goes into the checkpoint of each batch.
        """
        batch_size = self._options.batch_size
        records, rejected = self._records, self._rejected
        if len(raws) != len(outcomes):
            raise ValueError(f"{len(outcomes)} outcomes for {len(raws)} records")
        if window is None and self._windows:  # a full pass read as one window
            if len(self._windows) > 1:
                raise ValueError("a full pass read in several windows: say which one")
            window = 0
        page_last: int | None = None
        # ``raws`` is only indexed for a reject: a page still in JSON text stays undecoded.
        for index, outcome in enumerate(outcomes):
            if type(outcome) is NormalizedRecord:
                records.append(outcome)
                page_last = outcome.id
            else:
                assert isinstance(outcome, RecordRejected)  # noqa: S101 - normalize_page's contract
                record_id = outcome.context.get("id")
                rejected.append(
                    Rejected(
                        entity=self._key.entity,
                        record_id=None if record_id is None else str(record_id),
                        payload=_payload(raws[index]),
                        reason=outcome.reason,
                    )
                )
            if len(records) + len(rejected) >= batch_size:
                self._advance(window, page_last)
                self.flush()
        self._advance(window, page_last)
        self._read_report = replace(self._read_report, read=self._read_report.read + len(raws))

    def window_done(self, window: int) -> None:
        """Id window ``window`` was read to its end: the next batch's checkpoint drops it."""
        self._windows[window] = None

    def _advance(self, window: int | None, last_id: int | None) -> None:
        if window is None or last_id is None:
            return
        current = self._windows[window]
        if current is not None and (current.after_id is None or last_id > current.after_id):
            self._windows[window] = replace(current, after_id=last_id)

    def flush(self) -> None:
        """Hand what has accumulated to the writer (or write it now without write-behind)."""
        if self._crash is not None:
            raise self._crash
        if self.error is not None or not (self._records or self._rejected):
            return
        if self._records:
            last = self._records[-1]
            self._position = Position(last.mod_ts, last.id)
            self._last_id = last.id
        incremental = self._planned.mode is SyncMode.INCREMENTAL
        checkpoint = self._planned.advanced_to(
            self._position if incremental else None, None if incremental else self._last_id
        )
        if not incremental:
            checkpoint = replace(
                checkpoint, windows=tuple(w for w in self._windows if w is not None)
            )
        self._planned = checkpoint
        batch = Batch(
            entity=self._key.entity,
            run_id=self._run_id,
            records=tuple(self._records),
            rejected=tuple(self._rejected),
            generation=None if incremental else checkpoint.generation,
        )
        self._records.clear()
        self._rejected.clear()
        if self._jobs is not None:
            self._jobs.put((batch, checkpoint))
        else:
            self._write(batch, checkpoint)

    # -- the writer's side ----------------------------------------------------------------------

    def _work(self) -> None:
        assert self._jobs is not None  # noqa: S101 - only started with a queue
        while (job := self._jobs.get()) is not self._STOP:
            if self._crash is not None:
                continue  # keep draining so the caller never blocks on a full queue
            try:
                self._write(*job)
            except BaseException as exc:  # noqa: BLE001 - a bug: re-raised in the caller's thread
                self._crash = exc

    def _write(self, batch: Batch, checkpoint: Checkpoint) -> None:
        if self.error is not None:
            return  # after a failed batch nothing later may commit
        self._check_references(batch).bind(
            lambda inconsistent: self._committing(batch, checkpoint).map(
                lambda outcome: self._committed_batch(checkpoint, outcome, inconsistent)
            )
        ).alt(self._fail)

    def _committing(
        self, batch: Batch, checkpoint: Checkpoint
    ) -> IOResult[WriteOutcome, PortError]:
        if self._options.dry_run:
            return IOSuccess(WriteOutcome(written=0, quarantined=len(batch.rejected)))
        return self._commit.commit(batch, self._key, checkpoint)

    def _committed_batch(
        self, checkpoint: Checkpoint, outcome: WriteOutcome, inconsistent: int
    ) -> None:
        with self._lock:
            if not self._options.dry_run:
                self._committed = checkpoint
            self._written = self._written.plus(outcome)
            self._batches += 1
            self._inconsistent += inconsistent
            committed = self._committed
        self._emit(
            "batch_written",
            self._run_id,
            self._key.entity,
            {
                "written": outcome.written,
                "stale": outcome.stale,
                "quarantined": outcome.quarantined,
                "checkpoint": committed.to_json(),
            },
        )

    def _fail(self, error: PortError) -> None:
        with self._lock:
            self._error = error

    def _check_references(self, batch: Batch) -> IOResult[int, PortError]:
        """Count child rows whose parent is not loaded; reported, never dropped. A parent the
        sink cannot answer for (its table may not exist yet) counts nothing."""
        counts = [
            self._sink.existing_ids(parent, _parent_ids(batch, field))
            .map(partial(self._missing, batch, child, field, parent))
            .lash(_nothing_missing)
            for child, field, parent in self._options.references
            if child == batch.entity and batch.records
        ]
        none: IOResult[tuple[int, ...], PortError] = IOSuccess(())
        return Fold.collect(counts, none).map(sum)

    def _missing(
        self, batch: Batch, child: str, field: str, parent: str, found: frozenset[int]
    ) -> int:
        missing = missing_references(batch.records, field.upper(), found)
        if missing:
            self._emit(
                "warning",
                self._run_id,
                batch.entity,
                {
                    "message": f"{len(missing)} {child} rows refer to unknown {parent}",
                    "ids": sorted(missing)[:20],
                },
            )
        return len(missing)


def _parent_ids(batch: Batch, field: str) -> set[int]:
    wanted = {r.values.get(field.upper()) for r in batch.records}
    return {i for i in wanted if isinstance(i, int)}


def _nothing_missing(_: SinkError) -> IOResult[int, PortError]:
    return IOSuccess(0)


def _payload(raw: Any) -> str:
    try:
        return json.dumps(raw, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(raw)
