"""The metric families of a gruponos process, on one registry per process.

Names are prefixed ``gruponos_``; the labels are ``pipeline`` and ``entity`` (plus ``status``
and ``status_class``, fixed enumerations), never a run id or anything else unbounded. The
reference table in docs/monitoring.md is checked against :data:`METRIC_LABELS` by a test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

PE = ("pipeline", "entity")

#: Run durations: seconds to hours (a first full load of millions of rows takes hours).
RUN_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800)
#: One batch's commit: milliseconds to tens of seconds.
COMMIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class _Freshness(Collector):
    """``gruponos_freshness_seconds``: now minus the newest committed ``mod_ts``, computed when
    scraped (so it grows between runs, as staleness does)."""

    def __init__(self) -> None:
        self._newest: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def set_newest(self, pipeline: str, entity: str, timestamp: float) -> float:
        """Keep the newest of ``timestamp`` and the one known; return it."""
        with self._lock:
            key = (pipeline, entity)
            newest = max(timestamp, self._newest.get(key, timestamp))
            self._newest[key] = newest
            return newest

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("gruponos_freshness_seconds", _FRESHNESS_HELP, labels=list(PE))

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("gruponos_freshness_seconds", _FRESHNESS_HELP, labels=list(PE))
        now = time.time()
        with self._lock:
            for (pipeline, entity), newest in sorted(self._newest.items()):
                family.add_metric([pipeline, entity], max(0.0, now - newest))
        yield family


_FRESHNESS_HELP = "Now minus the newest committed mod_ts of the entity, in seconds."


class SyncMetrics:
    """Every metric gruponos exports, registered on ``registry``.

    >>> metrics = SyncMetrics(CollectorRegistry())
    >>> metrics.records_read.labels("full", "allocation").inc(10)
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

        def counter(name: str, doc: str, labels: tuple[str, ...] = PE) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = PE) -> Gauge:
            return Gauge(name, doc, labels, registry=registry)

        self.records_read = counter("gruponos_records_read_total", "Records read from the WMS.")
        self.records_written = counter(
            "gruponos_records_written_total", "Records inserted or updated in the sink."
        )
        self.records_unchanged = counter(
            "gruponos_records_unchanged_total",
            "Records read but not written: the sink already held that version or a newer one.",
        )
        self.records_quarantined = counter(
            "gruponos_records_quarantined_total", "Records refused by validation (quarantined)."
        )
        self.records_soft_deleted = counter(
            "gruponos_records_soft_deleted_total", "Rows marked deleted after a full pass."
        )
        self.required_nulls = counter(
            "gruponos_records_required_null_total",
            "Values read null in fields the WMS describes as required (data quality).",
        )
        self.wms_requests = counter(
            "gruponos_wms_requests_total",
            "HTTP requests to the WMS by status class (2xx, 3xx, 4xx, 5xx, error).",
            ("entity", "status_class"),
        )
        self.wms_retries = counter(
            "gruponos_wms_retries_total", "WMS requests retried (429, 5xx, timeouts ...)."
        )
        self.runs = counter(
            "gruponos_runs_total", "Finished runs by final status.", ("pipeline", "status")
        )
        self.entity_runs = counter(
            "gruponos_entity_runs_total",
            "Finished entity syncs by final status.",
            ("pipeline", "entity", "status"),
        )
        self.runs_in_progress = gauge(
            "gruponos_runs_in_progress", "Runs under way in this process.", ("pipeline",)
        )
        self.run_duration = Histogram(
            "gruponos_run_duration_seconds",
            "Wall time of a run, start to finish.",
            ("pipeline",),
            buckets=RUN_BUCKETS,
            registry=registry,
        )
        self.commit_latency = Histogram(
            "gruponos_batch_commit_seconds",
            "Time to commit one batch with its checkpoint.",
            PE,
            buckets=COMMIT_BUCKETS,
            registry=registry,
        )
        self.consecutive_failures = gauge(
            "gruponos_consecutive_failures",
            "Runs of the entity that failed in a row (0 after a success): > 0 means its last "
            "run failed.",
        )
        self.last_run_duration = gauge(
            "gruponos_last_run_duration_seconds",
            "Wall time of the pipeline's last finished run.",
            ("pipeline",),
        )
        self.last_success = gauge(
            "gruponos_last_success_timestamp_seconds",
            "When the entity last synced successfully (Unix time).",
        )
        self.newest_mod_ts = gauge(
            "gruponos_newest_mod_ts_timestamp_seconds",
            "The newest committed mod_ts of the entity (Unix time).",
        )
        self.lag = gauge(
            "gruponos_lag_seconds",
            "Source high-water mark minus sink high-water mark (mod_ts), sampled after "
            "incremental runs and by checks.",
        )
        self.check_count_difference = gauge(
            "gruponos_check_count_difference",
            "Completeness: WMS record count minus live sink rows (0 when complete).",
            ("entity",),
        )
        self.check_orphans = gauge(
            "gruponos_check_orphan_rows",
            "Consistency: rows whose parent row is missing (order_dtl without order_hdr, "
            "allocation without order_dtl).",
            ("entity",),
        )
        self.check_future = gauge(
            "gruponos_check_future_mod_ts_rows",
            "Consistency: rows whose mod_ts is in the future.",
            ("entity",),
        )
        self._freshness = _Freshness()
        registry.register(self._freshness)

    def committed_up_to(self, pipeline: str, entity: str, timestamp: float) -> None:
        """The entity's data is committed up to ``mod_ts`` = ``timestamp`` (Unix time)."""
        newest = self._freshness.set_newest(pipeline, entity, timestamp)
        self.newest_mod_ts.labels(pipeline, entity).set(newest)


#: Every family's labels, for the documentation check (docs/monitoring.md).
METRIC_LABELS: Final[dict[str, tuple[str, ...]]] = {
    "gruponos_records_read_total": PE,
    "gruponos_records_written_total": PE,
    "gruponos_records_unchanged_total": PE,
    "gruponos_records_quarantined_total": PE,
    "gruponos_records_soft_deleted_total": PE,
    "gruponos_records_required_null_total": PE,
    "gruponos_wms_requests_total": ("entity", "status_class"),
    "gruponos_wms_retries_total": PE,
    "gruponos_runs_total": ("pipeline", "status"),
    "gruponos_entity_runs_total": ("pipeline", "entity", "status"),
    "gruponos_runs_in_progress": ("pipeline",),
    "gruponos_run_duration_seconds": ("pipeline",),
    "gruponos_batch_commit_seconds": PE,
    "gruponos_consecutive_failures": PE,
    "gruponos_last_run_duration_seconds": ("pipeline",),
    "gruponos_last_success_timestamp_seconds": PE,
    "gruponos_newest_mod_ts_timestamp_seconds": PE,
    "gruponos_freshness_seconds": PE,
    "gruponos_lag_seconds": PE,
    "gruponos_check_count_difference": ("entity",),
    "gruponos_check_orphan_rows": ("entity",),
    "gruponos_check_future_mod_ts_rows": ("entity",),
}

_process: SyncMetrics | None = None
_process_lock = threading.Lock()


def process_metrics() -> SyncMetrics:
    """The process's metrics (one registry per process), created on first use."""
    global _process  # noqa: PLW0603 - the one registry of the process
    with _process_lock:
        if _process is None:
            _process = SyncMetrics(CollectorRegistry())
        return _process


def exposition() -> tuple[bytes, str]:
    """The Prometheus text of the process's registry and its content type, for ``/metrics``."""
    return generate_latest(process_metrics().registry), CONTENT_TYPE_LATEST
