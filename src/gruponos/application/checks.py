"""Data-quality checks over the ports: completeness and consistency of what is loaded.

- ``completeness``, per entity: the WMS's record count (paged mode's ``result_count`` of a
  one-row request: one request per entity) against the sink's live rows (one ``COUNT(*)``).
- ``orphans``: child rows whose parent row is missing (``order_dtl`` without its ``order_hdr``,
  ``allocation`` without its ``order_dtl``): one anti-join per pair over the sink.
- ``future_mod_ts``: rows whose ``mod_ts`` is after now (one ``COUNT(*)`` per entity).
- ``lag`` (a measure, not a finding): the source's newest ``mod_ts`` (one request) minus the
  newest committed one of the incremental pipeline.

A check that cannot run (the WMS or the database failing) is the result's failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from returns.io import IOFailure, IOResult, IOSuccess
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.application.alert_rules import Verdict, judge_findings, newest_committed
from gruponos.application.errors import PortError, SinkError, WmsError
from gruponos.application.ports import Answer, Clock, StateStore
from gruponos.domain.checkpoints import Position, StateKey

#: (child entity, relation field, parent entity): a child row must have its parent row.
REFERENCES: tuple[tuple[str, str, str], ...] = (
    ("order_dtl", "order_id", "order_hdr"),
    ("allocation", "order_dtl_id", "order_dtl"),
)


class SourceCounts(Protocol):
    """What the checks ask the WMS (``HttpxWmsSource`` has both)."""

    def count(self, entity: str) -> IOResult[int, WmsError]: ...

    def latest(self, entity: str) -> IOResult[Answer[Position | None], WmsError]: ...


class SinkQuality(Protocol):
    """Set-based questions over the sink's tables (absent tables count as empty)."""

    def live_count(self, entity: str) -> IOResult[int, SinkError]: ...

    def orphans(self, child: str, relation: str, parent: str) -> IOResult[int, SinkError]: ...

    def future_rows(self, entity: str, now: datetime) -> IOResult[int, SinkError]: ...


@dataclass(frozen=True, slots=True)
class Finding:
    """What one check found on one entity (``count`` 0: clean)."""

    check: str
    entity: str
    count: int
    summary: str

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "entity": self.entity,
            "count": self.count,
            "summary": self.summary,
        }


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Every check run, clean or not; ``source``/``sink`` counts and lags per entity."""

    findings: tuple[Finding, ...]
    counts: dict[str, tuple[int, int]]  # entity -> (source, sink)
    lag_seconds: dict[str, float | None]

    @property
    def problems(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.count)

    @property
    def ok(self) -> bool:
        return not self.problems

    def verdict(self) -> Verdict:
        """The ``data_quality`` alert conditions these results hold or clear."""
        return judge_findings(((f.check, f.entity, f.count, f.summary) for f in self.findings), ())

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "findings": [f.to_json() for f in self.findings],
            "counts": {e: {"source": s, "sink": t} for e, (s, t) in sorted(self.counts.items())},
            "lag_seconds": dict(sorted(self.lag_seconds.items())),
        }


class CheckEntities:
    """Runs the checks over ``entities``.

    >>> # report = CheckEntities(wms, quality, state, clock, "incremental").run(["order_dtl"])
    """

    def __init__(
        self,
        source: SourceCounts,
        sink: SinkQuality,
        state: StateStore,
        clock: Clock,
        incremental_pipeline: str = "incremental",
        references: Sequence[tuple[str, str, str]] = REFERENCES,
    ) -> None:
        self._source = source
        self._sink = sink
        self._state = state
        self._clock = clock
        self._pipeline = incremental_pipeline
        self._references = tuple(references)

    def run(self, entities: Sequence[str]) -> IOResult[CheckReport, PortError]:
        findings: list[Finding] = []
        counts: dict[str, tuple[int, int]] = {}
        lags: dict[str, float | None] = {}
        now = self._clock.now()
        for entity in entities:
            measured = self._entity(entity, now)
            if not is_successful(measured):
                return IOFailure(unsafe_perform_io(measured.failure()))
            found, pair, lag = unsafe_perform_io(measured.unwrap())
            findings += found
            counts[entity] = pair
            lags[entity] = lag
        for child, relation, parent in self._references:
            if child not in entities:
                continue
            orphans = self._sink.orphans(child, relation, parent)
            if not is_successful(orphans):
                return IOFailure(unsafe_perform_io(orphans.failure()))
            n = unsafe_perform_io(orphans.unwrap())
            findings.append(
                Finding(
                    "orphans", child, n, f"{n} {child} rows whose {parent} ({relation}) is missing"
                )
            )
        return IOSuccess(CheckReport(tuple(findings), counts, lags))

    def _entity(
        self, entity: str, now: datetime
    ) -> IOResult[tuple[list[Finding], tuple[int, int], float | None], PortError]:
        source = self._source.count(entity)
        if not is_successful(source):
            return IOFailure(unsafe_perform_io(source.failure()))
        sink = self._sink.live_count(entity)
        if not is_successful(sink):
            return IOFailure(unsafe_perform_io(sink.failure()))
        future = self._sink.future_rows(entity, now)
        if not is_successful(future):
            return IOFailure(unsafe_perform_io(future.failure()))
        s, t, f = (unsafe_perform_io(r.unwrap()) for r in (source, sink, future))
        findings = [
            Finding(
                "completeness",
                entity,
                abs(s - t),
                f"{entity}: the WMS has {s} records, the sink {t} live rows ({s - t:+d})",
            ),
            Finding("future_mod_ts", entity, f, f"{f} {entity} rows have a mod_ts in the future"),
        ]
        return IOSuccess((findings, (s, t), self.lag(entity)))

    def lag(self, entity: str) -> float | None:
        """Source high-water mark minus the incremental pipeline's committed one, in seconds
        (``None`` when either is unknown: a measure, never a failure)."""
        latest = self._source.latest(entity)
        stored = self._state.load(StateKey(self._pipeline, entity))
        if not (is_successful(latest) and is_successful(stored)):
            return None
        newest = unsafe_perform_io(latest.unwrap()).value
        checkpoint = unsafe_perform_io(stored.unwrap())
        committed = newest_committed(checkpoint) if checkpoint is not None else None
        if newest is None or committed is None:
            return None
        return max(0.0, (newest.mod_ts - committed).total_seconds())
