"""The distributed run executor: runs go to Celery workers (``gruponos worker``) over a broker.

:meth:`CeleryExecutor.submit` sends one ``gruponos.coordinate`` message; a worker plans the run in
the sink and fans its tasks out. Nothing about a run is held in this process: :meth:`cancel` goes
through the run plan (:meth:`DistributedRuns.cancel`), and :meth:`active` is read from the run
history (queued and running runs), so any process of the deployment sees the same runs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from returns.io import IOSuccess
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.executors.celery_app import COORDINATE, request_to_json
from gruponos.application.ports import RunHistory, RunQuery, RunRequest
from gruponos.domain.runs import RunStatus

if TYPE_CHECKING:
    from celery import Celery

    from gruponos.application.scaleout import DistributedRuns

_log = logging.getLogger("gruponos.executor")


def _broker_errors() -> tuple[type[Exception], ...]:
    from kombu.exceptions import OperationalError  # noqa: PLC0415 - with the executor

    return (OperationalError, OSError)


class CeleryExecutor:
    """Implements ``RunExecutor`` by sending runs to Celery workers.

    >>> # executor = CeleryExecutor(celery_app(url, "gruponos", 7200.0), runs, history)
    """

    def __init__(self, app: Celery, runs: DistributedRuns, history: RunHistory) -> None:
        self._app = app
        self._runs = runs
        self._history = history
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
        return isinstance(self._runs.cancel(run_id, reason), IOSuccess)

    def active(self) -> tuple[RunRequest, ...]:
        """Queued and running runs of the history (whoever executes them)."""
        found: list[RunRequest] = []
        for status in (RunStatus.QUEUED, RunStatus.RUNNING):
            listed = self._history.find_runs(RunQuery(limit=1000, status=status))
            if not isinstance(listed, IOSuccess):
                continue
            for report in unsafe_perform_io(listed.unwrap()):
                entities = tuple(e.entity for e in report.entities)
                found.append(
                    RunRequest(
                        report.run_id, report.mode, entities, report.dry_run, report.triggered_by
                    )
                )
        return tuple(found)

    def close(self) -> None:
        """Stop sending runs. Runs already sent belong to the workers: they keep running (a
        worker's SIGTERM is what interrupts them)."""
        self._closed = True
