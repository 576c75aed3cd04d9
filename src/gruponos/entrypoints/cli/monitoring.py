"""``gruponos check`` and ``gruponos metrics serve``, and the monitoring a sync command adds.

- ``check``: completeness and consistency of what is loaded; exit 1 on any finding.
- ``metrics serve``: a long-running process serving ``/metrics`` (and, with ``--sync``, running
  syncs on an interval): what Prometheus scrapes where no API service runs.
- :func:`monitored` and :func:`after_run`: a sync's metrics (run events, WMS requests by status,
  commit latency), its built-in alerts, its final metrics pushed or written, the checks after
  the run when ``alerts.checks`` is on, and the lag sampled after incremental runs.
"""

from __future__ import annotations

import json
import signal
import threading
from functools import partial
from typing import TYPE_CHECKING, Any

import click
from returns.io import IOResult
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.urls import redact
from gruponos.domain.checkpoints import SyncMode
from gruponos.entrypoints.cli import options
from gruponos.entrypoints.cli.context import CliContext, ExitCode, fail, fail_with, pass_cli
from gruponos.entrypoints.cli.render import print_json, print_table
from gruponos.entrypoints.extras import metrics_available, missing_extra_message, require_extra

if TYPE_CHECKING:
    from gruponos.application.checks import CheckReport
    from gruponos.application.errors import SyncError
    from gruponos.application.ports import SyncObserver
    from gruponos.container import Container
    from gruponos.domain.runs import SyncReport
    from gruponos.settings import Settings


def monitored(container: Container, settings: Settings, observer: SyncObserver) -> SyncObserver:
    """``observer`` plus the metrics' and the built-in alerts' observers, as configured; with
    metrics on, the sync's WMS requests are counted and its commits timed.

    Without the ``monitoring`` extra the metrics stay off, unless they were asked to be pushed
    or written: that is a configuration error (exit 2), before the run starts."""
    exports = [
        name
        for name, value in (
            ("GRUPONOS_METRICS__PUSHGATEWAY_URL", settings.metrics.pushgateway_url),
            ("GRUPONOS_METRICS__TEXTFILE", settings.metrics.textfile),
        )
        if value
    ]
    if settings.metrics.enabled and exports:
        problem = missing_extra_message("monitoring", " and ".join(exports))
        if problem is not None:
            fail(f"configuration error: {problem}", ExitCode.CONFIG)
    from dependency_injector import providers  # noqa: PLC0415 - with the container

    from gruponos.adapters.alerts.log import FailureLog  # noqa: PLC0415 - structlog, loaded
    from gruponos.adapters.logs import FanOutObserver  # noqa: PLC0415

    pipelines = {
        "full": settings.sync.full_pipeline,
        "incremental": settings.sync.incremental_pipeline,
    }
    observers: list[Any] = [observer, FailureLog(pipelines)]
    if _metrics_on(settings):
        observers.append(container.metrics_observer())
        # The WMS source itself is replaced: with add_kwargs(source=...) the sync's original
        # source was still built, a second client with its own pool and TLS context (~50 ms).
        container.wms.override(container.counted_wms)
        container.sync.add_kwargs(commit=container.timed_commit)
    if settings.alerts.channels_configured:
        observers.append(container.alert_on_run())
    combined: SyncObserver = FanOutObserver(*observers)
    container.observer.override(providers.Object(combined))
    return combined


def after_run(
    container: Container,
    settings: Settings,
    mode: SyncMode,
    result: IOResult[SyncReport, SyncError],
) -> IOResult[SyncReport, SyncError]:
    """What follows a finished sync: the checks (when on: their findings go into the run's
    report and history), the lag after an incremental run, and the final metrics pushed or
    written. Nothing here changes the run's outcome: problems are logged as warnings."""
    import structlog  # noqa: PLC0415 - configured by the command

    log = structlog.get_logger("gruponos.monitoring")
    counting = _metrics_on(settings)
    if not counting and not settings.alerts.checks:
        return result
    ran = is_successful(result)
    if settings.alerts.checks and ran:
        checked = container.check().run(settings.entities)
        if is_successful(checked):
            report = unsafe_perform_io(checked.unwrap())
            result = result.map(partial(_with_checks, container, report))
            if counting:
                record_checks(report)
            for finding in report.problems:
                log.warning(
                    "check.finding",
                    entity=finding.entity,
                    check=finding.check,
                    count=finding.count,
                    summary=finding.summary,
                )
            alerts = container.alert_on_run() if settings.alerts.channels_configured else None
            if alerts is not None:
                alerts.settle_verdict(report.verdict())
        else:
            log.warning("check.failed", error=str(unsafe_perform_io(checked.failure())))
    if not counting:
        return result
    from gruponos.adapters.metrics import process_metrics  # noqa: PLC0415

    if mode is SyncMode.INCREMENTAL and ran:
        checks = container.check()
        gauge = process_metrics().lag
        for entity in settings.entities:
            child = gauge.labels(settings.sync.incremental_pipeline, entity)
            checks.lag(entity).map(partial(_set_known, child))
    _export(settings, mode, log)
    return result


