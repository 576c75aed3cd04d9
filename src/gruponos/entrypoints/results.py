"""Results unwrapped for the programs: the one place a run's report leaves its ``IOResult``."""

from __future__ import annotations

from returns.io import IOResult
from returns.unsafe import unsafe_perform_io

from gruponos.api import reported
from gruponos.application.errors import SyncError
from gruponos.domain.runs import SyncReport


def report_of(result: IOResult[SyncReport, SyncError]) -> SyncReport | None:
    """The run's report, from a success or from a failed run's error (None: nothing ran)."""
    found: IOResult[SyncReport | None, SyncError] = reported(result)
    return unsafe_perform_io(found.value_or(None))
