"""The scheduler daemon on APScheduler 3: one cron job per pipeline, fired through the
application's :class:`~gruponos.application.scheduling.FireSchedule`.

Each job is added with ``max_instances=1`` (a fire still being handled makes the next one skip,
counted as ``max_instances``), ``coalesce=True`` (fires missed while the process was busy or
suspended run once, not once each) and ``misfire_grace_time`` (a fire later than that is dropped,
counted as ``missed``). APScheduler's in-memory job store is per process: replicas are kept apart
by the durable fire claims, not by APScheduler.

A job does not run the sync: it claims the fire and hands the run to the executor, so it ends at
once; a run that outlasts the period makes the next fire ``busy`` (the run service refuses a second
run of a pipeline).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from returns.io import IOResult

from gruponos.adapters.scheduler.cron import CronSchedule
from gruponos.application.scheduling import (
    Fire,
    FireSchedule,
    ScheduledPipeline,
    latest_fire,
)

#: Skips APScheduler decides before a job runs, by event: the ``outcome`` label they are counted as.
_SKIPS = {EVENT_JOB_MAX_INSTANCES: "max_instances", EVENT_JOB_MISSED: "missed"}


class SchedulerDaemon:
    """The pipelines' cron jobs on a background APScheduler; ``on_fire`` hears every fire and
    ``on_skip(pipeline, outcome)`` every fire APScheduler itself skipped.

    >>> # daemon = SchedulerDaemon(pipelines, schedule, zone="UTC", misfire_grace_seconds=3600,
    >>> #                          on_fire=count, on_skip=count_skip); daemon.start()
    """

    def __init__(
        self,
        pipelines: Sequence[ScheduledPipeline],
        schedule: FireSchedule,
        *,
        zone: str,
        misfire_grace_seconds: int,
        on_fire: Callable[[IOResult[Fire, Fire]], None],
        on_skip: Callable[[str, str], None],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._pipelines = {p.pipeline: p for p in pipelines}
        self._crons = {p.pipeline: CronSchedule(p.cron, zone) for p in pipelines}
        self._schedule = schedule
        self._grace = misfire_grace_seconds
        self._on_fire = on_fire
        self._on_skip = on_skip
        self._now = now
        self._scheduler = BackgroundScheduler(
            timezone=zone, executors={"default": ThreadPoolExecutor(max(2, len(pipelines)))}
        )
        self._scheduler.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        self._started = threading.Event()
        self._stopping = threading.Event()

    def catch_up(self) -> None:
        """Fire at once every pipeline overdue (see ``FireSchedule.catch_up``)."""
        for name, scheduled in self._pipelines.items():
            cron = self._crons[name]
            now = self._now()
            period = cron.period(now)
            if period is not None:
                missed = latest_fire(cron.first_from, now, period)
                self._on_fire(self._schedule.catch_up(scheduled, now, period, missed))

    def start(self) -> None:
        """Add the jobs and start firing (in APScheduler's threads)."""
        for name in self._pipelines:
            self._scheduler.add_job(
                self._job,
                self._crons[name].trigger,
                args=(name,),
                id=name,
                name=f"gruponos {name}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=self._grace,
                replace_existing=True,
            )
        self._scheduler.start()
        self._started.set()

    def alive(self) -> bool:
        """The scheduler is started and its loop is running."""
        return self._started.is_set() and bool(self._scheduler.running)

    def state(self) -> str:
        """``starting`` (catch-up, jobs not added yet), ``ok`` (firing) or ``stopped``."""
        if self.alive():
            return "ok"
        return "stopped" if self._stopping.is_set() else "starting"

    def next_fires(self) -> dict[str, datetime | None]:
        """Each pipeline's next fire: APScheduler's once started, else from its cron."""
        if self.alive():
            jobs = {job.id: job for job in self._scheduler.get_jobs()}
            return {
                name: getattr(jobs.get(name), "next_run_time", None) for name in self._pipelines
            }
        now = self._now()
        return {
            name: cron.first_from(now + timedelta(microseconds=1))
            for name, cron in self._crons.items()
        }

    def shutdown(self) -> None:
        """Stop firing: a fire due from now on does nothing; waits for a fire being handled
        (a claim and a submit: short)."""
        self._stopping.set()
        if self._started.is_set() and self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def _job(self, name: str) -> None:
        if self._stopping.is_set():
            return
        cron = self._crons[name]
        now = self._now()
        # APScheduler 3 does not tell a job which fire it runs: the latest one due is this one
        # (coalesced fires run as the latest, and a fire is never run before its time).
        fire_time = latest_fire(cron.first_from, now, timedelta(seconds=self._grace))
        if fire_time is None:
            self._on_skip(name, "missed")
            return
        self._on_fire(self._schedule.fire(self._pipelines[name], fire_time))

    def _skipped(self, event: Any) -> None:
        if isinstance(event, JobEvent) and event.job_id in self._pipelines:
            self._on_skip(event.job_id, _SKIPS.get(event.code, "skipped"))
