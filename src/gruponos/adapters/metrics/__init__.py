"""Prometheus metrics of gruponos (``prometheus_client``), one registry per process.

- :func:`exposition`: the text and content type to serve on ``/metrics``;
- :class:`MetricsObserver`: a ``SyncObserver`` counting run events into the process's metrics;
- :class:`TimedCommit` and :class:`CountingTransport`: batch-commit latency, WMS requests;
- :func:`push_metrics` and :func:`write_textfile`: a one-shot run's final metrics.

Example (an HTTP service)::

    body, content_type = exposition()
"""

from __future__ import annotations

from gruponos.adapters.metrics.commit import TimedCommit
from gruponos.adapters.metrics.export import push_metrics, write_textfile
from gruponos.adapters.metrics.http import CountingTransport
from gruponos.adapters.metrics.observer import MetricsObserver
from gruponos.adapters.metrics.registry import (
    METRIC_LABELS,
    SyncMetrics,
    exposition,
    process_metrics,
)

__all__ = [
    "METRIC_LABELS",
    "CountingTransport",
    "MetricsObserver",
    "SyncMetrics",
    "TimedCommit",
    "exposition",
    "process_metrics",
    "push_metrics",
    "write_textfile",
]
