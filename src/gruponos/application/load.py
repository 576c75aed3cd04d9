"""Load: records of any stream into the record sink, in batches (the pipeline behind
``target-gruponos``).

- A stream is declared with its table schema: the table is prepared (created, or new columns
  added; never dropped). A changed schema first writes what is buffered under the old one.
- Each record is normalized like a WMS record; an invalid one joins the stream's rejects and goes
  to the sink's quarantine with the reason, never silently dropped.
- Rejects forwarded from upstream (records an extraction already rejected) join the rejects of
  the stream they name and land in its quarantine, in the same transaction as that stream's
  batch. They are not this load's rejects, so they do not count towards its reject ratio.
- Every ``batch_size`` buffered records and rejects (all streams together) one batch per stream
  is written, each in its own transaction; then the newest state received so far is passed on.
  A state is therefore only passed on after every record that preceded it is committed.
- ``overwrite``: rows not received in this load are soft-deleted once the input ended cleanly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from returns.io import IOResult, IOSuccess
from returns.pipeline import is_successful

from gruponos.application.ports import Clock, CommittedStates, RecordSink
from gruponos.application.railway import each, widened
from gruponos.domain.batches import Batch, Rejected, WriteOutcome
from gruponos.domain.errors import DomainError
from gruponos.domain.normalize import RecordNormalizer
from gruponos.domain.records import NormalizedRecord, NormalizeOptions
from gruponos.domain.schema import EntitySchema


@dataclass(frozen=True, slots=True)
class LoadOptions:
    run_id: str
    batch_size: int = 5000
    #: soft-delete, at the end of a clean load, the rows it did not receive
    overwrite: bool = False
    normalize: NormalizeOptions = NormalizeOptions()
    #: the name under which forwarded rejects are counted in the report
    forwarded_stream: str = "forwarded_rejects"


@dataclass(frozen=True, slots=True)
class StreamTotals:
    stream: str
    received: int = 0
    written: int = 0
    stale: int = 0
    quarantined: int = 0
    batches: int = 0
    deleted: int = 0


@dataclass(frozen=True, slots=True)
class TargetReport:
    streams: tuple[StreamTotals, ...]
    states_emitted: int
    forwarded_stream: str = "forwarded_rejects"

    @property
    def reject_ratio(self) -> float:
        """Quarantined by this load, of what it received (forwarded rejects left out)."""
        own = [s for s in self.streams if s.stream != self.forwarded_stream]
        received = sum(s.received for s in own)
        return sum(s.quarantined for s in own) / received if received else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "states_emitted": self.states_emitted,
            "streams": {
                s.stream: {
                    "received": s.received,
                    "written": s.written,
                    "stale": s.stale,
                    "quarantined": s.quarantined,
                    "batches": s.batches,
                    "deleted": s.deleted,
                }
                for s in self.streams
            },
        }


@dataclass
class _Buffer:
    schema: EntitySchema
    normalizer: RecordNormalizer
    records: list[NormalizedRecord] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    forwarded: int = 0  # how many of ``rejected`` were forwarded from upstream

    @property
    def pending(self) -> int:
        return len(self.records) + len(self.rejected)


class LoadStreams:
    """Buffers records per stream and writes them through a :class:`RecordSink` in batches.

    Feed it with :meth:`declare`, :meth:`record`, :meth:`forward` and :meth:`state` in the order
    the input has them, then call :meth:`finish` once the input ended cleanly.
    """

    def __init__(
        self, sink: RecordSink, states: CommittedStates, clock: Clock, options: LoadOptions
    ) -> None:
        self._sink = sink
        self._states = states
        self._clock = clock
        self._options = options
        self._streams: dict[str, _Buffer] = {}
        self._totals: dict[str, StreamTotals] = {}
        self._pending_state: Mapping[str, Any] | None = None
        self._emitted = 0
        self._generation = options.run_id if options.overwrite else None

    def declared(self, stream: str) -> bool:
        return stream in self._streams

    def declare(self, stream: str, schema: EntitySchema) -> IOResult[None, DomainError]:
        """Prepare the stream's table (once per schema; a new schema flushes the old first)."""
        current = self._streams.get(stream)
        if current is not None and current.schema == schema:
            return IOSuccess(None)
        flushed = self._flush() if current is not None and current.pending else IOSuccess(None)
        return flushed.bind(lambda _: widened(self._sink.prepare(schema))).map(
            lambda _: self._open(stream, schema)
        )

    def _open(self, stream: str, schema: EntitySchema) -> None:
        self._streams[stream] = _Buffer(schema, RecordNormalizer(schema, self._options.normalize))
        self._totals.setdefault(stream, StreamTotals(stream))

    def accept_forwarded(self) -> None:
        """Forwarded rejects will come: count them (even none) in the report."""
        name = self._options.forwarded_stream
        self._totals.setdefault(name, StreamTotals(name))

    def record(
        self, stream: str, raw: Mapping[str, Any], payload: Callable[[], str]
    ) -> IOResult[None, DomainError]:
        """One record of a declared stream; ``payload`` gives the record as received (JSON
        text), what the quarantine keeps if it is rejected."""
        buffer = self._streams[stream]
        normalized = buffer.normalizer.normalize(raw)
        if is_successful(normalized):
            buffer.records.append(normalized.unwrap())
        else:
            problem = normalized.failure()
            record_id = problem.context.get("id")
            buffer.rejected.append(
                Rejected(
                    stream,
                    None if record_id is None else str(record_id),
                    payload(),
                    problem.reason,
                )
            )
        self._count(stream)
        return self._flush_if_full()

    def forward(
        self, stream: str, record_id: str | None, reason: str, payload: str
    ) -> IOResult[None, DomainError]:
        """A record rejected upstream: quarantined with the batch of the declared ``stream``."""
        buffer = self._streams[stream]
        buffer.rejected.append(Rejected(stream, record_id, payload, reason))
        buffer.forwarded += 1
        self._count(self._options.forwarded_stream)
        return self._flush_if_full()

    def state(self, value: Mapping[str, Any]) -> IOResult[None, DomainError]:
        """The input's state: passed on at once when nothing is buffered, else after the flush."""
        self._pending_state = value
        if any(s.pending for s in self._streams.values()):
            return IOSuccess(None)
        return self._emit_state()

    def finish(self) -> IOResult[TargetReport, DomainError]:
        """Write what is buffered; ``overwrite``: soft-delete what this load did not receive."""
        flushed = self._flush()
        if self._generation is not None:
            flushed = flushed.bind(lambda _: self._soft_delete(list(self._streams)))
        return flushed.map(
            lambda _: TargetReport(
                tuple(self._totals.values()), self._emitted, self._options.forwarded_stream
            )
        )

    def _count(self, name: str) -> None:
        totals = self._totals[name]
        self._totals[name] = replace(totals, received=totals.received + 1)

    def _flush_if_full(self) -> IOResult[None, DomainError]:
        if sum(s.pending for s in self._streams.values()) >= self._options.batch_size:
            return self._flush()
        return IOSuccess(None)

    def _flush(self) -> IOResult[None, DomainError]:
        """Write every stream's buffer (one transaction each), then pass on the pending state."""
        pending = [name for name, buffer in self._streams.items() if buffer.pending]
        written = each(pending, self._write)
        return written.bind(lambda _: self._emit_state())

    def _write(self, name: str) -> IOResult[None, DomainError]:
        buffer = self._streams[name]
        batch = Batch(
            entity=name,
            run_id=self._options.run_id,
            records=tuple(buffer.records),
            rejected=tuple(buffer.rejected),
            generation=self._generation,
        )
        outcome: IOResult[WriteOutcome, DomainError] = self._sink.write(batch)
        return outcome.map(lambda done: self._written(name, buffer, done))

    def _written(self, name: str, buffer: _Buffer, outcome: WriteOutcome) -> None:
        totals = self._totals[name]
        self._totals[name] = replace(
            totals,
            written=totals.written + outcome.written,
            stale=totals.stale + outcome.stale,
            quarantined=totals.quarantined + outcome.quarantined - buffer.forwarded,
            batches=totals.batches + 1,
        )
        if buffer.forwarded:
            forwarded = self._totals[self._options.forwarded_stream]
            self._totals[self._options.forwarded_stream] = replace(
                forwarded, quarantined=forwarded.quarantined + buffer.forwarded
            )
        buffer.records.clear()
        buffer.rejected.clear()
        buffer.forwarded = 0

    def _emit_state(self) -> IOResult[None, DomainError]:
        value = self._pending_state
        if value is None:
            return IOSuccess(None)
        self._pending_state = None
        self._emitted += 1
        return widened(self._states.emit(value))

    def _soft_delete(self, streams: list[str]) -> IOResult[None, DomainError]:
        at = self._clock.now()

        def delete(name: str) -> IOResult[None, DomainError]:
            deleted = widened(self._sink.soft_delete_unseen(name, self._options.run_id, at))
            return deleted.map(lambda count: self._deleted(name, count))

        return each(streams, delete).map(lambda _: None)

    def _deleted(self, name: str, deleted: int) -> None:
        self._totals[name] = replace(self._totals[name], deleted=deleted)
