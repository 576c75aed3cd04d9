"""The scheduler's rules: which fire starts a run, catch-up on start, one run per fire.

``gruponos scheduler`` fires each pipeline on its cron schedule. Whatever fires (a cron tick, or
the catch-up on start), a fire goes through :meth:`FireSchedule.fire`:

1. the fire is *claimed* durably, keyed by (pipeline, scheduled fire time): the first scheduler
   replica to claim it starts the run, every other one skips it (``claimed_elsewhere``), so two
   replicas never double-fire;
2. unless a run of the pipeline was recorded ``queued`` (or ``running``, maybe before taking its
   run lock) less than :data:`RECENT` ago (``busy``), the run is asked of the
   :class:`~gruponos.application.runs.RunService` (so it executes on the configured executor,
   local or Celery), which refuses it while a run of the same pipeline is still going, in this
   process or holding the run lock anywhere (``busy`` too).

A fire is claimed once: a replica that dies between the claim and the start loses that fire (the
next one runs); a run that fails is not fired again before the next fire time.

Catch-up: on start, a pipeline whose newest successful run started longer ago than its period
(or that never succeeded) is fired at once, as the most recent fire it missed: replicas starting
together claim the same fire, and one of them runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from returns.io import IOFailure, IOResult, IOSuccess

from gruponos.application.errors import SinkError
from gruponos.application.ports import Clock, RunHistory, RunQuery
from gruponos.application.runs import RunError, Started
from gruponos.domain.checkpoints import SyncMode
from gruponos.domain.runs import RunStatus, SyncReport

#: The prefix of ``triggered_by`` in the run history of a run the scheduler started.
TRIGGER_PREFIX = "scheduler"
#: A run of the pipeline recorded queued (or running) less than this ago makes a fire ``busy``
#: even before it holds its run lock (another replica's run, between its start and its lock).
RECENT = timedelta(minutes=10)


class FireClaims(Protocol):
    """Durable claims of scheduled fires, shared by every scheduler replica (the sink's
    ``GNOS_SCHEDULE_FIRES``)."""

    def claim(self, pipeline: str, fire_time: datetime, owner: str) -> IOResult[bool, SinkError]:
        """Claim the fire: ``True`` for the first caller ever, ``False`` for any later one."""
        ...


class RunStarter(Protocol):
    """What the scheduler asks of the run service."""

    def start(
        self,
        mode: SyncMode,
        entities: tuple[str, ...],
        *,
        dry_run: bool = False,
        triggered_by: str | None = None,
        idempotency_key: str | None = None,
    ) -> IOResult[Started, RunError]: ...


class FireOutcome(StrEnum):
    """What became of a fire (the ``outcome`` label of ``gruponos_schedule_fires_total``)."""

    STARTED = "started"  # the run was handed to the executor
    CLAIMED_ELSEWHERE = "claimed_elsewhere"  # another replica (or an earlier fire) has it
    BUSY = "busy"  # a run of the pipeline is still going: this fire is skipped
    FAILED = "failed"  # the claim or the start failed (database, executor full)
    NOT_DUE = "not_due"  # catch-up only: the pipeline succeeded within its period


@dataclass(frozen=True, slots=True)
class ScheduledPipeline:
    """A pipeline the scheduler fires: its run mode, its name (``sync.*_pipeline``) and cron."""

    mode: SyncMode
    pipeline: str
    cron: str


@dataclass(frozen=True, slots=True)
class Fire:
    """One fire and its outcome; ``catch_up`` when it was fired on start."""

    pipeline: str
    fire_time: datetime
    outcome: FireOutcome
    catch_up: bool = False
    run_id: str | None = None
    detail: str = ""


def triggered_by(fire_time: datetime) -> str:
    """``triggered_by`` of a scheduled run: names its fire, so the history shows one run each."""
    return f"{TRIGGER_PREFIX}@{fire_time.astimezone(UTC).isoformat()}"


def latest_fire(
    first_from: Callable[[datetime], datetime | None], now: datetime, longest: timedelta
) -> datetime | None:
    """The latest fire at or before ``now``, looking back at most ``longest``.

    ``first_from(t)`` is the schedule's first fire at or after ``t``. The look-back doubles from
    one second, so a schedule firing every second and one firing weekly both take few steps.
    """
    step = timedelta(seconds=1)
    while step <= longest * 2:
        found = first_from(now - step)
        if found is not None and found <= now:
            while (after := first_from(found + timedelta(microseconds=1))) is not None and (
                after <= now
            ):
                found = after
            return found
        step *= 2
    return None


class FireSchedule:
    """Fires the pipelines: claim, then start through the run service (module docstring)."""

    def __init__(
        self,
        claims: FireClaims,
        runs: RunStarter,
        history: RunHistory,
        entities: tuple[str, ...],
        owner: str,
        clock: Clock,
    ) -> None:
        self._clock = clock
        self._claims = claims
        self._runs = runs
        self._history = history
        self._entities = entities
        self._owner = owner

    def fire(
        self, scheduled: ScheduledPipeline, fire_time: datetime, *, catch_up: bool = False
    ) -> IOResult[Fire, Fire]:
        """Claim ``fire_time`` of the pipeline and start its run (see the module docstring):
        the fire ``started``, or why not (claimed elsewhere, busy, failed)."""

        def made(outcome: FireOutcome, run_id: str | None = None, detail: str = "") -> Fire:
            return Fire(scheduled.pipeline, fire_time, outcome, catch_up, run_id, detail)

        def unclaimed(error: SinkError) -> Fire:
            detail = f"cannot claim the fire: {error.message} [{error.code}]"
            return made(FireOutcome.FAILED, detail=detail)

        def refused(error: RunError) -> Fire:
            outcome = FireOutcome.BUSY if error.code == "run.conflict" else FireOutcome.FAILED
            return made(outcome, detail=f"{error.message} [{error.code}]")

        def start(first: bool) -> IOResult[Fire, Fire]:
            if not first:
                return IOFailure(made(FireOutcome.CLAIMED_ELSEWHERE))
            return self._pending(scheduled.mode).lash(_unknown).bind(submit)

        def submit(pending: SyncReport | None) -> IOResult[Fire, Fire]:
            if pending is not None:
                detail = f"run {pending.run_id} of the pipeline is {pending.status.value}"
                return IOFailure(made(FireOutcome.BUSY, detail=detail))
            return (
                self._runs.start(
                    scheduled.mode, self._entities, triggered_by=triggered_by(fire_time)
                )
                .map(lambda started: made(FireOutcome.STARTED, started.request.run_id))
                .alt(refused)
            )

        return (
            self._claims.claim(scheduled.pipeline, fire_time, self._owner)
            .alt(unclaimed)
            .bind(start)
        )

    def _pending(self, mode: SyncMode) -> IOResult[SyncReport | None, SinkError]:
        """A run of ``mode`` recorded ``queued``, or ``running`` but maybe not holding its run
        lock yet, less than :data:`RECENT` ago (an older row is a dead process's leftover: the
        run lock speaks for the living runs)."""
        oldest = self._clock.now() - RECENT

        def newest(status: RunStatus) -> IOResult[SyncReport | None, SinkError]:
            found = self._history.find_runs(RunQuery(limit=1, mode=mode, status=status))
            return found.map(
                lambda runs: runs[0] if runs and runs[0].started_at >= oldest else None
            )

        return newest(RunStatus.QUEUED).bind(
            lambda queued: IOSuccess(queued) if queued else newest(RunStatus.RUNNING)
        )

    def last_success(self, mode: SyncMode) -> IOResult[SyncReport | None, SinkError]:
        """The newest successful run of ``mode``, by start."""
        query = RunQuery(limit=1, mode=mode, status=RunStatus.SUCCEEDED)
        return self._history.find_runs(query).map(lambda runs: runs[0] if runs else None)

    def catch_up(
        self,
        scheduled: ScheduledPipeline,
        now: datetime,
        period: timedelta,
        missed: datetime | None,
    ) -> IOResult[Fire, Fire]:
        """Fire ``missed`` (the latest fire before ``now``) when the pipeline's newest success
        started more than ``period`` before ``now`` or never happened; else ``not_due``. An
        unreadable history fires too: a run more is harmless, a run less is not."""
        if missed is None:
            return IOFailure(Fire(scheduled.pipeline, now, FireOutcome.NOT_DUE, catch_up=True))
        at = missed

        def due(newest: SyncReport | None) -> bool:
            return catch_up_due(None if newest is None else newest.started_at, now, period)

        def fire_if(overdue: bool) -> IOResult[Fire, Fire]:
            if not overdue:
                return IOFailure(Fire(scheduled.pipeline, at, FireOutcome.NOT_DUE, catch_up=True))
            return self.fire(scheduled, at, catch_up=True)

        overdue: IOResult[bool, Fire] = (
            self.last_success(scheduled.mode).map(due).lash(lambda _: IOSuccess(True))  # noqa: FBT003
        )
        return overdue.bind(fire_if)


def _unknown(_: SinkError) -> IOResult[SyncReport | None, Fire]:
    # An unreadable history does not stop the fire: the run service still checks the run lock.
    return IOSuccess(None)


def catch_up_due(last_success: datetime | None, now: datetime, period: timedelta) -> bool:
    """Whether a pipeline whose newest success started at ``last_success`` is overdue."""
    return last_success is None or now - last_success > period
