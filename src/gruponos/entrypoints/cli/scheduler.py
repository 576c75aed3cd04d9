"""``gruponos scheduler`` (the daemon firing both pipelines on their cron schedules) and
``gruponos schedule show`` (the next fire times). See docs/scheduler.md.

The daemon starts runs through the container's run service and executor (``executor.kind``:
in-process threads or Celery workers), claims every fire in the sink so that replicas fire each
one once, and serves ``/healthz`` and ``/metrics`` on ``schedule.health_host:health_port``.
SIGTERM or SIGINT: no new fire; runs executing in this process commit the batch in flight and end
``interrupted`` (the executor's ``close``); exit 0. A second signal aborts at once (128 + signal).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click
from returns.io import IOResult
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.domain.checkpoints import SyncMode
from gruponos.entrypoints.cli.context import CliContext, ExitCode, fail, pass_cli
from gruponos.entrypoints.cli.render import print_json, print_table
from gruponos.entrypoints.extras import require_extra

if TYPE_CHECKING:
    from gruponos.application.scheduling import Fire, ScheduledPipeline
    from gruponos.settings import Settings


def scheduled_pipelines(settings: Settings) -> tuple[ScheduledPipeline, ...]:
    """The two pipelines with their cron expressions from ``settings.schedule``."""
    from gruponos.application.scheduling import ScheduledPipeline  # noqa: PLC0415

    return (
        ScheduledPipeline(SyncMode.FULL, settings.sync.full_pipeline, settings.schedule.full),
        ScheduledPipeline(
            SyncMode.INCREMENTAL, settings.sync.incremental_pipeline, settings.schedule.incremental
        ),
    )


@click.command("scheduler")
@click.option(
    "--catch-up/--no-catch-up",
    default=None,
    help="On start, run at once a pipeline whose last success is older than its period "
    "(default: schedule.catch_up).",
)
@pass_cli
def scheduler(cli: CliContext, catch_up: bool | None) -> None:
    """Run the two pipelines on their schedules until SIGTERM or SIGINT.

    Cron from GRUPONOS_SCHEDULE__FULL and GRUPONOS_SCHEDULE__INCREMENTAL, read in
    GRUPONOS_SCHEDULE__TIMEZONE; /healthz and /metrics on GRUPONOS_SCHEDULE__HEALTH_HOST and
    GRUPONOS_SCHEDULE__HEALTH_PORT (0: off). Replicas sharing the sink fire each time once.

    Exit codes: 0 stopped by a signal, 1 cannot start (database, port), 2 configuration.
    """
    require_extra("scheduler", "gruponos scheduler")
    import structlog  # noqa: PLC0415 - configured by cli.settings()

    from gruponos.adapters.metrics import process_metrics  # noqa: PLC0415
    from gruponos.adapters.scheduler.daemon import SchedulerDaemon  # noqa: PLC0415
    from gruponos.adapters.scheduler.health import HealthServer, ScheduleMetrics  # noqa: PLC0415
    from gruponos.application.scheduling import FireSchedule  # noqa: PLC0415

    settings = cli.settings()
    log = structlog.get_logger("gruponos.scheduler")
    schedule = settings.schedule
    stopping = _StopOnSignals()
    with cli.wired(settings) as container:
        owner = f"{socket.gethostname()}:{os.getpid()}"
        fires = FireSchedule(
            container.fire_claims(),
            container.run_service(),
            container.runs(),
            settings.entities,
            owner,
            container.clock(),
        )
        metrics = ScheduleMetrics(process_metrics().registry)

        def heard(result: IOResult[Fire, Fire]) -> None:
            fire = unsafe_perform_io(result.unwrap() if is_successful(result) else result.failure())
            _log_fire(log, fire)
            if fire.outcome.value != "not_due":
                metrics.count(fire)

        def skipped(pipeline: str, outcome: str) -> None:
            log.warning("schedule.skipped", pipeline=pipeline, outcome=outcome)
            metrics.skip(pipeline, outcome)

        daemon = SchedulerDaemon(
            scheduled_pipelines(settings),
            fires,
            zone=schedule.timezone,
            misfire_grace_seconds=schedule.misfire_grace_seconds,
            on_fire=heard,
            on_skip=skipped,
        )
        health = None
        if schedule.health_port:
            try:
                health = HealthServer(
                    schedule.health_host,
                    schedule.health_port,
                    state=daemon.state,
                    next_fires=daemon.next_fires,
                    metrics=metrics,
                )
            except OSError as exc:
                where = f"{schedule.health_host}:{schedule.health_port}"
                fail(f"error: cannot listen on {where}: {exc.strerror or exc}", ExitCode.FAILED)
            health.start()
        with stopping:
            try:
                if schedule.catch_up if catch_up is None else catch_up:
                    daemon.catch_up()
                daemon.start()
                log.info(
                    "scheduler.started",
                    owner=owner,
                    executor=settings.executor.kind,
                    health_port=health.port if health else None,
                    next_fire={k: _iso(v) for k, v in daemon.next_fires().items()},
                )
                stopping.wait()
                daemon.shutdown()  # first: no fire from now on
                log.warning(
                    "scheduler.stopping",
                    signal=stopping.signal_name,
                    message="no new fire; runs in this process finish the batch in flight",
                )
            finally:
                daemon.shutdown()
                container.executor().close()
                if health is not None:
                    health.close()
        log.info("scheduler.stopped")


def _log_fire(log: Any, fire: Fire) -> None:
    fields = {
        "pipeline": fire.pipeline,
        "fire_time": fire.fire_time.isoformat(),
        "outcome": fire.outcome.value,
        "catch_up": fire.catch_up,
        "run_id": fire.run_id,
    }
    if fire.detail:
        fields["detail"] = fire.detail
    if fire.outcome.value in ("started", "claimed_elsewhere", "not_due"):
        log.info("schedule.fire", **fields)
    else:  # busy, failed
        log.warning("schedule.fire", **fields)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


class _StopOnSignals:
    """SIGTERM/SIGINT set an event (the handler only records it, see sync_cmd); a second one
    exits at once with 128 + its number."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal_name: str | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> _StopOnSignals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self._event.is_set():
            line = f"{signal.Signals(signum).name} received again: exiting at once\n"
            os.write(2, line.encode())
            os._exit(128 + signum)
        self.signal_name = signal.Signals(signum).name
        self._event.set()

    def wait(self) -> None:
        # A bounded wait in a loop: the main thread stays responsive to signals.
        while not self._event.wait(1.0):
            pass


