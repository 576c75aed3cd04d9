"""``tap-gruponos``: a Singer tap over the WMS source port and the domain normalization.

Per selected stream: ``describe`` -> SCHEMA; pages from the source -> one RECORD per valid record
(normalized exactly as ``gruponos sync`` does, flattened, with ``time_extracted``); in incremental
mode a STATE after every page whose bookmark is the newest ``mod_ts`` emitted so far. Invalid
records are not emitted in their stream: each one becomes a RECORD of the quarantine stream
``_gruponos_quarantine`` (stream, id, reason, payload; unless a catalog deselects it), written
before the STATE that moves past it, so the bookmark never leaves a rejected record behind that
only a log holds. Each is also logged to stderr (and appended to ``quarantine_file`` when set)
and counted; over ``max_reject_ratio`` the tap exits 3.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import orjson
import structlog
from returns.io import IOFailure, IOResult, IOSuccess
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.singer.config import TapConfig
from gruponos.adapters.singer.messages import record_line, schema_line, state_line
from gruponos.adapters.singer.streams import (
    QUARANTINE_KEY,
    QUARANTINE_STREAM,
    RecordEncoder,
    Selection,
    catalog_entry,
    quarantine_catalog_entry,
    quarantine_json_schema,
    quarantine_record,
)
from gruponos.adapters.singer.streams import stream_json_schema as json_schema_of
from gruponos.application.errors import WmsError
from gruponos.application.ports import WmsSource
from gruponos.domain.checkpoints import (
    Checkpoint,
    FullWindow,
    IncrementalWindow,
    Position,
    ReadWindow,
    SyncMode,
    incremental_window,
)
from gruponos.domain.normalize import RecordNormalizer
from gruponos.domain.schema import PRIMARY_KEY, REPLICATION_KEY, EntitySchema

log = structlog.get_logger("gruponos.tap")


@dataclass(frozen=True, slots=True)
class StreamReport:
    stream: str
    records: int = 0
    rejected: int = 0
    pages: int = 0
    retried_requests: int = 0
    bookmark: str | None = None
    source_changed: bool = False  # a paged read saw the WMS change: records may be skipped

    @property
    def reject_ratio(self) -> float:
        read = self.records + self.rejected
        return self.rejected / read if read else 0.0


@dataclass(frozen=True, slots=True)
class TapReport:
    streams: tuple[StreamReport, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            s.stream: {
                "records": s.records,
                "rejected": s.rejected,
                "pages": s.pages,
                "retried_requests": s.retried_requests,
                "bookmark": s.bookmark,
                "source_changed": s.source_changed,
            }
            for s in self.streams
        }


def bookmark_checkpoint(state: Mapping[str, Any], stream: str) -> Checkpoint | None:
    """The incremental checkpoint in a Singer state's bookmark for ``stream``, if any.

    ``{"bookmarks": {stream: {"replication_key": "mod_ts", "replication_key_value": ts}}}``;
    anything else (no bookmark, another replication key, not a timestamp) is no checkpoint.
    """
    bookmarks = state.get("bookmarks")
    entry = bookmarks.get(stream) if isinstance(bookmarks, Mapping) else None
    if not isinstance(entry, Mapping) or entry.get("replication_key", REPLICATION_KEY) != (
        REPLICATION_KEY
    ):
        return None
    value = entry.get("replication_key_value")
    if not isinstance(value, str):
        return None
    try:
        mod_ts = datetime.fromisoformat(value)
    except ValueError:
        return None
    if mod_ts.tzinfo is None:
        mod_ts = mod_ts.replace(tzinfo=UTC)
    return Checkpoint(SyncMode.INCREMENTAL, position=Position(mod_ts.astimezone(UTC), 0))


def bookmark_of(position: Position) -> dict[str, Any]:
    """The Singer bookmark of an incremental position."""
    return {
        "replication_key": REPLICATION_KEY,
        "replication_key_value": position.mod_ts.astimezone(UTC).isoformat(),
    }


class SingerTap:
    """Writes Singer messages for WMS entities to ``out`` (a binary stream).

    ``clock`` gives ``time_extracted``; ``rejects`` receives every rejected record (a log line or
    a quarantine file), so the tap never decides alone that a record may vanish.
    """

    def __init__(
        self,
        config: TapConfig,
        source: WmsSource,
        out: IO[bytes],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rejects: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self._config = config
        self._source = source
        self._out = out
        self._clock = clock
        self._rejects = rejects or (lambda doc: log.warning("tap.record_rejected", **doc))
        self._incremental = config.sync_mode == "incremental"

    # -- discovery -------------------------------------------------------------------------------

    def discover(self, entities: Sequence[str] | None = None) -> IOResult[dict[str, Any], WmsError]:
        streams = []
        for entity in entities or self._config.entities:
            described = self._source.describe(entity)
            if not is_successful(described):
                return IOFailure(unsafe_perform_io(described.failure()))
            schema = unsafe_perform_io(described.unwrap())
            streams.append(catalog_entry(schema, incremental=self._incremental))
        streams.append(quarantine_catalog_entry())
        return IOSuccess({"streams": streams})

    # -- sync ------------------------------------------------------------------------------------

    def sync(
        self, state: Mapping[str, Any], selection: Selection | None = None
    ) -> IOResult[TapReport, WmsError]:
        """Emit every selected stream; ``IOFailure`` stops at the first stream that failed.

        Without a catalog every configured entity and the quarantine stream are emitted."""
        out_state: dict[str, Any] = copy.deepcopy(dict(state))
        streams = (
            {e: frozenset[str]() for e in self._config.entities}
            if selection is None
            else selection.streams
        )
        quarantine = selection is None or QUARANTINE_STREAM in streams
        if quarantine:  # first, so that every target has the table even when nothing is bad
            self._out.write(
                schema_line(QUARANTINE_STREAM, quarantine_json_schema(), QUARANTINE_KEY)
            )
        reports: list[StreamReport] = []
        for entity, excluded in streams.items():
            if entity == QUARANTINE_STREAM:
                continue
            result = self._sync_stream(entity, excluded, out_state, quarantine=quarantine)
            if isinstance(result, WmsError):
                return IOFailure(result)
            reports.append(result)
        return IOSuccess(TapReport(tuple(reports)))

    def _window(self, entity: str, state: Mapping[str, Any]) -> ReadWindow:
        if not self._incremental:
            return FullWindow()
        checkpoint = bookmark_checkpoint(state, entity)
        if checkpoint is None:
            return IncrementalWindow(since=self._config.start_date)
        return incremental_window(checkpoint, timedelta(seconds=self._config.overlap_seconds))

    def _sync_stream(
        self, entity: str, excluded: frozenset[str], state: dict[str, Any], *, quarantine: bool
    ) -> StreamReport | WmsError:
        described = self._source.describe(entity)
        if not is_successful(described):
            return unsafe_perform_io(described.failure())
        schema: EntitySchema = unsafe_perform_io(described.unwrap())
        bookmark_props = [REPLICATION_KEY] if self._incremental else []
        self._out.write(
            schema_line(entity, json_schema_of(schema, excluded), [PRIMARY_KEY], bookmark_props)
        )
        normalizer = RecordNormalizer(schema)
        encoder = RecordEncoder(schema, excluded)
        checkpoint = bookmark_checkpoint(state, entity) or Checkpoint(SyncMode.INCREMENTAL)
        report = StreamReport(entity)
        log.info("tap.stream_started", stream=entity, mode=self._config.sync_mode)
        for page_result in self._source.read(entity, self._window(entity, state)):
            if not is_successful(page_result):
                return unsafe_perform_io(page_result.failure())
            page = unsafe_perform_io(page_result.unwrap())
            extracted = self._clock()
            lines: list[bytes] = []
            held: list[bytes] = []  # the quarantine stream's records of this page
            newest: Position | None = None
            rejected = 0
            for raw in page.records:
                normalized = normalizer.normalize(raw)
                if is_successful(normalized):
                    record = normalized.unwrap()
                    lines.append(record_line(entity, encoder.encode(record), extracted))
                    position = Position(record.mod_ts, record.id)
                    newest = position if newest is None or position > newest else newest
                else:
                    rejected += 1
                    problem = normalized.failure()
                    record_id = problem.context.get("id")
                    self._rejects(
                        {
                            "stream": entity,
                            "id": record_id,
                            "reason": problem.reason,
                            "payload": raw,
                        }
                    )
                    if quarantine:
                        bad = quarantine_record(entity, record_id, problem.reason, raw, extracted)
                        held.append(record_line(QUARANTINE_STREAM, bad, extracted))
            self._out.write(b"".join(lines) + b"".join(held))
            if page.source_changed and not report.source_changed:
                log.warning("tap.source_changed", stream=entity, page=page.number)
            report = replace(
                report,
                records=report.records + len(lines),
                rejected=report.rejected + rejected,
                pages=report.pages + 1,
                retried_requests=report.retried_requests + page.retries,
                source_changed=report.source_changed or page.source_changed,
            )
            if self._incremental and newest is not None:
                checkpoint = checkpoint.advanced_to(newest, None)
                if checkpoint.position is not None:
                    state.setdefault("bookmarks", {})[entity] = bookmark_of(checkpoint.position)
                    self._out.write(state_line(state))
                    report = replace(
                        report,
                        bookmark=state["bookmarks"][entity]["replication_key_value"],
                    )
            self._out.flush()
        log.info(
            "tap.stream_finished",
            stream=entity,
            records=report.records,
            rejected=report.rejected,
            pages=report.pages,
        )
        return report


class QuarantineFile:
    """Appends rejected records as JSON lines (and logs them): the tap's quarantine."""

    def __init__(self, path: Path) -> None:
        self._handle = path.open("ab")

    def __call__(self, doc: dict[str, Any]) -> None:
        log.warning("tap.record_rejected", stream=doc["stream"], id=doc["id"], reason=doc["reason"])
        self._handle.write(orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE, default=str))
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()
