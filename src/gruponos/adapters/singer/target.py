"""``target-gruponos``'s input: Singer messages of any stream, fed to the load use case.

The batching and reject rules (buffers per stream, one transaction per stream's batch, states
passed on only after the records before them are committed, the reject ratio, soft deletes for
``overwrite``) are :class:`~gruponos.application.load.LoadStreams`'. This module reads the Singer
side:

- SCHEMA: the stream's table schema is planned (see :mod:`~gruponos.adapters.singer.stream_plan`)
  and declared to the load, which prepares the table (created, or new columns added).
- RECORD: mapped by the stream's plan and handed to the load, which normalizes it like a WMS
  record; an invalid one goes to the sink's quarantine with the reason.
- ``_gruponos_quarantine`` (the records tap-gruponos rejected) has no table of its own: each of
  its records is forwarded to the load as a reject of the stream it names, which lands in that
  stream's quarantine, in the same transaction as its batch, and does not count towards this
  target's ``max_reject_ratio``.
- STATE: handed to the load; its value is printed on stdout (the bare value, as Meltano expects)
  once everything before it is committed.
- ``load_method``: ``upsert`` (monotonic by ``MOD_TS``), ``append-only`` (every version is also
  kept in ``<TABLE>_HIST``; the sink is opened with history), ``overwrite`` (rows not received in
  this run are soft-deleted once the input ended cleanly).
- A malformed line stops the target before anything after the last commit is written; the exit
  code is non-zero and the last STATE emitted still describes committed data only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import IO, Any

import orjson
import structlog
from returns.io import IOFailure, IOResult, IOSuccess
from returns.pipeline import is_successful
from returns.result import Failure

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
from gruponos.application.load import LoadStreams, TargetReport
from gruponos.application.ports import Clock
from gruponos.domain.errors import DomainError

log = structlog.get_logger("gruponos.target")


@dataclass(frozen=True, slots=True)
class SingerError(DomainError):
    """The input is not a valid Singer stream (bad line, RECORD before SCHEMA, no key ...)."""


class SingerStates:
    """Implements the ``CommittedStates`` port: each state's bare value, one JSON per line."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out

    def emit(self, state: Mapping[str, Any]) -> IOResult[None, SinkError]:
        try:
            self._out.write(target_state_line(state))
            self._out.flush()
        except OSError as exc:
            return IOFailure(
                SinkError("singer.output_failed", f"cannot write a STATE: {exc.strerror}", {})
            )
        return IOSuccess(None)


Message = SchemaMessage | RecordMessage | StateMessage | OtherMessage | None


class SingerTarget:
    """Reads Singer lines and feeds them to a :class:`LoadStreams`; ``clock`` stamps records
    that came without ``time_extracted``."""

    def __init__(self, load: LoadStreams, clock: Clock) -> None:
        self._load = load
        self._clock = clock
        self._plans: dict[str, StreamPlan] = {}
        self._forwarding = False  # the quarantine stream's SCHEMA came

    def process(self, lines: Iterable[bytes | str]) -> IOResult[TargetReport, DomainError]:
        """Load every message; the failure names the line, stream or batch that stopped it."""
        done: IOResult[None, DomainError] = IOSuccess(None)
        for number, line in enumerate(lines, start=1):
            done = self._line(line, number)
            if not is_successful(done):
                break
        return done.bind(lambda _: self._load.finish())

    def _line(self, line: bytes | str, number: int) -> IOResult[None, DomainError]:
        try:
            message = parse_line(line, number)
        except MessageError as exc:
            return IOFailure(
                SingerError(
                    "singer.bad_message", f"input line {number}: {exc.reason}", {"line": number}
                )
            )
        return self._handle(message, number)

    def _handle(self, message: Message, number: int) -> IOResult[None, DomainError]:
        match message:
            case RecordMessage():
                return self._record(message, number)
            case SchemaMessage():
                return self._schema(message)
            case StateMessage():
                return self._load.state(dict(message.value))
            case OtherMessage():
                log.debug("target.message_ignored", type=message.type, line=number)
                return IOSuccess(None)
            case None:
                return IOSuccess(None)
        raise AssertionError("unreachable")  # pragma: no cover

    def _schema(self, message: SchemaMessage) -> IOResult[None, DomainError]:
        if message.stream == QUARANTINE_STREAM:  # no table: see _forward
            self._forwarding = True
            self._load.accept_forwarded()
            return IOSuccess(None)
        planned = plan_stream(
            message.stream, message.schema, message.key_properties, message.bookmark_properties
        )
        if isinstance(planned, Failure):
            return IOFailure(planned.failure())
        plan = planned.unwrap()
        declared = self._load.declare(message.stream, plan.schema)
        self._plans[message.stream] = plan
        return declared

    def _record(self, message: RecordMessage, number: int) -> IOResult[None, DomainError]:
        if message.stream == QUARANTINE_STREAM and self._forwarding:
            return self._forward(message.record, number)
        plan = self._plans.get(message.stream)
        if plan is None or not self._load.declared(message.stream):
            return IOFailure(
                SingerError(
                    "singer.record_before_schema",
                    "a RECORD arrived before its stream's SCHEMA",
                    {"line": number, "stream": message.stream},
                )
            )
        prepared = plan.prepare(message.record, message.time_extracted or self._clock.now())
        return self._load.record(message.stream, prepared, lambda: _payload(message.record))

    def _forward(self, record: Mapping[str, Any], number: int) -> IOResult[None, DomainError]:
        """A record the tap rejected joins the rejects of its stream (same quarantine table)."""
        name, reason, payload = record.get("stream"), record.get("reason"), record.get("payload")
        if (
            not isinstance(name, str)
            or not self._load.declared(name)
            or not isinstance(reason, str)
        ):
            return IOFailure(
                SingerError(
                    "singer.bad_quarantine_record",
                    f"a {QUARANTINE_STREAM} record must give a reason and name a stream whose "
                    "SCHEMA came before it",
                    {"line": number, "stream": str(name)[:128]},
                )
            )
        record_id = record.get("id")
        return self._load.forward(
            name,
            None if record_id is None else str(record_id),
            reason,
            payload if isinstance(payload, str) else _payload(payload),
        )


def _payload(record: Any) -> str:
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=str).decode()
