"""Failed runs in the log, for log-based alerting: one ``error`` line per failed entity with the
run id, pipeline, entity and error code (the run's own lines say what happened; this one is made
to be matched by a log alert)."""

from __future__ import annotations

import re
from collections.abc import Mapping

import structlog

from gruponos.application.ports import SyncEvent

_CODE = re.compile(r"^\[([A-Za-z0-9_.\-]+)\]")


class FailureLog:
    """Implements ``SyncObserver``: on ``run_finished``, ``sync.failed`` at ``error`` for each
    entity that failed."""

    def __init__(self, pipelines: Mapping[str, str] | None = None) -> None:
        self._pipelines = dict(pipelines or {"full": "full", "incremental": "incremental"})
        self._log = structlog.get_logger("gruponos.alerts")

    def on_event(self, event: SyncEvent) -> None:
        if event.kind != "run_finished":
            return
        mode = str(event.data.get("mode", ""))
        pipeline = self._pipelines.get(mode, mode)
        for entity in event.data.get("entities", ()):
            if entity.get("status") != "failed":
                continue
            error = str(entity.get("error") or "")
            match = _CODE.match(error)
            self._log.error(
                "sync.failed",
                run_id=event.run_id,
                pipeline=pipeline,
                entity=entity.get("entity"),
                code=match.group(1) if match else "sync.failed",
                error=error,
            )
