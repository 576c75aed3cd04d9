"""Batch-commit latency: a ``BatchCommit`` that times the one it wraps."""

from __future__ import annotations

import time

from returns.io import IOResult

from gruponos.adapters.metrics.registry import SyncMetrics
from gruponos.application.errors import PortError
from gruponos.application.ports import BatchCommit
from gruponos.domain.batches import Batch, WriteOutcome
from gruponos.domain.checkpoints import Checkpoint, StateKey


class TimedCommit:
    """Implements ``BatchCommit``: commits through ``inner`` and observes how long it took in
    ``gruponos_batch_commit_seconds{pipeline, entity}`` (failed commits too)."""

    def __init__(self, inner: BatchCommit, metrics: SyncMetrics) -> None:
        self._inner = inner
        self._histogram = metrics.commit_latency

    def commit(
        self, batch: Batch, key: StateKey, checkpoint: Checkpoint
    ) -> IOResult[WriteOutcome, PortError]:
        started = time.perf_counter()
        try:
            return self._inner.commit(batch, key, checkpoint)
        finally:
            elapsed = time.perf_counter() - started
            self._histogram.labels(key.pipeline, key.entity).observe(elapsed)
