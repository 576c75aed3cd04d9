"""``gruponos sync``, ``gruponos run <pipeline>`` and ``gruponos list-pipelines``."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from returns.io import IOResult
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.progress import RichProgressObserver
from gruponos.adapters.runtime import resume_gc
from gruponos.api import run_with_retries
from gruponos.application.errors import SyncError
from gruponos.application.lifecycle import StopSignal
from gruponos.domain.checkpoints import SyncMode
from gruponos.domain.runs import RunStatus, SyncReport
from gruponos.entrypoints.cli.context import CliContext, ExitCode, fail, fail_with, pass_cli
from gruponos.entrypoints.cli.monitoring import after_run, monitored
from gruponos.entrypoints.cli.render import print_json, print_report
from gruponos.entrypoints.results import report_of

if TYPE_CHECKING:
    from gruponos.application.ports import SyncObserver
    from gruponos.settings import Settings

#: The two pipelines of the original system, by name.
PIPELINES: dict[str, tuple[SyncMode, str]] = {
    "full-sync": (
        SyncMode.FULL,
        "read every record, upsert, soft-delete rows gone from the WMS (resumable)",
    ),
    "incremental-sync": (
        SyncMode.INCREMENTAL,
        "read records changed since the checkpoint (mod_ts, minus the overlap)",
    ),
}


#: The signals that stop a run gracefully (a second one aborts at once).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stopped_by_signals(stop: StopSignal) -> Iterator[list[signal.Signals]]:
    """While the block runs, SIGINT and SIGTERM ask ``stop`` to stop the run: reading stops,
    the batch in flight commits with its checkpoint, the run ends ``interrupted``. A second
    signal aborts at once: the process exits, the database rolls back the open transaction
    (nothing committed is lost, nothing half-written stays). Yields the signals received."""
    received: list[signal.Signals] = []
    done = threading.Event()

    import structlog  # noqa: PLC0415 - configured by the command before a run starts

    log = structlog.get_logger("gruponos")

    # A signal handler runs between two bytecodes of the main thread, maybe while it holds the
    # log writer's lock: logging from the handler could wait for that lock forever. So the
    # handler only records the stop, and a thread of its own says so in the log.
    def on_signal(signum: int, _frame: object) -> None:
        sig = signal.Signals(signum)
        if stop.request(RunStatus.INTERRUPTED, f"{sig.name} received"):
            received.append(sig)
            return
        line = f"{sig.name} received again: aborting, uncommitted work rolls back\n"
        os.write(2, line.encode())  # a raw write: no lock to wait for
        os._exit(128 + signum)

    def say_stopping() -> None:
        while not stop.requested:
            if done.wait(0.02) and not stop.requested:  # the block ended without a stop
                return
        log.warning(
            "sync.stopping",
            signal=received[0].name if received else None,
            message="finishing the batch in flight, then stopping; again aborts at once",
        )

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    announcer = threading.Thread(target=say_stopping, name="gruponos-stopping", daemon=True)
    announcer.start()
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        done.set()
        announcer.join()


def run_sync(
    cli: CliContext,
    settings: Settings,
    mode: SyncMode,
    *,
    dry_run: bool = False,
    retries: int = 0,
    retry_delay: float = 5.0,
    progress: bool = False,
    stop: StopSignal | None = None,
) -> IOResult[SyncReport, SyncError]:
    """Run through the container, with progress bars on a terminal and logs in any case."""
    from gruponos.adapters.logs import FanOutObserver, LoggingObserver  # noqa: PLC0415 - structlog

    display = RichProgressObserver() if progress else None
    observer: SyncObserver = (
        FanOutObserver(LoggingObserver(), display) if display else LoggingObserver()
    )
    with cli.wired(settings, dry_run=dry_run, observer=observer) as container:
        observer = monitored(container, settings, observer)  # metrics and alerts, as configured
        use_case = container.sync()
        resume_gc()  # start-up is over: the run's garbage is collected as usual

        def attempt() -> IOResult[SyncReport, SyncError]:
            return run_with_retries(
                lambda names: use_case.run(mode, names, stop),
                settings.entities,
                retries=retries,
                delay=retry_delay,
                clock=container.clock(),
                observer=observer,
            )

        if display is None:
            result = attempt()
        else:
            with display:
                # Log lines print above the bars, not onto the line a spinner is redrawing.
                cli.configure_logging(settings, progress=True, console=display.console)
                try:
                    result = attempt()
                finally:
                    cli.configure_logging(settings, progress=True)
        # checks (into the report), lag, metrics pushed or written
        return after_run(container, settings, mode, result)


def finish(
    result: IOResult[SyncReport, SyncError],
    *,
    as_json: bool,
    signals: list[signal.Signals] | None = None,
) -> None:
    """Print the report (table or JSON) and exit with the documented code: 130 / 143 for a run
    interrupted by SIGINT / SIGTERM (128 + the signal's number, as a shell reports it)."""
    report = report_of(result)
    if report is None:  # the run could not start: a one-line message
        fail_with(unsafe_perform_io(result.failure()))
    if as_json:
        print_json(report.to_json())
    else:
        print_report(report)
    if is_successful(result):
        raise SystemExit(int(ExitCode.OK))
    if report.status is RunStatus.INTERRUPTED and signals:
        raise SystemExit(128 + int(signals[0]))
    error = unsafe_perform_io(result.failure())
    raise SystemExit(int(ExitCode.REJECTED if error.code == "sync.rejected" else ExitCode.FAILED))


def _sync_options(func: click.decorators.FC) -> click.decorators.FC:
    options = [
        click.option(
            "--entity",
            "-e",
            "entities",
            multiple=True,
            metavar="ENTITY",
            help="Sync only this entity (repeatable); default: GRUPONOS_ENTITIES.",
        ),
        click.option(
            "--dry-run",
            is_flag=True,
            help="Read, normalize and validate everything; write nothing (no rows, checkpoint "
            "or run history). The report counts what was read and would be quarantined; "
            "written stays 0.",
        ),
        click.option(
            "--json", "as_json", is_flag=True, help="Print the run report as JSON on stdout."
        ),
        click.option(
            "--retries",
            type=click.IntRange(0, 20),
            default=0,
            show_default=True,
            help="Re-run a failed run up to N times, resuming from the checkpoint.",
        ),
        click.option(
            "--retry-delay",
            type=click.FloatRange(0),
            default=5.0,
            show_default=True,
            help="Seconds before the first re-run; doubled for each further one.",
        ),
        click.option(
            "--executor",
            type=click.Choice(["local", "celery"]),
            default=None,
            help="local: in this process; celery: on `gruponos worker` processes, waiting for "
            "the report (default: GRUPONOS_EXECUTOR__KIND).",
        ),
        click.option(
            "--no-wait",
            is_flag=True,
            help="With the celery executor: print the run id and exit 0 (follow it with "
            "`gruponos runs show ID`).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _execute(
    cli: CliContext,
    mode: SyncMode,
    entities: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
    retries: int,
    retry_delay: float,
    executor: str | None = None,
    no_wait: bool = False,
) -> None:
    progress = cli.show_progress()
    settings = cli.settings(progress=progress, entities=entities)
    in_process_only = dry_run or retries > 0
    if executor == "celery" and in_process_only:
        fail("--dry-run and --retries run in-process only (--executor local)", ExitCode.CONFIG)
    if (executor or ("local" if in_process_only else settings.executor.kind)) == "celery":
        from gruponos.entrypoints.cli.distributed import run_distributed  # noqa: PLC0415

        resume_gc()  # it waits as long as the run takes
        run_distributed(cli, settings, mode, as_json=as_json, wait=not no_wait, progress=progress)
    if no_wait:
        fail("--no-wait needs the celery executor", ExitCode.CONFIG)
    stop = StopSignal()
    with stopped_by_signals(stop) as signals:
        result = run_sync(
            cli,
            settings,
            mode,
            dry_run=dry_run,
            retries=retries,
            retry_delay=retry_delay,
            progress=progress,
            stop=stop,
        )
        # Still inside: a second signal while the report prints aborts with the same code.
        finish(result, as_json=as_json, signals=signals)


@click.command("sync")
@click.argument("mode", type=click.Choice([m.value for m in SyncMode]))
@_sync_options
@pass_cli
def sync(
    cli: CliContext,
    mode: str,
    entities: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
    retries: int,
    retry_delay: float,
    executor: str | None,
    no_wait: bool,
) -> None:
    """Sync entities from the WMS: MODE is full or incremental.

    Exit codes: 0 ok, 1 failed, 2 configuration, 3 too many quarantined records.
    """
    _execute(
        cli, SyncMode(mode), entities, dry_run, as_json, retries, retry_delay, executor, no_wait
    )


@click.command("run")
@click.argument("pipeline", type=click.Choice(list(PIPELINES)))
@_sync_options
@pass_cli
def run(
    cli: CliContext,
    pipeline: str,
    entities: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
    retries: int,
    retry_delay: float,
    executor: str | None,
    no_wait: bool,
) -> None:
    """Run a pipeline by name (see list-pipelines); same options as sync."""
    mode = PIPELINES[pipeline][0]
    _execute(cli, mode, entities, dry_run, as_json, retries, retry_delay, executor, no_wait)


@click.command("list-pipelines")
def list_pipelines() -> None:
    """The pipelines that ``gruponos run`` knows."""
    for name, (mode, meaning) in PIPELINES.items():
        click.echo(f"{name:<18} gruponos sync {mode.value:<12} {meaning}")
