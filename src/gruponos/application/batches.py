"""Batches: normalized records and rejects, written with the checkpoint they justify."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.application.errors import PortError
from gruponos.application.ports import RecordSink, StateStore
from gruponos.domain.consistency import missing_references
from gruponos.domain.errors import RecordRejected
from gruponos.domain.normalize import NormalizedRecord
from gruponos.domain.sync import (
    Batch,
    Checkpoint,
    EntityReport,
    Position,
    Rejected,
    StateKey,
    SyncMode,
    WriteOutcome,
)

if TYPE_CHECKING:
    from gruponos.application.sync import SyncOptions

#: ``emit(kind, run_id, entity, data)``: progress events for the use case's observer.
Emit = Callable[[str, str, str | None, dict[str, Any] | None], None]


class BatchWriter:
    """Accumulates normalized records and rejects; writes them with their checkpoint.

    A batch and its checkpoint commit together when the state lives in the sink; otherwise the
    state is saved right after the batch commits. The checkpoint is the position of the batch's
    last record in read order, so it never covers anything uncommitted.
    """

    def __init__(
        self,
        sink: RecordSink,
        state: StateStore,
        options: SyncOptions,
        emit: Emit,
        run_id: str,
        key: StateKey,
        checkpoint: Checkpoint,
        report: EntityReport,
    ) -> None:
        self._sink = sink
        self._state = state
        self._options = options
        self._emit = emit
        self._run_id = run_id
        self._key = key
        self.checkpoint = checkpoint
        self.report = report
        self.error: PortError | None = None
        self._records: list[NormalizedRecord] = []
        self._rejected: list[Rejected] = []
        self._position: Position | None = None
        self._last_id: int | None = None
        self._read = 0  # records added since the report's ``read`` was last brought up to date

    def add_page(
        self, raws: Sequence[Any], outcomes: Sequence[NormalizedRecord | RecordRejected]
    ) -> None:
        """Add a page's outcomes in order, flushing every ``batch_size`` records and rejects."""
        batch_size = self._options.batch_size
        records, rejected = self._records, self._rejected
        for raw, outcome in zip(raws, outcomes, strict=True):
            if type(outcome) is NormalizedRecord:
                records.append(outcome)
            else:
                assert isinstance(outcome, RecordRejected)  # noqa: S101 - normalize_many's contract
                record_id = outcome.context.get("id")
                rejected.append(
                    Rejected(
                        entity=self._key.entity,
                        record_id=None if record_id is None else str(record_id),
                        payload=_payload(raw),
                        reason=outcome.reason,
                    )
                )
            self._read += 1
            if len(records) + len(rejected) >= batch_size:
                self.flush()
        self._sync_read()

    def _sync_read(self) -> None:
        if self._read:
            self.report = replace(self.report, read=self.report.read + self._read)
            self._read = 0

    def flush(self) -> None:
        self._sync_read()
        if self.error is not None or not (self._records or self._rejected):
            return
        if self._records:
            last = self._records[-1]
            self._position = Position(last.mod_ts, last.id)
            self._last_id = last.id
        checkpoint = self.checkpoint.advanced_to(
            self._position if self.checkpoint.mode is SyncMode.INCREMENTAL else None,
            self._last_id if self.checkpoint.mode is SyncMode.FULL else None,
        )
        batch = Batch(
            entity=self._key.entity,
            run_id=self._run_id,
            records=tuple(self._records),
            rejected=tuple(self._rejected),
            generation=checkpoint.generation if checkpoint.mode is SyncMode.FULL else None,
            state_key=self._key if self._state.in_sink else None,
            checkpoint=checkpoint if self._state.in_sink else None,
        )
        inconsistent = self._check_references(batch)
        if self._options.dry_run:
            outcome = WriteOutcome(written=0, quarantined=len(batch.rejected))
        else:
            written = self._sink.write(batch)
            if not is_successful(written):
                self.error = unsafe_perform_io(written.failure())
                return
            outcome = unsafe_perform_io(written.unwrap())
            if not self._state.in_sink:
                saved = self._state.save(self._key, checkpoint)
                if not is_successful(saved):
                    self.error = unsafe_perform_io(saved.failure())
                    return
            self.checkpoint = checkpoint
        self.report = replace(
            self.report.add(outcome),
            checkpoint=self.checkpoint,
            inconsistent_references=self.report.inconsistent_references + inconsistent,
        )
        self._emit(
            "batch_written",
            self._run_id,
            self._key.entity,
            {
                "written": outcome.written,
                "stale": outcome.stale,
                "quarantined": outcome.quarantined,
                "checkpoint": self.checkpoint.to_json(),
            },
        )
        self._records.clear()
        self._rejected.clear()

    def _check_references(self, batch: Batch) -> int:
        """Count child rows whose parent is not loaded; reported, never dropped."""
        count = 0
        for child, field, parent in self._options.references:
            if child != batch.entity or not batch.records:
                continue
            wanted = {r.values.get(field.upper()) for r in batch.records}
            parent_ids = {i for i in wanted if isinstance(i, int)}
            found = self._sink.existing_ids(parent, parent_ids)
            if not is_successful(found):
                continue  # the parent table may not exist yet: nothing to compare against
            missing = missing_references(
                batch.records, field.upper(), unsafe_perform_io(found.unwrap())
            )
            if missing:
                count += len(missing)
                self._emit(
                    "warning",
                    self._run_id,
                    batch.entity,
                    {
                        "message": f"{len(missing)} {child} rows refer to unknown {parent}",
                        "ids": sorted(missing)[:20],
                    },
                )
        return count


def _payload(raw: Any) -> str:
    try:
        return json.dumps(raw, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(raw)
