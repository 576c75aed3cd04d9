"""Runs started, listed and cancelled from outside the process that executes them (the API).

A run asked for is given its id at once, recorded ``queued`` in the run history (so it can be
pointed at while it waits), and handed to a :class:`~gruponos.application.ports.RunExecutor`.
The executor runs the very use case the CLI runs (:class:`~gruponos.application.sync.SyncEntities`
from the container): one history row, one report, the same run lock per (pipeline, entity).

Refused before anything is recorded:

- a run whose pipeline is already running one of its entities: in this executor (queued or
  running), or holding the state store's run lock (a CLI run, another API process);
- a second request with an ``Idempotency-Key`` already seen: it gets the first run back (the
  same key with a different body is a conflict).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial

from returns.io import IOFailure, IOResult, IOSuccess

from gruponos.application.errors import StateError, SyncError
from gruponos.application.lifecycle import StopSignal
from gruponos.application.ports import (
    Clock,
    RunExecutor,
    RunHistory,
    RunRequest,
    StateStore,
)
from gruponos.domain.checkpoints import StateKey, SyncMode
from gruponos.domain.errors import DomainError
from gruponos.domain.runs import RunStatus, SyncReport

#: Runs the executor starts: the request, and the stop signal a cancel raises.
RunLauncher = Callable[[RunRequest, StopSignal], IOResult[SyncReport, SyncError]]


@dataclass(frozen=True, slots=True)
class RunError(DomainError):
    """Why a run could not be started or cancelled: ``run.conflict`` (a run of the pipeline
    holds one of the entities), ``run.idempotency_mismatch``, ``run.executor_full``,
    ``run.not_found``, ``run.not_active`` (finished already), ``run.history_failed``."""


@dataclass(frozen=True, slots=True)
class Started:
    """A run accepted (``created``) or, for a repeated ``Idempotency-Key``, found again."""

    request: RunRequest
    created: bool


@dataclass(frozen=True, slots=True)
class _Remembered:
    request: RunRequest
    fingerprint: tuple[object, ...]
    at: datetime


class RunService:
    """Start, cancel and look up runs through an executor; see the module's docstring.

    ``pipelines`` names each mode's pipeline as the state store keys it (``sync.full_pipeline``,
    ``sync.incremental_pipeline``).
    """

    def __init__(
        self,
        history: RunHistory,
        state: StateStore,
        executor: RunExecutor,
        clock: Clock,
        new_run_id: Callable[[], str],
        pipelines: Mapping[SyncMode, str],
        idempotency_ttl: timedelta = timedelta(hours=24),
    ) -> None:
        self._history = history
        self._state = state
        self._executor = executor
        self._clock = clock
        self._new_run_id = new_run_id
        self._pipelines = dict(pipelines)
        self._ttl = idempotency_ttl
        self._keys: dict[str, _Remembered] = {}
        self._mutex = threading.Lock()  # a conflict check and its submit are one step

    def start(
        self,
        mode: SyncMode,
        entities: tuple[str, ...],
        *,
        dry_run: bool = False,
        triggered_by: str | None = None,
        idempotency_key: str | None = None,
    ) -> IOResult[Started, RunError]:
        """Queue a run of ``entities`` (see the module's docstring for what is refused)."""
        fingerprint = (mode, entities, dry_run, triggered_by)
        with self._mutex:
            now = self._clock.now()
            self._forget_before(now - self._ttl)
            if idempotency_key is not None and idempotency_key in self._keys:
                seen = self._keys[idempotency_key]
                if seen.fingerprint != fingerprint:
                    return IOFailure(
                        RunError(
                            "run.idempotency_mismatch",
                            "this Idempotency-Key was used for a different request",
                            {"run_id": seen.request.run_id},
                        )
                    )
                return IOSuccess(Started(seen.request, created=False))
            return self._free(mode, entities).bind(
                lambda _: self._queue(
                    RunRequest(self._new_run_id(), mode, entities, dry_run, triggered_by),
                    idempotency_key,
                    fingerprint,
                    now,
                )
            )

    def _queue(
        self,
        request: RunRequest,
        idempotency_key: str | None,
        fingerprint: tuple[object, ...],
        now: datetime,
    ) -> IOResult[Started, RunError]:
        queued = SyncReport(
            request.run_id,
            request.mode,
            started_at=now,
            status=RunStatus.QUEUED,
            dry_run=request.dry_run,
            triggered_by=request.triggered_by,
        )

        def submit(_: None) -> IOResult[Started, RunError]:
            if not self._executor.submit(request):
                self._history.record(  # the row says why it never ran (best effort)
                    replace(
                        queued,
                        status=RunStatus.FAILED,
                        finished_at=now,
                        error="not started: the executor is full",
                    )
                )
                return IOFailure(
                    RunError("run.executor_full", "too many runs queued; try again later", {})
                )
            if idempotency_key is not None:
                self._keys[idempotency_key] = _Remembered(request, fingerprint, now)
            return IOSuccess(Started(request, created=True))

        return self._history.record(queued).alt(_history_failed).bind(submit)

    def cancel(self, run_id: str, reason: str) -> IOResult[SyncReport, RunError]:
        """Ask the run to stop: it commits the batch in flight and ends ``cancelled``."""
        found = self._history.get_run(run_id).alt(_history_failed)

        def stop(report: SyncReport | None) -> IOResult[SyncReport, RunError]:
            if report is None:
                return IOFailure(RunError("run.not_found", f"no run {run_id}", {"run_id": run_id}))
            if report.status not in (RunStatus.QUEUED, RunStatus.RUNNING) or not (
                self._executor.cancel(run_id, reason)
            ):
                return IOFailure(
                    RunError(
                        "run.not_active",
                        f"run {run_id} is {report.status.value}: this service cannot cancel it",
                        {"run_id": run_id, "status": report.status.value},
                    )
                )
            return IOSuccess(report)

        return found.bind(stop)

    def _free(self, mode: SyncMode, entities: tuple[str, ...]) -> IOResult[None, RunError]:
        """Success when no run of ``mode``'s pipeline holds one of ``entities``: none in this
        executor (queued or running) and none holding the state store's run lock."""
        wanted = set(entities)
        for active in self._executor.active():
            overlap = wanted & set(active.entities)
            if active.mode is mode and overlap:
                return IOFailure(_conflict(mode, sorted(overlap)[0], f"run {active.run_id}"))
        pipeline = self._pipelines[mode]
        free: IOResult[None, RunError] = IOSuccess(None)
        for entity in entities:
            free = free.bind(partial(self._probe, mode, StateKey(pipeline, entity)))
        return free

    def _probe(self, mode: SyncMode, key: StateKey, _: None) -> IOResult[None, RunError]:
        return (
            self._state.lock(key, "gruponos-api-probe")
            .map(lambda lease: lease.release())
            .lash(partial(_free_unless_locked, mode, key.entity))
        )

    def _forget_before(self, oldest: datetime) -> None:
        for key in [k for k, seen in self._keys.items() if seen.at < oldest]:
            del self._keys[key]


def _conflict(mode: SyncMode, entity: str, holder: str) -> RunError:
    return RunError(
        "run.conflict",
        f"a {mode.value} run already holds {entity}" + (f": {holder}" if holder else ""),
        {"pipeline": mode.value, "entity": entity},
    )


def _free_unless_locked(mode: SyncMode, entity: str, error: StateError) -> IOResult[None, RunError]:
    # Only a held lock is a conflict; a state store that fails otherwise fails the run itself.
    if error.code == "state.locked":
        return IOFailure(_conflict(mode, entity, error.message))
    return IOSuccess(None)


def _history_failed(error: DomainError) -> RunError:
    return RunError("run.history_failed", error.message, {"cause": error.code})


def recording_unstarted(launch: RunLauncher, history: RunHistory, clock: Clock) -> RunLauncher:
    """``launch``, recording a run that could not even start (configuration, database) as
    ``failed``, so that its queued row does not wait for ever (best effort: the history may be
    what failed). A run that started records its own report."""

    def launched(request: RunRequest, stop: StopSignal) -> IOResult[SyncReport, SyncError]:
        result = launch(request, stop)

        def settle(error: SyncError) -> IOResult[SyncReport, SyncError]:
            if "report" not in error.context:
                history.record(not_started(request, clock.now(), f"{error.message} [{error.code}]"))
            return IOFailure(error)

        return result.lash(settle)

    return launched


def not_started(request: RunRequest, now: datetime, why: str) -> SyncReport:
    """The history row of a run that failed before it started (its ``queued`` row must not
    wait for ever)."""
    return SyncReport(
        request.run_id,
        request.mode,
        started_at=now,
        finished_at=now,
        status=RunStatus.FAILED,
        dry_run=request.dry_run,
        triggered_by=request.triggered_by,
        error=f"not started: {why}",
    )
