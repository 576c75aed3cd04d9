"""A ``SyncObserver`` that counts a run's events into the process's metrics.

Counts move while a run is under way (one event per page and per batch, never per record), so
rates show throughput; when the run finishes, each entity's counters are topped up to the run
report's figures (requests retried to plan a run, say, have no page event), so that after a run
the counters have grown by exactly what its report says.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import Counter

from gruponos.adapters.metrics.registry import SyncMetrics, process_metrics
from gruponos.application.ports import SyncEvent

#: The report's per-entity counts, each feeding one counter (see :func:`_counter`).
_COUNTS = ("read", "written", "stale", "quarantined", "deleted", "retried_requests")


def _counter(metrics: SyncMetrics, count: str) -> Counter:
    return {
        "read": metrics.records_read,
        "written": metrics.records_written,
        "stale": metrics.records_unchanged,
        "quarantined": metrics.records_quarantined,
        "deleted": metrics.records_soft_deleted,
        "retried_requests": metrics.wms_retries,
    }[count]


@dataclass
class _Run:
    pipeline: str
    counted: dict[tuple[str, str], int] = field(default_factory=dict)  # (entity, count) -> n


class MetricsObserver:
    """Implements ``SyncObserver``: run events become metrics (thread-safe: batches are
    written in a writer thread).

    ``pipelines`` maps a sync mode (``full``, ``incremental``) to its pipeline name, as the
    settings name them (``sync.full_pipeline``, ``sync.incremental_pipeline``).

    >>> observer = MetricsObserver()  # the process's metrics, default pipeline names
    """

    def __init__(
        self, metrics: SyncMetrics | None = None, pipelines: Mapping[str, str] | None = None
    ) -> None:
        self._metrics = metrics or process_metrics()
        self._pipelines = dict(pipelines or {"full": "full", "incremental": "incremental"})
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()

    @property
    def metrics(self) -> SyncMetrics:
        return self._metrics

    def on_event(self, event: SyncEvent) -> None:
        handler = _HANDLERS.get(event.kind)
        if handler is not None:
            handler(self, event)

    # -- events ---------------------------------------------------------------------------------

    def _run_started(self, event: SyncEvent) -> None:
        mode = str(event.data.get("mode", ""))
        pipeline = self._pipelines.get(mode, mode)
        with self._lock:
            self._runs[event.run_id] = _Run(pipeline)
        self._metrics.runs_in_progress.labels(pipeline).inc()

    def _page_read(self, event: SyncEvent) -> None:
        self._count(event, "read", int(event.data.get("records", 0)))
        self._count(event, "retried_requests", int(event.data.get("retries", 0)))

    def _batch_written(self, event: SyncEvent) -> None:
        for count in ("written", "stale", "quarantined"):
            self._count(event, count, int(event.data.get(count, 0)))
        run = self._run(event.run_id)
        position = event.data.get("checkpoint") or {}
        stamp = _timestamp(position.get("mod_ts"))
        if run is not None and event.entity and stamp is not None:
            self._metrics.committed_up_to(run.pipeline, event.entity, stamp)

    def _run_finished(self, event: SyncEvent) -> None:
        with self._lock:
            run = self._runs.pop(event.run_id, None)
        pipeline = run.pipeline if run else self._pipeline_of(event.data)
        metrics = self._metrics
        for entity in event.data.get("entities", ()):
            self._settle_entity(pipeline, entity, run, event.data)
        metrics.runs.labels(pipeline, str(event.data.get("status"))).inc()
        started = _datetime(event.data.get("started_at"))
        finished = _datetime(event.data.get("finished_at"))
        if started is not None and finished is not None:
            seconds = (finished - started).total_seconds()
            metrics.run_duration.labels(pipeline).observe(seconds)
            metrics.last_run_duration.labels(pipeline).set(seconds)
        if run is not None:
            metrics.runs_in_progress.labels(pipeline).dec()

    def _settle_entity(
        self, pipeline: str, entity: Mapping[str, Any], run: _Run | None, report: Mapping[str, Any]
    ) -> None:
        name = str(entity["entity"])
        metrics = self._metrics
        for count in _COUNTS:
            counted = run.counted.get((name, count), 0) if run else 0
            missing = int(entity.get(count) or 0) - counted
            child = _counter(metrics, count).labels(pipeline, name)
            if missing > 0:
                child.inc(missing)
            else:  # make the series exist (a 0 is a fact: nothing was quarantined)
                child.inc(0)
        nulls = sum((entity.get("data_quality") or {}).get("required_but_null", {}).values())
        metrics.required_nulls.labels(pipeline, name).inc(nulls)
        status = str(entity.get("status"))
        metrics.entity_runs.labels(pipeline, name, status).inc()
        failures = metrics.consecutive_failures.labels(pipeline, name)
        if status == "failed":
            failures.inc()
        elif status in ("succeeded", "rejected"):  # it ran to its end: the failing streak ends
            failures.set(0)
        if status == "succeeded":
            finished = _datetime(report.get("finished_at"))
            if finished is not None:
                metrics.last_success.labels(pipeline, name).set(finished.timestamp())
        checkpoint = entity.get("checkpoint") or {}
        newest = _newest_committed(checkpoint)
        if newest is not None and not report.get("dry_run"):
            metrics.committed_up_to(pipeline, name, newest)

    # -- helpers --------------------------------------------------------------------------------

    def _count(self, event: SyncEvent, count: str, amount: int) -> None:
        if event.entity is None:
            return
        with self._lock:
            run = self._runs.get(event.run_id)
            if run is None:
                return
            key = (event.entity, count)
            run.counted[key] = run.counted.get(key, 0) + amount
            pipeline = run.pipeline
        if amount:
            _counter(self._metrics, count).labels(pipeline, event.entity).inc(amount)

    def _run(self, run_id: str) -> _Run | None:
        with self._lock:
            return self._runs.get(run_id)

    def _pipeline_of(self, report: Mapping[str, Any]) -> str:
        mode = str(report.get("mode", ""))
        return self._pipelines.get(mode, mode)


_HANDLERS = {
    "run_started": MetricsObserver._run_started,
    "page_read": MetricsObserver._page_read,
    "batch_written": MetricsObserver._batch_written,
    "run_finished": MetricsObserver._run_finished,
}


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _timestamp(value: Any) -> float | None:
    moment = _datetime(value)
    return moment.timestamp() if moment is not None else None


def _newest_committed(checkpoint: Mapping[str, Any]) -> float | None:
    """An incremental checkpoint's position; a complete full pass's high-water mark (every
    record up to it is loaded)."""
    stamp = _timestamp(checkpoint.get("mod_ts"))
    if stamp is None and checkpoint.get("complete"):
        stamp = _timestamp((checkpoint.get("high_water") or {}).get("mod_ts"))
    return stamp
