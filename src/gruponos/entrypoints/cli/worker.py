"""``gruponos worker``: a Celery worker executing distributed runs (docs/scale-out.md).

Pool: Celery's ``threads`` pool, not prefork. A task spends its time waiting on the WMS and the
database (both release the GIL) and parses pages in compiled code; one process per CPU (or per
pod) is how a deployment scales. Threads share the process, so SIGTERM reaches the tasks: Celery
starts its warm shutdown (no new messages) and tells ``worker_shutting_down``, which asks every
task in flight to stop; each commits its batch in flight and sends itself again, then the worker
exits. With prefork the task would run in a child that ignores SIGTERM and the warm shutdown
would wait for the whole window. Each thread of the pool wires its own container on first use
(its own database connection), the reaper one more; all are closed when the worker ends.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import TYPE_CHECKING, Any

import click

from gruponos.adapters.urls import redact
from gruponos.entrypoints.cli.context import CliContext, ExitCode, fail, fail_with, pass_cli
from gruponos.entrypoints.extras import require_extra

if TYPE_CHECKING:
    from celery import Celery

    from gruponos.container import Container
    from gruponos.entrypoints.celery_worker import WorkerRuntime
    from gruponos.settings import Settings

#: Seconds to wait for the broker at start before saying it is unreachable.
BROKER_TIMEOUT = 5.0


def broker_problem(app: Celery, broker_url: str) -> str | None:
    """One line when the broker does not answer (its password masked), else ``None``."""
    from kombu.exceptions import OperationalError  # noqa: PLC0415 - with Celery

    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)
    except (OperationalError, OSError) as exc:
        return (
            f"broker unreachable: {redact(broker_url)} ({type(exc).__name__}: {redact(str(exc))})"
        )
    return None


def refuse_sqlite(settings: Settings) -> None:
    """Exit 2: one SQLite file takes one writer at a time; the distributed executor has many."""
    from gruponos.adapters.sql.plans import distributed_sink_refusal  # noqa: PLC0415

    refusal = distributed_sink_refusal(settings.sink.url)
    if refusal is not None:
        fail_with(refusal)


class ThreadRuntimes:
    """A container per pool thread, built on first use and closed at the end."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._local = threading.local()
        self._containers: list[Container] = []
        self._mutex = threading.Lock()

    def __call__(self) -> WorkerRuntime:
        runtime: WorkerRuntime | None = getattr(self._local, "runtime", None)
        if runtime is None:
            from gruponos.container import build_container  # noqa: PLC0415
            from gruponos.entrypoints.celery_worker import WorkerRuntime  # noqa: PLC0415

            container = build_container(self._settings, triggered_by="worker")
            with self._mutex:
                self._containers.append(container)
            runtime = WorkerRuntime(
                container.distributed_runs(), container.runs(), container.clock()
            )
            self._local.runtime, self._local.container = runtime, container
        return runtime

    def discard(self) -> None:
        """Drop the calling thread's runtime (closing its connections): rebuilt on next use."""
        container: Container | None = getattr(self._local, "container", None)
        self._local.runtime = self._local.container = None
        if container is not None:
            with self._mutex:
                if container in self._containers:
                    self._containers.remove(container)
            container.shutdown_resources()

    def close(self) -> None:
        with self._mutex:
            containers, self._containers = self._containers, []
        for container in containers:
            container.shutdown_resources()


@click.command("worker")
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Tasks this process runs at once (threads). Add processes for more CPU.",
)
@click.option(
    "--queues",
    "-Q",
    default=None,
    metavar="NAMES",
    help="Comma-separated queues to consume (default: GRUPONOS_EXECUTOR__QUEUE).",
)
@pass_cli
def worker(cli: CliContext, concurrency: int, queues: str | None) -> None:
    """Run distributed syncs sent by `sync --executor celery`, the API or the scheduler.

    SIGTERM: warm shutdown; each task in flight commits its batch and is sent again. Exit codes:
    0 stopped, 1 broker or database unreachable, 2 configuration (SQLite is refused).
    """
    require_extra("workers", "gruponos worker")
    settings = cli.settings()
    refuse_sqlite(settings)
    from celery.signals import (  # noqa: PLC0415 - with the command
        setup_logging,
        worker_ready,
        worker_shutting_down,
    )

    from gruponos.container import StartupError, celery_app_of  # noqa: PLC0415
    from gruponos.entrypoints.celery_worker import (  # noqa: PLC0415
        InFlight,
        Reaper,
        register_tasks,
    )

    app = celery_app_of(settings)
    problem = broker_problem(app, settings.executor.broker_url)
    if problem is not None:
        fail(problem, ExitCode.FAILED)
    runtimes = ThreadRuntimes(settings)
    try:
        runtimes()  # the sink answers (and its tables exist), or a one-line error here
    except StartupError as exc:
        fail(f"error: {exc.error.message} [{exc.error.code}]", ExitCode.FAILED)
    runtimes.discard()
    in_flight = InFlight()
    register_tasks(app, runtimes, in_flight)

    def on_shutting_down(**_: Any) -> None:  # in the signal handler: no logging, no locks held
        in_flight.stop_all("the worker is stopping")

    worker_shutting_down.connect(on_shutting_down, weak=False)
    names = [q.strip() for q in (queues or settings.executor.queue).split(",") if q.strip()]

    def on_ready(**_: Any) -> None:
        import structlog  # noqa: PLC0415 - configured by the command

        structlog.get_logger("gruponos.worker").info(
            "worker.ready", concurrency=concurrency, queues=names, pool="threads"
        )

    worker_ready.connect(on_ready, weak=False)

    def on_setup_logging(**_: Any) -> None:  # connected: Celery configures no logging itself
        from gruponos.adapters.logs import route_stdlib_logging  # noqa: PLC0415

        route_stdlib_logging(
            cli.log_format or settings.log.format, cli.log_level or settings.log.level
        )

    setup_logging.connect(on_setup_logging, weak=False)
    lease = settings.executor.lease_seconds
    reaper = Reaper(app, runtimes, interval=max(1.0, lease / 3), resend_after=lease)
    celery_worker = app.Worker(
        hostname=f"gruponos-{os.getpid()}@{socket.gethostname()}",
        pool_cls="threads",
        concurrency=concurrency,
        queues=names,
        quiet=True,
        without_mingle=True,
        without_gossip=True,
        loglevel=(cli.log_level or settings.log.level).upper(),
    )
    reaper.start()
    try:
        celery_worker.start()
    finally:
        reaper.stop()
        runtimes.close()
    raise SystemExit(int(celery_worker.exitcode or 0))
