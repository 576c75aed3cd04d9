"""The three Celery tasks of a distributed run, and what a worker process keeps beside them.

An entrypoint (the top of ``gruponos worker``): the tasks are where a result ends, turned into
what Celery understands (return, retry, send again), as the CLI turns one into an exit code.

Each task is small and idempotent; the durable truth is the run plan in the sink:

- ``gruponos.coordinate``: :meth:`DistributedRuns.plan` (idempotent: a coordinator delivered
  twice finds the plan made) then one ``gruponos.task`` message per task of the plan;
- ``gruponos.task``: :meth:`DistributedRuns.execute` under this thread's lease, then
  :meth:`DistributedRuns.finalise` (idempotent, ``None`` until every task is done: the last task
  to finish finalises). A task stopped by a warm shutdown commits its batch in flight and sends
  itself again; a duplicate delivery finds its task done or leased and does nothing;
- ``gruponos.finalise``: :meth:`DistributedRuns.finalise` alone.

A port failure (the sink or the WMS unreachable) is retried by Celery with a growing delay; the
lease expires meanwhile and the :class:`Reaper` of any worker sends the task again too.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from returns.io import IOFailure, IOSuccess
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.executors.celery_app import COORDINATE, FINALISE, TASK, request_from_json
from gruponos.application.lifecycle import StopSignal
from gruponos.application.runs import not_started
from gruponos.domain.runs import RunStatus
from gruponos.domain.scaleout import Task

if TYPE_CHECKING:
    from celery import Celery

    from gruponos.application.ports import Clock, RunHistory, RunRequest
    from gruponos.application.scaleout import DistributedRuns

_log = logging.getLogger("gruponos.worker")

#: Planning refusals that no retry changes (another run open on an entity, a dry run).
_FINAL_PLAN_ERRORS = frozenset({"state.locked", "plan.dry_run"})

#: Retries of a task whose port failed (the delay grows to ``_MAX_DELAY`` seconds).
_MAX_RETRIES = 40
_MAX_DELAY = 30.0


@dataclass
class InFlight:
    """The stop signals of the tasks this process is executing: a warm shutdown asks them all.

    Safe to call from a signal handler (:meth:`StopSignal.request` is re-entrant)."""

    _stops: set[StopSignal] = field(default_factory=set)
    _mutex: threading.RLock = field(default_factory=threading.RLock)
    _stopping: str | None = None

    @contextmanager
    def hold(self) -> Iterator[StopSignal]:
        stop = StopSignal()
        with self._mutex:
            if self._stopping is not None:
                stop.request(RunStatus.INTERRUPTED, self._stopping)
            self._stops.add(stop)
        try:
            yield stop
        finally:
            with self._mutex:
                self._stops.discard(stop)

    def stop_all(self, reason: str) -> None:
        with self._mutex:
            self._stopping = reason
            stops = list(self._stops)
        for stop in stops:
            stop.request(RunStatus.INTERRUPTED, reason)

    def __len__(self) -> int:
        with self._mutex:
            return len(self._stops)


def process_owner() -> str:
    """This process's name in a lease: host and pid (a thread adds its own name)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class WorkerRuntime:
    """The use cases a task thread drives: wired once per thread of the worker's pool (each
    thread its own database connection, so windows commit side by side)."""

    runs: DistributedRuns
    history: RunHistory
    clock: Clock


def thread_owner() -> str:
    """The lease owner of the calling thread: host, pid and thread."""
    return f"{process_owner()}:{threading.current_thread().name}"


class Runtimes(Protocol):
    """The calling thread's runtime, wired on first use; :meth:`discard` drops it after a port
    failure, so that the next attempt connects afresh (a database that restarted closed the old
    connection for good)."""

    def __call__(self) -> WorkerRuntime: ...

    def discard(self) -> None: ...


def _delay(retries: int) -> float:
    return float(min(_MAX_DELAY, 2 ** min(retries, 5)))


def send_task(app: Celery, task: Task) -> None:
    """One ``gruponos.task`` message for ``task`` (what the coordinator and the reaper send)."""
    app.send_task(TASK, args=(task.to_json(),))


