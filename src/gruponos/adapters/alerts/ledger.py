"""The active alert conditions in a JSON file, so one-shot runs dedupe across processes."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from returns.io import IOFailure, IOResult, IOSuccess

from gruponos.adapters.urls import redact
from gruponos.application.alert_rules import Condition
from gruponos.application.alerting import AlertError


class JsonFileLedger:
    """Implements ``AlertLedger`` over ``path`` in an existing folder (written atomically: a
    temporary file renamed).
    A missing file is no active alert; an unreadable one is an error, not a silent reset."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def active(self) -> IOResult[dict[str, Condition], AlertError]:
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return IOSuccess({})
        except OSError as exc:
            return IOFailure(self._error(exc.strerror or str(exc)))
        try:
            items = json.loads(text)["active"]
            conditions = [Condition(**item) for item in items]
        except (ValueError, KeyError, TypeError):
            return IOFailure(self._error("not an alert state file"))
        return IOSuccess({c.key: c for c in conditions})

    def save(self, active: Mapping[str, Condition]) -> IOResult[None, AlertError]:
        items = [
            {
                "rule": c.rule,
                "pipeline": c.pipeline,
                "entity": c.entity,
                "summary": c.summary,
                "severity": c.severity,
            }
            for _key, c in sorted(active.items())
        ]
        try:
            handle, temporary = tempfile.mkstemp(dir=self._path.parent, prefix=".alerts.")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump({"active": items}, out, indent=1)
            Path(temporary).replace(self._path)
        except OSError as exc:
            return IOFailure(self._error(exc.strerror or str(exc)))
        return IOSuccess(None)

    def _error(self, detail: str) -> AlertError:
        return AlertError("alerts.state", redact(f"alert state {self._path}: {detail}"))