@click.group("schedule")
def schedule_group() -> None:
    """The scheduler's schedules."""


@schedule_group.command("show")
@click.option(
    "--count",
    type=click.IntRange(1, 50),
    default=3,
    show_default=True,
    help="Fire times to show per pipeline.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def show(cli: CliContext, count: int, as_json: bool) -> None:
    """Print each pipeline's cron, time zone and next fire times (nothing is connected)."""
    require_extra("scheduler", "gruponos schedule show")
    from gruponos.adapters.scheduler.cron import CronSchedule  # noqa: PLC0415

    settings = cli.settings()
    zone = settings.schedule.timezone
    now = datetime.now(UTC)
    rows = []
    for scheduled in scheduled_pipelines(settings):
        fires = CronSchedule(scheduled.cron, zone).next_fires(now, count)
        rows.append(
            {
                "pipeline": scheduled.pipeline,
                "mode": scheduled.mode.value,
                "cron": scheduled.cron,
                "timezone": zone,
                "next_fires": [f.isoformat() for f in fires],
            }
        )
    if as_json:
        print_json({"catch_up": settings.schedule.catch_up, "pipelines": rows})
        return
    print_table(
        "gruponos schedule",
        ("pipeline", "cron", "time zone", "next fires"),
        [(r["pipeline"], r["cron"], zone, "\n".join(r["next_fires"])) for r in rows],
    )
