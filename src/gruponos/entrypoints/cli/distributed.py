"""``gruponos sync ... --executor celery``: send the run to the workers, then wait for it.

The run is started through the container's run service (the API's and the scheduler's path:
one history row, the same conflict checks), its coordinator goes to the broker, and this process
only watches: the run plan's progress while it runs, the run history for its end. Ctrl-C (or
SIGTERM) stops the watching, not the run: the workers go on, and the message says how to follow
it. ``--no-wait`` prints the run id and exits 0.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import click
from returns.io import IOSuccess
from returns.unsafe import unsafe_perform_io

from gruponos.domain.runs import RunStatus
from gruponos.entrypoints.cli.context import CliContext, ExitCode, fail, fail_with
from gruponos.entrypoints.cli.render import print_json, print_report
from gruponos.entrypoints.extras import require_extra

if TYPE_CHECKING:
    from gruponos.application.ports import RunHistory
    from gruponos.application.scaleout import DistributedRuns, RunProgress
    from gruponos.container import Container
    from gruponos.domain.checkpoints import SyncMode
    from gruponos.domain.runs import SyncReport
    from gruponos.settings import Settings

#: Seconds between two looks at the run while waiting.
POLL_SECONDS = 1.0
#: Exit code of each final status (succeeded 0; rejected 3; anything else failed).
_EXIT = {RunStatus.SUCCEEDED: ExitCode.OK, RunStatus.REJECTED: ExitCode.REJECTED}


def as_celery(settings: Settings) -> Settings:
    """``settings`` with the Celery executor chosen (``--executor celery``)."""
    executor = settings.executor.model_copy(update={"kind": "celery"})
    return settings.model_copy(update={"executor": executor})


class _Stopped(threading.Event):
    """Set by the first SIGINT or SIGTERM, which it keeps (for the exit code, 128 + it)."""

    signum = int(signal.SIGINT)


@contextmanager
def _watch_stopped() -> Iterator[_Stopped]:
    """SIGINT and SIGTERM end the watching (set the event), not the run."""
    stopped = _Stopped()

    def on_signal(signum: int, _frame: object) -> None:
        if not stopped.is_set():
            stopped.signum = signum
        stopped.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopped
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_distributed(
    cli: CliContext,
    settings: Settings,
    mode: SyncMode,
    *,
    as_json: bool,
    wait: bool,
    progress: bool,
) -> NoReturn:
    """Start a distributed run and (unless ``wait`` is off) wait for its report; exits."""
    require_extra("workers", "--executor celery")
    from gruponos.entrypoints.cli.worker import broker_problem, refuse_sqlite  # noqa: PLC0415

    settings = as_celery(settings)
    refuse_sqlite(settings)
    # The signals are taken before the run is sent: a Ctrl-C from now on ends the watching.
    with cli.wired(settings) as container, _watch_stopped() as stopped:
        problem = broker_problem(container.celery_app(), settings.executor.broker_url)
        if problem is not None:
            fail(problem, ExitCode.FAILED)
        started = container.run_service().start(
            mode, settings.entities, triggered_by=container.triggered_by()
        )
        if not isinstance(started, IOSuccess):
            fail_with(unsafe_perform_io(started.failure()))
        run_id = unsafe_perform_io(started.unwrap()).request.run_id
        if not wait:
            click.echo(run_id)
            raise SystemExit(int(ExitCode.OK))
        click.echo(
            f"run {run_id} sent to the workers; waiting (Ctrl-C leaves it running)", err=True
        )
        report = _wait(container, run_id, stopped, progress=progress)
        if report is None:
            click.echo(
                f"stopped waiting: run {run_id} goes on on the workers; follow it with "
                f"`gruponos runs show {run_id}` (cancel it over the API)",
                err=True,
            )
            raise SystemExit(128 + stopped.signum)
    if as_json:
        print_json(report.to_json())
    else:
        print_report(report)
    raise SystemExit(int(_EXIT.get(report.status, ExitCode.FAILED)))


def _wait(
    container: Container, run_id: str, stopped: _Stopped, *, progress: bool
) -> SyncReport | None:
    """The run's final report, or ``None`` when the watching was stopped first. A database
    that stops answering (restarted) is connected again at the next look."""
    from gruponos.container import StartupError  # noqa: PLC0415 - with the container

    last_line = ""
    said_at = 0.0
    wired: tuple[RunHistory, DistributedRuns] | None = None
    while not stopped.wait(POLL_SECONDS):
        if wired is None:
            try:
                wired = (container.runs(), container.distributed_runs())
            except StartupError:
                continue  # not reachable yet: look again
        history, runs = wired
        found = history.get_run(run_id)
        if not isinstance(found, IOSuccess):
            container.shutdown_resources()  # the next look connects afresh
            wired = None
            continue
        report: SyncReport | None = unsafe_perform_io(found.unwrap())
        if report is not None and report.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            if progress:
                sys.stderr.write("\n")
            return report
        seen = runs.progress(run_id)
        if not isinstance(seen, IOSuccess):
            continue
        line = _progress_line(unsafe_perform_io(seen.unwrap()))
        now = time.monotonic()
        if progress:
            sys.stderr.write(f"\r{line}")
            sys.stderr.flush()
        elif line != last_line and now - said_at >= 10:  # a log-friendly line now and then
            click.echo(line, err=True)
            said_at = now
        last_line = line
    return None


def _progress_line(progress: RunProgress) -> str:
    return (
        f"run {progress.run_id}: {progress.tasks_done}/{progress.tasks_total} tasks done, "
        f"{progress.written:,} records written"
    )
