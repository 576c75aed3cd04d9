"""Results unwrapped for the programs: the one place a run's report leaves its ``IOResult``."""

from __future__ import annotations

from returns.io import IOResult
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.api import reported
from gruponos.application.errors import SyncError
from gruponos.domain.quarantine import ReplayReport
from gruponos.domain.runs import SyncReport


def report_of(result: IOResult[SyncReport, SyncError]) -> SyncReport | None:
    """The run's report, from a success or from a failed run's error (None: nothing ran)."""
    found: IOResult[SyncReport | None, SyncError] = reported(result)
    return unsafe_perform_io(found.value_or(None))


def replay_reports(
    result: IOResult[tuple[ReplayReport, ...], SyncError],
) -> tuple[tuple[ReplayReport, ...], SyncError | None]:
    """A quarantine replay's reports per entity, from either track (a failed entity's report
    rides in the error), and the error when no entity was replayed at all."""
    if is_successful(result):
        return unsafe_perform_io(result.unwrap()), None
    error = unsafe_perform_io(result.failure())
    reports = tuple(error.context.get("reports", ()))
    return reports, None if reports else error
