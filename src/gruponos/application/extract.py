"""Extract: WMS entities, normalized, to an output (the pipeline behind ``tap-gruponos``).

Per entity: describe, then read pages of the read window (full: every id; incremental: from the
start checkpoint less the overlap, or from ``start_date`` without one) and normalize each record
exactly as a sync does. Each page goes out whole: the records that passed and the rejected ones
(a reject is never dropped: the output keeps it), then, in incremental mode, the checkpoint moved
to the newest ``(mod_ts, id)`` that went out, so a checkpoint never leaves a record behind it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from returns.io import IOResult, IOSuccess
from returns.pipeline import is_successful

from gruponos.application.errors import WmsError
from gruponos.application.ports import (
    Clock,
    ExtractedPage,
    ExtractOutput,
    Page,
    SourceReject,
    WmsSource,
)
from gruponos.application.railway import each, widened
from gruponos.domain.checkpoints import (
    Checkpoint,
    FullWindow,
    IncrementalWindow,
    Position,
    ReadWindow,
    SyncMode,
    incremental_window,
)
from gruponos.domain.errors import DomainError
from gruponos.domain.normalize import RecordNormalizer
from gruponos.domain.records import NormalizedRecord, NormalizeOptions
from gruponos.domain.schema import EntitySchema


@dataclass(frozen=True, slots=True)
class ExtractOptions:
    incremental: bool = True
    #: incremental: lower bound of ``mod_ts`` for an entity without a checkpoint (None: all)
    start_date: datetime | None = None
    #: incremental: re-read this much before the checkpoint
    overlap: timedelta = timedelta(seconds=300)
    normalize: NormalizeOptions = NormalizeOptions()


@dataclass(frozen=True, slots=True)
class StreamReport:
    """What one entity gave: records out, rejects, pages, retries, the last checkpoint."""

    stream: str
    records: int = 0
    rejected: int = 0
    pages: int = 0
    retried_requests: int = 0
    position: Position | None = None  # where the last checkpoint put the entity
    source_changed: bool = False  # a paged read saw the WMS change: records may be skipped

    @property
    def reject_ratio(self) -> float:
        read = self.records + self.rejected
        return self.rejected / read if read else 0.0

    @property
    def bookmark(self) -> str | None:
        """The checkpoint's ``mod_ts`` as a UTC ISO-8601 instant."""
        return self.position.mod_ts.astimezone(UTC).isoformat() if self.position else None


@dataclass(frozen=True, slots=True)
class TapReport:
    streams: tuple[StreamReport, ...] = field(default_factory=tuple)

    def over_reject_ratio(self, max_ratio: float) -> tuple[str, ...]:
        """The streams whose rejected share is over ``max_ratio`` (the run then fails)."""
        return tuple(s.stream for s in self.streams if s.reject_ratio > max_ratio)

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


class ExtractEntities:
    """Reads entities from a :class:`WmsSource` and sends them, normalized, to an output."""

    def __init__(self, source: WmsSource, clock: Clock, options: ExtractOptions) -> None:
        self._source = source
        self._clock = clock
        self._options = options

    def discover(self, entities: Iterable[str]) -> IOResult[tuple[EntitySchema, ...], WmsError]:
        """Every entity's schema, in order; the first that cannot be described stops."""
        return each(entities, self._source.describe)

    def run(
        self,
        entities: Sequence[str],
        start: Mapping[str, Checkpoint],
        output: ExtractOutput,
    ) -> IOResult[TapReport, DomainError]:
        """Every entity in order, each from its ``start`` checkpoint (incremental mode); the
        first failure (the WMS, the output) stops the run."""
        streams = each(entities, lambda entity: self._entity(entity, start.get(entity), output))
        return streams.map(TapReport)

    def _window(self, checkpoint: Checkpoint | None) -> ReadWindow:
        if not self._options.incremental:
            return FullWindow()
        if checkpoint is None:
            return IncrementalWindow(since=self._options.start_date)
        return incremental_window(checkpoint, self._options.overlap)

    def _entity(
        self, entity: str, start: Checkpoint | None, output: ExtractOutput
    ) -> IOResult[StreamReport, DomainError]:
        described: IOResult[EntitySchema, DomainError] = self._source.describe(entity)
        return described.bind(
            lambda schema: widened(output.begin(schema)).bind(
                lambda _: self._pages(schema, start, output)
            )
        )

    def _pages(
        self, schema: EntitySchema, start: Checkpoint | None, output: ExtractOutput
    ) -> IOResult[StreamReport, DomainError]:
        entity = schema.entity
        stream = _Stream(
            RecordNormalizer(schema, self._options.normalize),
            start or Checkpoint(SyncMode.INCREMENTAL),
            StreamReport(entity),
        )
        done: IOResult[None, DomainError] = IOSuccess(None)
        for page in self._source.read(entity, self._window(start)):
            done = widened(page).bind(lambda got: self._page(got, stream, output))
            if not is_successful(done):
                break
        report = stream.report
        ended = done.bind(
            lambda _: widened(
                output.end(
                    entity, records=report.records, rejected=report.rejected, pages=report.pages
                )
            )
        )
        return ended.map(lambda _: report)

    def _page(
        self, page: Page, stream: _Stream, output: ExtractOutput
    ) -> IOResult[None, DomainError]:
        records: list[NormalizedRecord] = []
        rejected: list[SourceReject] = []
        newest: Position | None = None
        for raw in page.records:
            normalized = stream.normalizer.normalize(raw)
            if is_successful(normalized):
                record = normalized.unwrap()
                records.append(record)
                position = Position(record.mod_ts, record.id)
                newest = position if newest is None or position > newest else newest
            else:
                problem = normalized.failure()
                rejected.append(
                    SourceReject(page.entity, problem.context.get("id"), problem.reason, raw)
                )
        extracted = ExtractedPage(
            page.entity, page.number, records, rejected, self._clock.now(), page.source_changed
        )
        report = stream.report
        stream.report = replace(
            report,
            records=report.records + len(records),
            rejected=report.rejected + len(rejected),
            pages=report.pages + 1,
            retried_requests=report.retried_requests + page.retries,
            source_changed=report.source_changed or page.source_changed,
        )
        sent: IOResult[None, DomainError] = output.page(extracted)
        if not self._options.incremental or newest is None:
            return sent
        checkpoint = stream.checkpoint = stream.checkpoint.advanced_to(newest, None)
        stream.report = replace(stream.report, position=checkpoint.position)
        return sent.bind(lambda _: output.checkpoint(page.entity, checkpoint))


@dataclass
class _Stream:
    """One entity's extraction in progress."""

    normalizer: RecordNormalizer
    checkpoint: Checkpoint
    report: StreamReport