def register_tasks(app: Celery, runtimes: Runtimes, in_flight: InFlight) -> None:
    """Bind the three tasks to ``app`` in this worker process; each runs over the calling
    thread's runtime, and ``in_flight`` holds the stop signal of each task executing."""

    def coordinate(self: Any, payload: dict[str, Any]) -> None:
        request = request_from_json(payload)
        runtime = runtimes()
        planned = runtime.runs.plan(request)
        if not isinstance(planned, IOSuccess):
            error = unsafe_perform_io(planned.failure())
            if error.code not in _FINAL_PLAN_ERRORS and self.request.retries < _MAX_RETRIES:
                _log.warning("run %s: planning failed (%s); retrying", request.run_id, error.code)
                runtimes.discard()
                raise self.retry(countdown=_delay(self.request.retries))
            _not_started(runtime, request, f"{error.message} [{error.code}]")
            return
        tasks = unsafe_perform_io(planned.unwrap())
        for task in tasks:
            send_task(app, task)
        _log.info("run %s: %d tasks sent", request.run_id, len(tasks))
        # Nothing to do (or everything done before a redelivery): the finaliser closes the run.
        app.send_task(FINALISE, args=(request.run_id,))

    def run_task(self: Any, payload: dict[str, Any]) -> None:
        task = Task.from_json(payload)
        runtime = runtimes()
        with in_flight.hold() as stop:
            executed = runtime.runs.execute(task, thread_owner(), stop)
        if not isinstance(executed, IOSuccess):
            error = unsafe_perform_io(executed.failure())
            runtimes.discard()
            if self.request.retries < _MAX_RETRIES:
                _log.warning("task %s failed (%s); retrying", _name(task), error.code)
                raise self.retry(countdown=_delay(self.request.retries))
            # Retried long enough: the task fails, and with it the run (the finaliser says so).
            _log.error("task %s failed for good: %s", _name(task), error.message)
            runtimes().runs.give_up(task, f"{error.message} [{error.code}]")
        elif unsafe_perform_io(executed.unwrap()).requeue:
            # The batch in flight is committed with the task's progress: the next delivery
            # resumes there (this worker is stopping and takes no more messages).
            send_task(app, task)
            _log.info("task %s interrupted; sent again", _name(task))
            return
        if not _finalise(runtime, task.run_id):
            runtimes.discard()  # the reaper finalises the run later

    def finalise(self: Any, run_id: str) -> None:
        if not _finalise(runtimes(), run_id):
            runtimes.discard()
            raise self.retry(countdown=_delay(self.request.retries))

    for name, body in ((COORDINATE, coordinate), (TASK, run_task), (FINALISE, finalise)):
        app.task(name=name, bind=True, max_retries=_MAX_RETRIES, shared=False)(body)


def _name(task: Task) -> str:
    return f"{task.run_id}/{task.kind}/{task.entity}/{task.index}"


def _not_started(runtime: WorkerRuntime, request: RunRequest, why: str) -> None:
    """Record the run failed before it started (its ``queued`` row must not wait for ever)."""
    _log.error("run %s not started: %s", request.run_id, why)
    runtime.history.record(not_started(request, runtime.clock.now(), why))


def _finalise(runtime: WorkerRuntime, run_id: str) -> bool:
    """``False`` when finalising failed (a port error): the caller retries."""
    finalised = runtime.runs.finalise(run_id)
    if isinstance(finalised, IOFailure):
        error = unsafe_perform_io(finalised.failure())
        _log.warning("run %s: finalising failed (%s)", run_id, error.code)
        return False
    report = unsafe_perform_io(finalised.unwrap())
    if report is not None:
        _log.info("run %s finished: %s", run_id, report.status.value)
    return True


class Reaper:
    """Sends again the tasks whose lease expired (their worker died): every ``interval``
    seconds, on a daemon thread, until :meth:`stop`. Every worker runs one; a task sent by
    several reapers runs once (the others find it leased or done)."""

    def __init__(
        self, app: Celery, runtimes: Runtimes, interval: float, resend_after: float
    ) -> None:
        # Its thread has a runtime of its own: its queries never wait behind a task's batch.
        self._app = app
        self._runtimes = runtimes
        self._interval = interval
        # A task waiting in a long queue looks stale too (never taken within a lease): sent
        # again at most once per lease, not at every pass.
        self._resend_after = timedelta(seconds=resend_after)
        self._sent: dict[Task, datetime] = {}
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gruponos-reaper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(self._interval + 5)

    def sweep(self) -> int:
        """One pass; how many tasks were sent again (0 when the sink did not answer). Open runs
        are finalised too: a finaliser that died leaves its run open, with every task done."""
        runtime = self._runtimes()
        runs = runtime.runs
        now = runtime.clock.now()
        found = runs.stale(now)
        if not isinstance(found, IOSuccess):
            self._runtimes.discard()
            return 0
        stale = unsafe_perform_io(found.unwrap())
        self._sent = {t: at for t, at in self._sent.items() if t in stale}
        tasks = [
            t
            for t in stale
            if now - self._sent.get(t, datetime.min.replace(tzinfo=UTC)) >= self._resend_after
        ]
        for task in tasks:
            send_task(self._app, task)
            self._sent[task] = now
            _log.info("task %s: lease expired or never taken; sent again", _name(task))
        opened = runs.open_runs()
        if isinstance(opened, IOSuccess):
            for run_id in unsafe_perform_io(opened.unwrap()):
                _finalise(runtime, run_id)
        return len(tasks)

    def _loop(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - the broker down: try again at the next pass
                _log.warning("reaper: could not send stale tasks", exc_info=True)
