"""The distributed run executor: runs go to Celery workers (``gruponos worker``) over a broker.

:meth:`CeleryExecutor.submit` sends one ``gruponos.coordinate`` message; a worker plans the run in
the sink and fans its tasks out. Nothing about a run is held in this process: :meth:`cancel` goes
through the run plan (:meth:`DistributedRuns.cancel`), and :meth:`active` is read from the run
history (open plans, and runs queued a moment ago), so any process of the deployment sees the same runs.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from returns.pipeline import is_successful

from gruponos.adapters.executors.celery_app import COORDINATE, request_to_json
from gruponos.application.ports import Clock, RunHistory, RunQuery, RunRequest
from gruponos.domain.runs import RunStatus, SyncReport

if TYPE_CHECKING:
    from celery import Celery

    from gruponos.application.scaleout import DistributedRuns

_log = logging.getLogger("gruponos.executor")


def _broker_errors() -> tuple[type[Exception], ...]:
    from kombu.exceptions import OperationalError  # noqa: PLC0415 - with the executor

    return (OperationalError, OSError)


class CeleryExecutor:
    """Implements ``RunExecutor`` by sending runs to Celery workers.

    >>> # executor = CeleryExecutor(celery_app(url, "gruponos", 7200.0), runs, history, clock)
    """

    def __init__(
        self,
        app: Celery,
        runs: DistributedRuns,
        history: RunHistory,
        clock: Clock,
        queued_for: timedelta = timedelta(minutes=10),
    ) -> None:
        self._app = app
        self._runs = runs
        self._history = history
        self._clock = clock
        self._queued_for = queued_for
        self._closed = False

    def submit(self, request: RunRequest) -> bool:
        """Send the run's coordinator; ``False`` when closed or the broker cannot be reached
        (after Celery's publish retries)."""
        if self._closed:
            return False
        try:
            self._app.send_task(COORDINATE, args=(request_to_json(request),))
        except _broker_errors() as exc:
            _log.warning("run %s not sent: broker unreachable (%s)", request.run_id, type(exc))
            return False
        return True

    def cancel(self, run_id: str, reason: str) -> bool:
        """Cancel through the run plan: its tasks stop at their next batch and the run ends
        ``cancelled``; ``False`` when the sink refused (no such distributed run)."""
        return is_successful(self._runs.cancel(run_id, reason))

    def active(self) -> tuple[RunRequest, ...]:
        """The distributed runs not closed yet (their plans are open), and the runs recorded
        ``queued`` less than ``queued_for`` ago (sent, not planned yet). A ``running`` row of a
        process that died is not one of them: it would block its pipeline for ever. What the
        sink does not answer counts as nothing (the plan refuses an overlap anyway)."""
        found: dict[str, RunRequest] = {}

        def add(report: SyncReport | None) -> None:
            if report is not None:
                found.setdefault(report.run_id, _request(report))

        def add_open(run_ids: tuple[str, ...]) -> None:
            for run_id in run_ids:
                self._history.get_run(run_id).map(add)

        oldest = self._clock.now() - self._queued_for

        def add_queued(reports: tuple[SyncReport, ...]) -> None:
            for report in reports:
                if report.started_at >= oldest:
                    add(report)

        self._runs.open_runs().map(add_open)
        self._history.find_runs(RunQuery(limit=1000, status=RunStatus.QUEUED)).map(add_queued)
        return tuple(found.values())

    def close(self) -> None:
        """Stop sending runs. Runs already sent belong to the workers: they keep running (a
        worker's SIGTERM is what interrupts them)."""
        self._closed = True


def _request(report: SyncReport) -> RunRequest:
    entities = tuple(e.entity for e in report.entities)
    return RunRequest(report.run_id, report.mode, entities, report.dry_run, report.triggered_by)
