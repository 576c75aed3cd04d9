"""The APScheduler daemon with fakes behind the fire schedule: cron jobs fire with the fire time,
catch-up takes the latest missed fire, nothing fires after shutdown."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from returns.io import IOResult, IOSuccess
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.memory.fires import InMemoryFireClaims
from gruponos.adapters.memory.sink import InMemoryDatabase, InMemoryRunHistory
from gruponos.adapters.scheduler.daemon import SchedulerDaemon
from gruponos.application.ports import RunRequest
from gruponos.application.runs import RunError, Started
from gruponos.application.scheduling import Fire, FireOutcome, FireSchedule, ScheduledPipeline
from gruponos.domain.checkpoints import SyncMode

T0 = datetime(2026, 12, 3, 18, 0, 30, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime | None = None) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at or datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        """Never sleeps."""


class Starter:
    """Accepts every run (a fake of the run service)."""

    def __init__(self) -> None:
        self.started: list[tuple[SyncMode, str | None]] = []

    def start(
        self,
        mode: SyncMode,
        entities: tuple[str, ...],
        *,
        dry_run: bool = False,
        triggered_by: str | None = None,
        idempotency_key: str | None = None,
    ) -> IOResult[Started, RunError]:
        self.started.append((mode, triggered_by))
        request = RunRequest(f"run-{len(self.started)}", mode, entities, dry_run, triggered_by)
        return IOSuccess(Started(request, created=True))


def _daemon(
    pipelines: tuple[ScheduledPipeline, ...], clock: Clock
) -> tuple[SchedulerDaemon, list[Fire], Starter]:
    heard: list[Fire] = []
    lock = threading.Lock()
    starter = Starter()
    history = InMemoryRunHistory(InMemoryDatabase())
    schedule = FireSchedule(InMemoryFireClaims(), starter, history, ("order_hdr",), "me", clock)

    def on_fire(result: IOResult[Fire, Fire]) -> None:
        with lock:
            heard.append(
                unsafe_perform_io(result.unwrap() if is_successful(result) else result.failure())
            )

    daemon = SchedulerDaemon(
        pipelines,
        schedule,
        zone="UTC",
        misfire_grace_seconds=5,
        on_fire=on_fire,
        on_skip=lambda *_: None,
        now=clock.now,
    )
    return daemon, heard, starter


def test_each_pipeline_fires_on_its_cron_with_its_fire_time_and_not_after_shutdown() -> None:
    pipelines = (
        ScheduledPipeline(SyncMode.FULL, "full", "* * * * * *"),
        ScheduledPipeline(SyncMode.INCREMENTAL, "incremental", "* * * * * *"),
    )
    daemon, heard, starter = _daemon(pipelines, Clock())
    daemon.start()
    try:
        assert daemon.alive()
        jobs = {job.id: job for job in daemon._scheduler.get_jobs()}
        assert {
            (name, job.max_instances, job.coalesce, job.misfire_grace_time)
            for name, job in jobs.items()
        } == {("full", 1, True, 5), ("incremental", 1, True, 5)}
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (
            sum(f.pipeline == "full" for f in heard) >= 2
            and sum(f.pipeline == "incremental" for f in heard) >= 2
        ):
            time.sleep(0.05)  # polling a condition with a deadline
    finally:
        daemon.shutdown()
    assert not daemon.alive()
    count = len(heard)
    assert count >= 4
    assert all(f.outcome is FireOutcome.STARTED and f.fire_time.microsecond == 0 for f in heard)
    for name in ("full", "incremental"):
        times = [f.fire_time for f in heard if f.pipeline == name]
        assert len(times) == len(set(times))  # one fire per second, each once
    assert len(starter.started) == count
    daemon._job("full")  # a fire due after shutdown does nothing
    assert len(heard) == count


def test_catch_up_fires_the_latest_missed_fire_of_each_overdue_pipeline() -> None:
    pipelines = (
        ScheduledPipeline(SyncMode.FULL, "full", "0 2 * * 0"),
        ScheduledPipeline(SyncMode.INCREMENTAL, "incremental", "0 */2 * * *"),
    )
    daemon, heard, starter = _daemon(pipelines, Clock(T0))
    daemon.catch_up()  # no run ever succeeded: both are overdue
    assert {(f.pipeline, f.fire_time, f.catch_up) for f in heard} == {
        ("full", datetime(2026, 11, 29, 2, tzinfo=UTC), True),
        ("incremental", T0 - timedelta(seconds=30), True),
    }
    assert sorted(str(t) for _, t in starter.started) == [
        "scheduler@2026-11-29T02:00:00+00:00",
        "scheduler@2026-12-03T18:00:00+00:00",
    ]
    assert daemon.next_fires() == {
        "full": datetime(2026, 12, 6, 2, tzinfo=UTC),
        "incremental": datetime(2026, 12, 3, 20, tzinfo=UTC),
    }


def test_fires_apscheduler_skips_are_reported_as_max_instances_or_missed() -> None:
    skipped: list[tuple[str, str]] = []
    pipelines = (ScheduledPipeline(SyncMode.FULL, "full", "0 2 * * 0"),)
    daemon, _, _ = _daemon(pipelines, Clock(T0))
    daemon._on_skip = lambda *args: skipped.append(args)
    daemon._skipped(JobSubmissionEvent(EVENT_JOB_MAX_INSTANCES, "full", "default", [T0]))
    daemon._skipped(JobExecutionEvent(EVENT_JOB_MISSED, "full", "default", T0))
    daemon._skipped(JobExecutionEvent(EVENT_JOB_MISSED, "not-ours", "default", T0))
    assert skipped == [("full", "max_instances"), ("full", "missed")]
