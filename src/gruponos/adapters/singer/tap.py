"""``tap-gruponos``'s output: the extraction as Singer messages on a binary stream.

The extraction itself (describe, read windows, normalization, which records are rejected, when a
checkpoint moves) is :class:`~gruponos.application.extract.ExtractEntities`; this module writes
what it gives as the Singer spec wants it. Per selected stream: SCHEMA; one RECORD per valid
record (flattened, with ``time_extracted``); in incremental mode a STATE after every page whose
bookmark is the newest ``mod_ts`` emitted so far. Invalid records are not emitted in their
stream: each one becomes a RECORD of the quarantine stream ``_gruponos_quarantine`` (stream, id,
reason, payload; unless a catalog deselects it), written before the STATE that moves past it, so
the bookmark never leaves a rejected record behind that only a log holds. Each is also logged to
stderr (and appended to ``quarantine_file`` when set).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
import structlog
from returns.io import IOFailure, IOResult, IOSuccess

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
    stream_json_schema,
)
from gruponos.application.errors import SinkError
from gruponos.application.ports import ExtractedPage
from gruponos.domain.checkpoints import Checkpoint, Position, SyncMode
from gruponos.domain.schema import PRIMARY_KEY, REPLICATION_KEY, EntitySchema

log = structlog.get_logger("gruponos.tap")


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


def bookmark_checkpoints(state: Mapping[str, Any], streams: Iterable[str]) -> dict[str, Checkpoint]:
    """The start checkpoint of each of ``streams`` that has a bookmark in ``state``."""
    found = {stream: bookmark_checkpoint(state, stream) for stream in streams}
    return {stream: checkpoint for stream, checkpoint in found.items() if checkpoint is not None}


def catalog(schemas: Iterable[EntitySchema], *, incremental: bool) -> dict[str, Any]:
    """The ``--discover`` catalog: one stream per entity, then the quarantine stream."""
    streams = [catalog_entry(schema, incremental=incremental) for schema in schemas]
    return {"streams": [*streams, quarantine_catalog_entry()]}


def _write_failed(error: OSError) -> IOResult[None, SinkError]:
    return IOFailure(
        SinkError("singer.output_failed", f"cannot write the Singer stream: {error.strerror}", {})
    )


class SingerTapOutput:
    """Implements the ``ExtractOutput`` port with Singer messages written to ``out``.

    ``state`` is the input state (``--state``): the STATE messages carry it with the bookmarks
    moved, so a bookmark of a stream not read this time is kept. ``rejects`` receives every
    rejected record (a log line or a quarantine file) whether or not the quarantine stream is
    selected, so no rejected record vanishes.
    """

    def __init__(
        self,
        out: IO[bytes],
        selection: Selection,
        *,
        incremental: bool,
        state: Mapping[str, Any] | None = None,
        rejects: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self._out = out
        self._selection = selection
        self._incremental = incremental
        self._state: dict[str, Any] = copy.deepcopy(dict(state or {}))
        self._rejects = rejects or (lambda doc: log.warning("tap.record_rejected", **doc))
        self._encoders: dict[str, RecordEncoder] = {}
        self._changed: set[str] = set()

    def _write(self, data: bytes) -> IOResult[None, SinkError]:
        try:
            self._out.write(data)
            self._out.flush()
        except OSError as exc:
            return _write_failed(exc)
        return IOSuccess(None)

    def open(self) -> IOResult[None, SinkError]:
        """The quarantine stream's SCHEMA first, so that every target has its table even when
        nothing is rejected."""
        if not self._selection.quarantine:
            return IOSuccess(None)
        return self._write(schema_line(QUARANTINE_STREAM, quarantine_json_schema(), QUARANTINE_KEY))

    def begin(self, schema: EntitySchema) -> IOResult[None, SinkError]:
        entity = schema.entity
        excluded = self._selection.excluded(entity)
        self._encoders[entity] = RecordEncoder(schema, excluded)
        bookmark_props = [REPLICATION_KEY] if self._incremental else []
        log.info(
            "tap.stream_started",
            stream=entity,
            mode=(SyncMode.INCREMENTAL if self._incremental else SyncMode.FULL).value,
        )
        return self._write(
            schema_line(entity, stream_json_schema(schema, excluded), [PRIMARY_KEY], bookmark_props)
        )

    def page(self, page: ExtractedPage) -> IOResult[None, SinkError]:
        entity, extracted = page.entity, page.extracted
        encoder = self._encoders[entity]
        lines = [record_line(entity, encoder.encode(r), extracted) for r in page.records]
        for reject in page.rejected:  # the quarantine stream's records of this page
            self._rejects(
                {
                    "stream": entity,
                    "id": reject.record_id,
                    "reason": reject.reason,
                    "payload": reject.payload,
                }
            )
            if self._selection.quarantine:
                bad = quarantine_record(
                    entity, reject.record_id, reject.reason, reject.payload, extracted
                )
                lines.append(record_line(QUARANTINE_STREAM, bad, extracted))
        if page.source_changed and entity not in self._changed:
            self._changed.add(entity)
            log.warning("tap.source_changed", stream=entity, page=page.number)
        return self._write(b"".join(lines))

    def checkpoint(self, entity: str, checkpoint: Checkpoint) -> IOResult[None, SinkError]:
        if checkpoint.position is None:
            return IOSuccess(None)
        self._state.setdefault("bookmarks", {})[entity] = bookmark_of(checkpoint.position)
        return self._write(state_line(self._state))

    def end(
        self, entity: str, *, records: int, rejected: int, pages: int
    ) -> IOResult[None, SinkError]:
        log.info(
            "tap.stream_finished", stream=entity, records=records, rejected=rejected, pages=pages
        )
        return IOSuccess(None)


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
