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
from dataclasses import replace

from returns.io import IOFailure, IOResult, IOSuccess
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.application.errors import PortError, SyncError
from gruponos.application.ports import QuarantineStore, RecordSink, WmsSource
from gruponos.domain.batches import Batch
from gruponos.domain.errors import RecordRejected
from gruponos.domain.normalize import RecordNormalizer
from gruponos.domain.quarantine import QuarantineKind, ReplayReport, replay_input
from gruponos.domain.records import NormalizedRecord, NormalizeOptions

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
        reports = tuple(self._entity(run_id, entity) for entity in entities)
        failed = [r for r in reports if r.error is not None]
        if failed:
            message = "; ".join(f"{r.entity}: {r.error}" for r in failed)
            return IOFailure(SyncError("replay.failed", message, {"reports": reports}))
        return IOSuccess(reports)

    def _entity(self, run_id: str, entity: str) -> ReplayReport:
        described = self._source.describe(entity)
        if not is_successful(described):
            return ReplayReport(entity, error=str(_error_of(described)))
        schema = unsafe_perform_io(described.unwrap())
        if not self._dry_run:
            prepared = self._sink.prepare(schema)
            if not is_successful(prepared):
                return ReplayReport(entity, error=str(_error_of(prepared)))
        normalizer = RecordNormalizer(schema, self._normalize)
        report = ReplayReport(entity)
        after = 0
        while True:
            chunk = self._quarantine.pending(entity, after, self._batch_size)
            if not is_successful(chunk):
                return replace(report, error=str(_error_of(chunk)))
            rows = unsafe_perform_io(chunk.unwrap())
            if not rows:
                return report
            after = rows[-1].seq
            loaded: list[NormalizedRecord] = []
            seqs: list[int] = []
            reasons = list(report.reasons)
            still_invalid = not_replayable = 0
            for row in rows:
                kind, raw = replay_input(row.payload)
                if kind is not QuarantineKind.VALIDATION:
                    not_replayable += 1
                    continue
                (outcome,) = normalizer.normalize_many([raw])
                if isinstance(outcome, RecordRejected):
                    still_invalid += 1
                    if len(reasons) < REASONS_KEPT:
                        reasons.append(f"{row.record_id}: {outcome.reason}")
                    continue
                loaded.append(outcome)
                seqs.append(row.seq)
            written = self._load(run_id, entity, loaded, seqs)
            if isinstance(written, PortError):
                return replace(report, error=str(written))
            report = replace(
                report,
                examined=report.examined + len(rows),
                loaded=report.loaded + len(loaded),
                still_invalid=report.still_invalid + still_invalid,
                not_replayable=report.not_replayable + not_replayable,
                reasons=tuple(reasons),
            )

    def _load(
        self, run_id: str, entity: str, records: list[NormalizedRecord], seqs: list[int]
    ) -> PortError | None:
        if self._dry_run or not records:
            return None
        batch = Batch(entity=entity, run_id=run_id, records=tuple(records))
        done = self._sink.write(batch).bind(lambda _: self._quarantine.release(seqs))
        return None if is_successful(done) else _error_of(done)


def _error_of(result: IOResult[object, PortError]) -> PortError:
    return unsafe_perform_io(result.failure())
