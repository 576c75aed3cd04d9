"""``target-gruponos``: loads Singer messages of any stream through the SQL record sink.

- SCHEMA: the stream's table is prepared (created, or new columns added; never dropped). A changed
  schema first flushes what is buffered.
- RECORD: normalized like a WMS record (see :mod:`~gruponos.adapters.singer.stream_plan`); invalid
  ones go to the sink's quarantine with the reason, never silently dropped.
- ``_gruponos_quarantine`` (the records tap-gruponos rejected) has no table of its own: each of
  its records joins the rejects of the stream it names and lands in the same quarantine table,
  in the same transaction as that stream's batch. They are the tap's rejects, so they do not
  count towards this target's ``max_reject_ratio``.
- Every ``batch_size`` buffered records (all streams together) one batch per stream is written,
  each in its own transaction; then the value of the newest STATE received so far is printed on
  stdout (the bare value, as Meltano expects). A state is therefore only emitted after every
  record that preceded it is committed.
- ``load_method``: ``upsert`` (monotonic by ``MOD_TS``), ``append-only`` (every version is also
  kept in ``<TABLE>_HIST``; the sink is opened with history), ``overwrite`` (rows not received in
  this run are soft-deleted once the input ended cleanly).
- A malformed line stops the target before anything after the last commit is written; the exit
  code is non-zero and the last STATE emitted still describes committed data only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import IO, Any

import orjson
import structlog
from returns.io import IOFailure, IOResult, IOSuccess
from returns.pipeline import is_successful
from returns.result import Failure
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.singer.config import TargetConfig
from gruponos.adapters.singer.messages import (
    MessageError,
    OtherMessage,
    RecordMessage,
    SchemaMessage,
    StateMessage,
    parse_line,
    target_state_line,
)
from gruponos.adapters.singer.stream_plan import StreamPlan, plan_stream
from gruponos.adapters.singer.streams import QUARANTINE_STREAM
from gruponos.application.errors import SinkError
from gruponos.application.ports import RecordSink
from gruponos.domain.batches import Batch, Rejected
from gruponos.domain.errors import DomainError
from gruponos.domain.normalize import RecordNormalizer
from gruponos.domain.records import NormalizedRecord, NormalizeOptions

log = structlog.get_logger("gruponos.target")


@dataclass(frozen=True, slots=True)
class SingerError(DomainError):
    """The input is not a valid Singer stream (bad line, RECORD before SCHEMA, no key ...)."""


@dataclass(frozen=True, slots=True)
class StreamTotals:
    stream: str
    received: int = 0
    written: int = 0
    stale: int = 0
    quarantined: int = 0
    batches: int = 0
    deleted: int = 0


@dataclass
class _Stream:
    plan: StreamPlan
    normalizer: RecordNormalizer
    records: list[NormalizedRecord] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    forwarded: int = 0  # how many of ``rejected`` came from the quarantine stream

    @property
    def pending(self) -> int:
        return len(self.records) + len(self.rejected)


@dataclass(frozen=True, slots=True)
class TargetReport:
    streams: tuple[StreamTotals, ...]
    states_emitted: int

    @property
    def reject_ratio(self) -> float:
        """Quarantined by this target, of what it received (the tap's rejects left out)."""
        own = [s for s in self.streams if s.stream != QUARANTINE_STREAM]
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


class SingerTarget:
    """Consumes Singer lines and writes them through a :class:`RecordSink`."""

    def __init__(
        self,
        config: TargetConfig,
        sink: RecordSink,
        out: IO[bytes],
        *,
        run_id: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._config = config
        self._sink = sink
        self._out = out
        self._run_id = run_id
        self._clock = clock
        self._streams: dict[str, _Stream] = {}
        self._totals: dict[str, StreamTotals] = {}
        self._pending_state: dict[str, Any] | None = None
        self._states = 0
        self._normalize = NormalizeOptions(default_tz=UTC)  # Singer: a bare timestamp is UTC
        self._generation = run_id if config.load_method == "overwrite" else None

    def process(self, lines: Iterable[bytes | str]) -> IOResult[TargetReport, DomainError]:
        """Load every message; the failure names the line, stream or batch that stopped it."""
        for number, line in enumerate(lines, start=1):
            try:
                message = parse_line(line, number)
            except MessageError as exc:
                return IOFailure(
                    SingerError(
                        "singer.bad_message", f"input line {number}: {exc.reason}", {"line": number}
                    )
                )
            error = self._handle(message, number)
            if error is not None:
                return IOFailure(error)
        error = self._flush()
        if error is None and self._generation is not None:
            error = self._soft_delete()
        if error is not None:
            return IOFailure(error)
        return IOSuccess(TargetReport(tuple(self._totals.values()), self._states))

    def _handle(
        self,
        message: SchemaMessage | RecordMessage | StateMessage | OtherMessage | None,
        number: int,
    ) -> DomainError | None:
        match message:
            case RecordMessage():
                return self._record(message, number)
            case SchemaMessage():
                return self._schema(message)
            case StateMessage():
                self._pending_state = dict(message.value)
                if not any(s.pending for s in self._streams.values()):
                    self._emit_state()
                return None
            case OtherMessage():
                log.debug("target.message_ignored", type=message.type, line=number)
                return None
            case None:
                return None
        raise AssertionError("unreachable")  # pragma: no cover

    def _schema(self, message: SchemaMessage) -> DomainError | None:
        if message.stream == QUARANTINE_STREAM:  # no table: see _forward
            self._totals.setdefault(QUARANTINE_STREAM, StreamTotals(QUARANTINE_STREAM))
            return None
        current = self._streams.get(message.stream)
        planned = plan_stream(
            message.stream, message.schema, message.key_properties, message.bookmark_properties
        )
        if isinstance(planned, Failure):
            failure: DomainError = planned.failure()
            return failure
        plan = planned.unwrap()
        if current is not None and current.plan == plan:
            return None
        if current is not None and current.pending:
            flushed = self._flush()
            if flushed is not None:
                return flushed
        prepared = self._sink.prepare(plan.schema)
        if not is_successful(prepared):
            return unsafe_perform_io(prepared.failure())
        self._streams[message.stream] = _Stream(
            plan, RecordNormalizer(plan.schema, self._normalize)
        )
        self._totals.setdefault(message.stream, StreamTotals(message.stream))
        return None

    def _record(self, message: RecordMessage, number: int) -> DomainError | None:
        if message.stream == QUARANTINE_STREAM and QUARANTINE_STREAM in self._totals:
            return self._forward(message.record, number)
        stream = self._streams.get(message.stream)
        if stream is None:
            return SingerError(
                "singer.record_before_schema",
                "a RECORD arrived before its stream's SCHEMA",
                {"line": number, "stream": message.stream},
            )
        prepared = stream.plan.prepare(message.record, message.time_extracted or self._clock())
        normalized = stream.normalizer.normalize(prepared)
        if is_successful(normalized):
            stream.records.append(normalized.unwrap())
        else:
            problem = normalized.failure()
            stream.rejected.append(
                Rejected(
                    message.stream,
                    None if problem.context.get("id") is None else str(problem.context["id"]),
                    _payload(message.record),
                    problem.reason,
                )
            )
        totals = self._totals[message.stream]
        self._totals[message.stream] = replace(totals, received=totals.received + 1)
        if sum(s.pending for s in self._streams.values()) >= self._config.batch_size:
            return self._flush()
        return None

    def _forward(self, record: Mapping[str, Any], number: int) -> DomainError | None:
        """A record the tap rejected joins the rejects of its stream (same quarantine table)."""
        name, reason, payload = record.get("stream"), record.get("reason"), record.get("payload")
        stream = self._streams.get(name) if isinstance(name, str) else None
        if stream is None or not isinstance(reason, str):
            return SingerError(
                "singer.bad_quarantine_record",
                f"a {QUARANTINE_STREAM} record must give a reason and name a stream whose "
                "SCHEMA came before it",
                {"line": number, "stream": str(name)[:128]},
            )
        record_id = record.get("id")
        stream.rejected.append(
            Rejected(
                stream.plan.stream,
                None if record_id is None else str(record_id),
                payload if isinstance(payload, str) else _payload(payload),
                reason,
            )
        )
        stream.forwarded += 1
        totals = self._totals[QUARANTINE_STREAM]
        self._totals[QUARANTINE_STREAM] = replace(totals, received=totals.received + 1)
        if sum(s.pending for s in self._streams.values()) >= self._config.batch_size:
            return self._flush()
        return None

    def _flush(self) -> DomainError | None:
        """Write every stream's buffer (one transaction each), then emit the pending STATE."""
        for name, stream in self._streams.items():
            if not stream.pending:
                continue
            batch = Batch(
                entity=name,
                run_id=self._run_id,
                records=tuple(stream.records),
                rejected=tuple(stream.rejected),
                generation=self._generation,
            )
            written = self._sink.write(batch)
            if not is_successful(written):
                return unsafe_perform_io(written.failure())
            outcome = unsafe_perform_io(written.unwrap())
            totals = self._totals[name]
            self._totals[name] = replace(
                totals,
                written=totals.written + outcome.written,
                stale=totals.stale + outcome.stale,
                quarantined=totals.quarantined + outcome.quarantined - stream.forwarded,
                batches=totals.batches + 1,
            )
            if stream.forwarded:
                forwarded = self._totals[QUARANTINE_STREAM]
                self._totals[QUARANTINE_STREAM] = replace(
                    forwarded, quarantined=forwarded.quarantined + stream.forwarded
                )
            stream.records.clear()
            stream.rejected.clear()
            stream.forwarded = 0
        if self._pending_state is not None:
            self._emit_state()
        return None

    def _soft_delete(self) -> SinkError | None:
        for name in self._streams:
            deleted = self._sink.soft_delete_unseen(name, self._run_id, self._clock())
            if not is_successful(deleted):
                return unsafe_perform_io(deleted.failure())
            totals = self._totals[name]
            self._totals[name] = replace(totals, deleted=unsafe_perform_io(deleted.unwrap()))
        return None

    def _emit_state(self) -> None:
        if self._pending_state is None:
            return
        self._out.write(target_state_line(self._pending_state))
        self._out.flush()
        self._pending_state = None
        self._states += 1


def _payload(record: Any) -> str:
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=str).decode()
