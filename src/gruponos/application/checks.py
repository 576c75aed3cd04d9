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
from functools import partial
from typing import Any, Protocol

from returns.io import IO, IOResult, IOSuccess

from gruponos.application.alert_rules import Verdict, judge_findings, newest_committed
from gruponos.application.errors import PortError, SinkError, WmsError
from gruponos.application.ports import Answer, Clock, StateStore
from gruponos.domain.checkpoints import Checkpoint, Position, StateKey
from gruponos.domain.quality import Finding

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

    def plus(
        self,
        findings: tuple[Finding, ...],
        counts: dict[str, tuple[int, int]] | None = None,
        lags: dict[str, float | None] | None = None,
    ) -> CheckReport:
        return CheckReport(
            self.findings + findings,
            {**self.counts, **(counts or {})},
            {**self.lag_seconds, **(lags or {})},
        )

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
        now = self._clock.now()
        report: IOResult[CheckReport, PortError] = IOSuccess(CheckReport((), {}, {}))
        for entity in entities:
            report = report.bind(partial(self._with_entity, entity, now))
        for child, relation, parent in self._references:
            if child in entities:
                report = report.bind(partial(self._with_orphans, child, relation, parent))
        return report

    def _with_entity(
        self, entity: str, now: datetime, so_far: CheckReport
    ) -> IOResult[CheckReport, PortError]:
        source: IOResult[int, PortError] = self._source.count(entity)
        return source.bind(
            lambda s: self._sink.live_count(entity).bind(
                lambda t: self._sink.future_rows(entity, now).bind(
                    lambda f: IOResult.from_io(self.lag(entity)).map(
                        lambda lag: so_far.plus(
                            (
                                Finding(
                                    "completeness",
                                    entity,
                                    abs(s - t),
                                    f"{entity}: the WMS has {s} records, the sink {t} live "
                                    f"rows ({s - t:+d})",
                                ),
                                Finding(
                                    "future_mod_ts",
                                    entity,
                                    f,
                                    f"{f} {entity} rows have a mod_ts in the future",
                                ),
                            ),
                            counts={entity: (s, t)},
                            lags={entity: lag},
                        )
                    )
                )
            )
        )

    def _with_orphans(
        self, child: str, relation: str, parent: str, so_far: CheckReport
    ) -> IOResult[CheckReport, PortError]:
        orphans: IOResult[int, PortError] = self._sink.orphans(child, relation, parent)
        return orphans.map(
            lambda n: so_far.plus(
                (
                    Finding(
                        "orphans",
                        child,
                        n,
                        f"{n} {child} rows whose {parent} ({relation}) is missing",
                    ),
                )
            )
        )

    def lag(self, entity: str) -> IO[float | None]:
        """Source high-water mark minus the incremental pipeline's committed one, in seconds
        (``None`` when either is unknown: a measure, never a failure)."""
        latest: IOResult[Answer[Position | None], PortError] = self._source.latest(entity)
        stored: IOResult[Checkpoint | None, PortError] = self._state.load(
            StateKey(self._pipeline, entity)
        )
        return latest.bind(lambda newest: stored.map(partial(_lag, newest.value))).value_or(None)


def _lag(newest: Position | None, checkpoint: Checkpoint | None) -> float | None:
    committed = newest_committed(checkpoint) if checkpoint is not None else None
    if newest is None or committed is None:
        return None
    return max(0.0, (newest.mod_ts - committed).total_seconds())
