"""Replay the quarantine: normalize quarantined records again and load the ones that pass.

After a fix (describe now says what it should, a setting such as the default time zone, a
release of gruponos that reads a value it used to reject), the records an earlier run set aside
can be loaded without a full sync:

1. describe the entity (the schema as it is *now*) and prepare its table (new columns);
2. read the quarantined validation rejects in ``seq`` order, a batch at a time;
3. normalize each payload again; write the ones that pass with the same monotonic upsert as a
   sync (a replayed version never replaces a newer row), then release them from quarantine.

Records that still fail stay in quarantine, as do database rejects (their payload is the
normalized row, not the API's record) and unreadable payloads. Writing before releasing makes
a crash between the two harmless: the next replay writes the same versions again (idempotent)
and releases them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

from returns.io import IO, IOResult, IOSuccess
from returns.iterables import Fold
from returns.methods import unwrap_or_failure
from returns.pipeline import is_successful
from returns.result import Failure, Result, Success

from gruponos.application.errors import PortError, SyncError
from gruponos.application.ports import QuarantineStore, RecordSink, WmsSource
from gruponos.domain.batches import Batch, WriteOutcome
from gruponos.domain.errors import RecordRejected
from gruponos.domain.normalize import RecordNormalizer
from gruponos.domain.quarantine import (
    QuarantinedRecord,
    QuarantineKind,
    ReplayReport,
    replay_input,
)
from gruponos.domain.records import NormalizedRecord, NormalizeOptions
from gruponos.domain.schema import EntitySchema

#: How many reasons of records rejected again a report keeps.
REASONS_KEPT = 5


class ReplayQuarantine:
    """``gruponos quarantine replay``: the quarantine of each entity against its current schema.

    ``dry_run`` normalizes and counts without writing or releasing anything.
    """

    def __init__(
        self,
        source: WmsSource,
        sink: RecordSink,
        quarantine: QuarantineStore,
        new_run_id: Callable[[], str],
        normalize: NormalizeOptions | None = None,
        batch_size: int = 5000,
        dry_run: bool = False,
    ) -> None:
        self._source = source
        self._sink = sink
        self._quarantine = quarantine
        self._new_run_id = new_run_id
        self._normalize = normalize or NormalizeOptions()
        self._batch_size = batch_size
        self._dry_run = dry_run

    def run(self, entities: Sequence[str]) -> IOResult[tuple[ReplayReport, ...], SyncError]:
        """Replay each entity; ``IOFailure`` (with the reports in its context) if one failed."""
        run_id = self._new_run_id()
        none: IO[tuple[ReplayReport, ...]] = IO(())
        reports = Fold.collect([self._entity(run_id, entity) for entity in entities], none)
        return IOResult.from_typecast(reports.map(_judged))

    def _entity(self, run_id: str, entity: str) -> IO[ReplayReport]:
        """The entity's replay; a failure is written in its report."""
        described: IOResult[EntitySchema, PortError] = self._source.describe(entity)
        replayed = (
            described.bind(self._prepared)
            .alt(partial(_failed, ReplayReport(entity)))
            .bind(partial(self._replay, run_id, entity))
        )
        return unwrap_or_failure(replayed)

    def _prepared(self, schema: EntitySchema) -> IOResult[EntitySchema, PortError]:
        if self._dry_run:
            return IOSuccess(schema)
        return self._sink.prepare(schema).map(lambda _: schema)

    def _replay(
        self, run_id: str, entity: str, schema: EntitySchema
    ) -> IOResult[ReplayReport, ReplayReport]:
        """The entity's quarantine a chunk at a time, until none is left or a port fails."""
        normalizer = RecordNormalizer(schema, self._normalize)
        progress = _Progress(ReplayReport(entity))
        step: IOResult[None, PortError] = IOSuccess(None)
        while is_successful(step) and not progress.done:
            pending: IOResult[tuple[QuarantinedRecord, ...], PortError] = self._quarantine.pending(
                entity, progress.after, self._batch_size
            )
            step = pending.bind(partial(self._replay_chunk, run_id, normalizer, progress))
        return step.map(lambda _: progress.report).alt(partial(_failed, progress.report))

    def _replay_chunk(
        self,
        run_id: str,
        normalizer: RecordNormalizer,
        progress: _Progress,
        rows: tuple[QuarantinedRecord, ...],
    ) -> IOResult[None, PortError]:
        if not rows:
            progress.done = True
            return IOSuccess(None)
        progress.after = rows[-1].seq
        chunk = _sorted(normalizer, rows, progress.report.reasons)
        loaded = self._load(run_id, progress.report.entity, chunk.loaded, chunk.seqs)
        return loaded.map(lambda _: progress.add(len(rows), chunk))

    def _load(
        self, run_id: str, entity: str, records: list[NormalizedRecord], seqs: list[int]
    ) -> IOResult[None, PortError]:
        if self._dry_run or not records:
            return IOSuccess(None)
        batch = Batch(entity=entity, run_id=run_id, records=tuple(records))
        written: IOResult[WriteOutcome, PortError] = self._sink.write(batch)
        return written.bind(lambda _: self._quarantine.release(seqs))


@dataclass
class _Chunk:
    """A chunk of the quarantine sorted out: what loads now (and the seqs it releases), what
    does not, and the reasons kept so far."""

    loaded: list[NormalizedRecord] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    still_invalid: int = 0
    not_replayable: int = 0
    reasons: list[str] = field(default_factory=list)


@dataclass
class _Progress:
    """An entity's replay so far: its report, and where the next chunk starts."""

    report: ReplayReport
    after: int = 0
    done: bool = False

    def add(self, examined: int, chunk: _Chunk) -> None:
        report = self.report
        self.report = replace(
            report,
            examined=report.examined + examined,
            loaded=report.loaded + len(chunk.loaded),
            still_invalid=report.still_invalid + chunk.still_invalid,
            not_replayable=report.not_replayable + chunk.not_replayable,
            reasons=tuple(chunk.reasons),
        )


def _sorted(
    normalizer: RecordNormalizer, rows: Sequence[QuarantinedRecord], reasons: Sequence[str]
) -> _Chunk:
    chunk = _Chunk(reasons=list(reasons))
    for row in rows:
        kind, raw = replay_input(row.payload)
        if kind is not QuarantineKind.VALIDATION:
            chunk.not_replayable += 1
            continue
        (outcome,) = normalizer.normalize_many([raw])
        if isinstance(outcome, RecordRejected):
            chunk.still_invalid += 1
            if len(chunk.reasons) < REASONS_KEPT:
                chunk.reasons.append(f"{row.record_id}: {outcome.reason}")
            continue
        chunk.loaded.append(outcome)
        chunk.seqs.append(row.seq)
    return chunk


def _failed(report: ReplayReport, error: PortError) -> ReplayReport:
    return replace(report, error=str(error))


def _judged(reports: tuple[ReplayReport, ...]) -> Result[tuple[ReplayReport, ...], SyncError]:
    failed = [r for r in reports if r.error is not None]
    if failed:
        message = "; ".join(f"{r.entity}: {r.error}" for r in failed)
        return Failure(SyncError("replay.failed", message, {"reports": reports}))
    return Success(reports)