def _metrics_on(settings: Settings) -> bool:
    """Metrics are counted when enabled and ``prometheus_client`` is installed."""
    return settings.metrics.enabled and metrics_available()


def _with_checks(container: Container, checks: CheckReport, report: SyncReport) -> SyncReport:
    """The run's report with the checks' findings, recorded again in the run history."""
    from dataclasses import replace  # noqa: PLC0415

    done = replace(report, checks=checks.findings)
    if not done.dry_run:
        container.runs().record(done)  # diagnostics: the run's outcome stands either way
    return done


def _set_known(gauge: Any, value: float | None) -> None:
    if value is not None:
        gauge.set(value)


def _export(settings: Settings, mode: SyncMode, log: Any) -> None:
    from gruponos.adapters.metrics import (  # noqa: PLC0415
        process_metrics,
        push_metrics,
        write_textfile,
    )

    registry = process_metrics().registry
    pipeline = (
        settings.sync.full_pipeline if mode is SyncMode.FULL else settings.sync.incremental_pipeline
    )
    problems = []
    if settings.metrics.pushgateway_url:
        problems.append(
            push_metrics(
                registry,
                settings.metrics.pushgateway_url,
                settings.metrics.pushgateway_job,
                pipeline,
            )
        )
    if settings.metrics.textfile is not None:
        problems.append(write_textfile(registry, settings.metrics.textfile))
    for problem in problems:
        if problem is not None:
            log.warning("metrics.export_failed", problem=problem)


def record_checks(report: CheckReport) -> None:
    """The checks' results as gauges (``gruponos_check_*``)."""
    from gruponos.adapters.metrics import process_metrics  # noqa: PLC0415

    metrics = process_metrics()
    gauges = {
        "completeness": metrics.check_count_difference,
        "orphans": metrics.check_orphans,
        "future_mod_ts": metrics.check_future,
    }
    for finding in report.findings:
        value = finding.count
        if finding.check == "completeness":
            source, sink = report.counts[finding.entity]
            value = source - sink
        gauges[finding.check].labels(finding.entity).set(value)


@click.command()
@options.entities("Check only this entity (repeatable); default: GRUPONOS_ENTITIES.")
@options.JSON
@pass_cli
def check(cli: CliContext, entities: tuple[str, ...], as_json: bool) -> None:
    """Data quality: WMS counts vs live rows per entity (one request each), order_dtl rows
    without their order_hdr, allocations without their order_dtl, mod_ts in the future.

    Exit codes: 0 clean, 1 a finding or a failure, 2 configuration.
    """
    settings = cli.settings(entities=entities)
    with cli.wired(settings) as container:
        checked = container.check().run(settings.entities)
    if not is_successful(checked):
        fail_with(unsafe_perform_io(checked.failure()))
    report = unsafe_perform_io(checked.unwrap())
    if _metrics_on(settings):
        record_checks(report)
    if as_json:
        print_json(report.to_json())
    else:
        print_table(
            "gruponos check",
            ("check", "entity", "result", "found"),
            [
                (f.check, f.entity, "FOUND" if f.count else "ok", f.summary if f.count else "")
                for f in report.findings
            ],
        )
    if not report.ok:
        raise SystemExit(int(ExitCode.FAILED))


@click.group()
def metrics() -> None:
    """Prometheus metrics of gruponos."""


@metrics.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=9464, show_default=True)
@click.option(
    "--sync",
    "mode",
    type=click.Choice([m.value for m in SyncMode]),
    default=None,
    help="Also run this sync at start and then every --interval seconds.",
)
@click.option(
    "--interval",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="Seconds between syncs; 0 runs one sync and keeps serving.",
)
@pass_cli
def serve(cli: CliContext, host: str, port: int, mode: str | None, interval: float) -> None:
    """Serve /metrics until SIGTERM or SIGINT; with --sync, run syncs in this process (each
    report printed as one JSON line on stdout)."""
    require_extra("monitoring", "gruponos metrics serve")
    from prometheus_client import start_http_server  # noqa: PLC0415 - with the command

    from gruponos.adapters.metrics import process_metrics  # noqa: PLC0415
    from gruponos.application.lifecycle import StopSignal  # noqa: PLC0415
    from gruponos.entrypoints.cli.sync_cmd import run_sync, stopped_by_signals  # noqa: PLC0415
    from gruponos.entrypoints.results import report_of  # noqa: PLC0415

    settings = cli.settings()
    try:
        server, thread = start_http_server(port, host, registry=process_metrics().registry)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    click.echo(f"serving metrics on http://{host}:{port}/metrics", err=True)
    done = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: done.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        while not done.is_set():
            if mode is not None:
                stop = StopSignal()
                with stopped_by_signals(stop):
                    result = run_sync(cli, settings, SyncMode(mode), stop=stop)
                report = report_of(result)
                if report is not None:
                    click.echo(redact(json.dumps(report.to_json(), sort_keys=True)))
                if stop.requested:
                    break
            done.wait(interval if mode is not None and interval > 0 else None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.shutdown()
        thread.join(timeout=5)
