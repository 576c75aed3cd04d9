"""Runs that died without a word (kill -9, a lost machine, an OOM kill) are found and said so.

A run holds a lock of its own, keyed by its run id, in the state store for as long as it lives
(:func:`hold_run`); the state store's locks go with their process (a file lock, a database
session). A later run lists the runs recorded as ``running`` and tries each one's lock: taking it
proves the run is gone, and the run is recorded ``abandoned`` with the time it was found and by
whom (:func:`mark_abandoned`). A run whose lock is held is alive and left alone.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import datetime

from returns.io import IOResult
from returns.pipeline import is_successful

from gruponos.application.errors import SinkError, StateError
from gruponos.application.ports import Lease, RunHistory, StateStore
from gruponos.domain.checkpoints import StateKey
from gruponos.domain.runs import RunStatus, SyncReport

#: The pipeline part of a run's own lock key (never a pipeline name: those are validated
#: identifiers without a hyphen).
RUN_LOCK = "gnos-run"


def run_lock_key(run_id: str) -> StateKey:
    return StateKey(RUN_LOCK, run_id)


def hold_run(state: StateStore, run_id: str) -> IOResult[Lease, StateError]:
    """Take the run's own lock, held until the run ends (or its process dies)."""
    return state.lock(run_lock_key(run_id), run_id)


def mark_abandoned(
    runs: RunHistory,
    state: StateStore,
    finder: str,
    now: datetime,
    alive: Collection[str] = (),
) -> IOResult[tuple[str, ...], SinkError]:
    """Record every run found dead as ``abandoned``; the ids of those runs. Runs in ``alive``
    are left alone: a distributed run holds no process lock, its plan says it is open."""

    def gone(report: SyncReport) -> bool:
        if report.run_id == finder or report.run_id in alive:
            return False
        taken = state.lock(run_lock_key(report.run_id), finder)
        return is_successful(taken.map(lambda lease: lease.release()))

    def settle(found: tuple[SyncReport, ...]) -> tuple[str, ...]:
        dead = [report for report in found if gone(report)]
        for report in dead:
            runs.record(abandoned(report, finder, now))  # diagnostics: best effort
        return tuple(report.run_id for report in dead)

    return runs.running().map(settle)


def abandoned(report: SyncReport, finder: str, now: datetime) -> SyncReport:
    """``report`` as found dead by run ``finder`` at ``now``."""
    message = f"abandoned: its process was gone (found by run {finder} at {now.isoformat()})"
    entities = tuple(
        replace(e, status=RunStatus.ABANDONED, error=message)
        if e.status is RunStatus.RUNNING
        else e
        for e in report.entities
    )
    return replace(
        report,
        status=RunStatus.ABANDONED,
        finished_at=now,
        entities=entities,
        error=message,
    )
