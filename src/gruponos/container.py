"""The composition root: settings -> adapters -> use cases (dependency-injector).

Only this module and the entrypoints name concrete adapters. The settings are already validated:
providers map them onto the adapters' factories without checking them again. The one ``Selector``
picks the state store (``sink``/``file``/``meltano``); the sink is the SQL backend whatever the
database (the URL's scheme picks the dialect inside it). Production wiring never falls back to a
fake: an adapter that cannot be built raises :class:`StartupError` (an exception: the process
cannot start) naming the setting or the error, and the entrypoint turns it into one line and an
exit code. Nothing here unwraps a result.

Tests override providers (``container.wms.override(providers.Object(fake))``) rather than
patching code; entrypoints override ``observer`` (logs, progress bars) and ``dry_run``.

Each adapter's module is imported when its provider is first resolved, not with this module: a
run pays only for the adapters it uses (no HTTP client for ``runs list``, no structlog when the
observer is overridden, one database driver: see :func:`gruponos.adapters.sql.dialect_for`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import timedelta
from operator import attrgetter
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from returns.io import IOFailure, IOResult

from gruponos._di import containers, providers
from gruponos.adapters.clock import SystemClock, new_run_id
from gruponos.application.commit import SaveAfterCommit
from gruponos.application.errors import ConfigError, StartupError, SyncError, WmsError
from gruponos.application.lifecycle import StopSignal
from gruponos.application.ports import (
    Clock,
    RunExecutor,
    RunHistory,
    RunRequest,
    StateStore,
    SyncObserver,
)
from gruponos.application.runs import RunLauncher, RunService, recording_unstarted
from gruponos.application.scheduling import FireClaims
from gruponos.application.sync import SyncEntities, SyncOptions
from gruponos.application.tables import TableAdmin
from gruponos.application.verify import VerifyEntities
from gruponos.application.views import ViewAdmin
from gruponos.domain.checkpoints import SyncMode
from gruponos.domain.records import NormalizeOptions
from gruponos.domain.runs import SyncReport
from gruponos.settings import Settings, readiness_problems

if TYPE_CHECKING:
    from celery import Celery

    from gruponos.adapters.executors.celery_executor import CeleryExecutor
    from gruponos.adapters.executors.local import LocalExecutor
    from gruponos.adapters.logs import LoggingObserver
    from gruponos.adapters.metrics import MetricsObserver
    from gruponos.adapters.sql import SqlBackend
    from gruponos.adapters.sql.plans import SqlRunPlans
    from gruponos.adapters.state import FileStateStore
    from gruponos.adapters.state.meltano import MeltanoStateStore
    from gruponos.adapters.wms_http import HttpxWmsSource, WmsClientConfig
    from gruponos.adapters.wms_http.gate import RequestGate
    from gruponos.application.alerting import AlertOnRun
    from gruponos.application.checks import CheckEntities
    from gruponos.application.scaleout import DistributedOptions, DistributedRuns

__all__ = [
    "Container",
    "StartupError",
    "build_container",
    "celery_app_of",
    "sync_options",
    "wms_client_config",
]

#: What ``verify`` reads from the WMS: the key and the replication key only.
VERIFY_FIELDS = ("id", "mod_ts")


def _secret(value: Any) -> str | None:
    return None if value is None else str(value.get_secret_value())


def wms_client_config(settings: Settings) -> WmsClientConfig:
    """The HTTP client's configuration from the settings (``StartupError`` when incomplete)."""
    from gruponos.adapters.wms_http.config import (  # noqa: PLC0415 - the HTTP client, when used
        client_config,
    )

    problems = readiness_problems(settings)
    if problems:
        raise StartupError(
            ConfigError("config.incomplete", "; ".join(problems), {"fields": problems})
        )
    return client_config(settings.wms)


def _shares_request_cap(settings: Settings) -> bool:
    executor = settings.executor
    if executor.shared_request_cap == "auto":
        return executor.kind == "celery"
    return executor.shared_request_cap == "always"


def _request_gate(settings: Settings) -> Iterator[RequestGate | None]:
    """The WMS request cap shared by every process (``executor.request_cap``) when runs are
    distributed (or ``executor.shared_request_cap`` says so): on the limiter's Redis (the
    broker's when it is Redis), else the sink's PostgreSQL. ``None`` otherwise: each source
    keeps its own ``wms.max_concurrency``. A limiter that does not answer is a StartupError."""
    if not _shares_request_cap(settings):
        yield None
        return
    from gruponos.adapters.urls import mask_url  # noqa: PLC0415
    from gruponos.adapters.wms_http.gate import (  # noqa: PLC0415 - when the cap is shared
        GateUnavailable,
        cap_name,
        connect_redis_gate,
    )

    executor, config = settings.executor, wms_client_config(settings)
    # lgfapi's limit is per user: the OAuth2 password grant's user, else the client or user
    auth = config.auth
    name = cap_name(
        config.base_url, getattr(auth, "username", None) or getattr(auth, "client_id", "")
    )
    redis_url = executor.limiter_url or (
        executor.broker_url if executor.broker_url.startswith(("redis://", "rediss://")) else None
    )
    gate: RequestGate
    if redis_url is not None:
        try:
            gate = connect_redis_gate(redis_url, name, executor.request_cap)
        except GateUnavailable as exc:
            shown = mask_url(redis_url)
            raise StartupError(
                WmsError(
                    "wms.limiter_unreachable",
                    f"the request limiter (Redis at {shown}) does not answer: {exc}",
                    {"url": shown},
                )
            ) from None
    elif settings.sink.url.startswith(("postgresql://", "postgres://")):
        gate = _postgres_gate(settings, name)
    else:
        raise StartupError(
            ConfigError(
                "config.no_limiter",
                "executor.request_cap is shared through Redis or a PostgreSQL sink: set "
                "executor.limiter_url to a redis:// URL",
                {"fields": ["executor.limiter_url"]},
            )
        )
    try:
        yield gate
    finally:
        gate.close()


def _postgres_gate(settings: Settings, name: str) -> RequestGate:
    from gruponos.adapters.sql import dialect_for  # noqa: PLC0415 - the sink's driver
    from gruponos.adapters.sql.url import parse_sql_url  # noqa: PLC0415
    from gruponos.adapters.wms_http.gate import GateUnavailable, PostgresGate  # noqa: PLC0415

    parsed = parse_sql_url(settings.sink.url, _secret(settings.sink.password))
    url = parsed.value_or(None)
    if url is None:  # the sink itself reports a bad URL; the limiter has nothing to add
        raise StartupError(parsed.failure())
    gate = PostgresGate(dialect_for(url).connect, name, settings.executor.request_cap)
    try:
        with gate.slot():  # it answers, and the advisory locks work
            pass
    except GateUnavailable as exc:
        raise StartupError(
            WmsError(
                "wms.limiter_unreachable",
                f"the request limiter (PostgreSQL at {url.shown}) does not answer: {exc}",
                {"url": url.shown},
            )
        ) from None
    return gate


def _wms_source(
    settings: Settings,
    gate: RequestGate | None = None,
    fields: tuple[str, ...] | None = None,
    max_attempts: int | None = None,
) -> Iterator[HttpxWmsSource]:
    from gruponos.adapters.wms_http import HttpxWmsSource  # noqa: PLC0415 - loaded when first used

    config = wms_client_config(settings)
    if fields is not None:
        config = dataclasses.replace(config, fields=fields)
    if max_attempts is not None:
        config = dataclasses.replace(config, max_attempts=max_attempts)
    source = HttpxWmsSource(config, shared_gate=gate)
    try:
        yield source
    finally:
        source.close()


def _sql_backend(settings: Settings) -> Iterator[SqlBackend]:
    from gruponos.adapters.sql import connect_sql_backend  # noqa: PLC0415 - loaded when used

    backend = connect_sql_backend(  # raises a StartupError when the database cannot be opened
        settings.sink.url,
        password=_secret(settings.sink.password),
        table_prefix=settings.sink.table_prefix,
        history=settings.sink.history,
        oracle=settings.sink.oracle,
    )
    backend.sink.keep_views = settings.sink.views
    backend.sink.view_time_zone = settings.sink.time_zone
    try:
        yield backend
    finally:
        backend.close()


def _logging_observer() -> LoggingObserver:
    from gruponos.adapters.logs import LoggingObserver  # noqa: PLC0415 - structlog, when used

    return LoggingObserver()


def _file_state_store(settings: Settings) -> FileStateStore:
    from gruponos.adapters.state import FileStateStore  # noqa: PLC0415 - loaded when configured

    return FileStateStore(settings.state.path)


def _meltano_state_store(settings: Settings) -> MeltanoStateStore:
    # A function, not the provider's dotted-string form: dependency-injector resolves a string
    # with inspect.stack(), which reads the source of every frame (tens of ms per start-up).
    from gruponos.adapters.state.meltano import (  # noqa: PLC0415 - loaded when configured
        DEFAULT_STATE_ID,
        MeltanoStateStore,
    )

    state = settings.state
    return MeltanoStateStore(
        state.meltano_project_dir,
        state.meltano_state_id or DEFAULT_STATE_ID,
        executable=state.meltano_executable,
        full_pipeline=settings.sync.full_pipeline,
        incremental_pipeline=settings.sync.incremental_pipeline,
    )


def _commit_kind(settings: Settings) -> str:
    return "in_sink" if settings.state.kind == "sink" else "save_after"


def sync_options(
    settings: Settings, *, dry_run: bool = False, triggered_by: str | None = None
) -> SyncOptions:
    zone = settings.wms.default_timezone
    return SyncOptions(
        batch_size=settings.sync.batch_size,
        overlap=settings.sync.overlap,
        max_reject_ratio=settings.sync.max_reject_ratio,
        prefetch_pages=settings.sync.prefetch_pages,
        write_behind=settings.sync.write_behind,
        read_parallelism=settings.sync.read_parallelism,
        min_window_ids=settings.sync.min_window_ids,
        dry_run=dry_run,
        normalize=NormalizeOptions(default_tz=ZoneInfo(zone) if zone else None),
        full_pipeline=settings.sync.full_pipeline,
        incremental_pipeline=settings.sync.incremental_pipeline,
        triggered_by=triggered_by,
    )


def _run_observer(settings: Settings) -> SyncObserver:
    """Logs every event; counts them too when the metrics adapter is installed."""
    from gruponos.adapters.logs import FanOutObserver, LoggingObserver  # noqa: PLC0415

    try:
        from gruponos.adapters import metrics  # noqa: PLC0415 - optional, loaded when used
    except ImportError:
        return LoggingObserver()
    counting = getattr(metrics, "MetricsObserver", None)
    if counting is None:
        return LoggingObserver()
    pipelines = {
        "full": settings.sync.full_pipeline,
        "incremental": settings.sync.incremental_pipeline,
    }
    return FanOutObserver(LoggingObserver(), counting(pipelines=pipelines))


def _run_launcher(settings: Settings) -> RunLauncher:
    """Executes a :class:`RunRequest` the way ``gruponos sync`` does: a container of its own
    for the run's connections, the same use case, history and lock; the run id and who
    triggered it come with the request."""

    def launch(request: RunRequest, stop: StopSignal) -> IOResult[SyncReport, SyncError]:
        container = build_container(
            settings,
            dry_run=request.dry_run,
            observer=_run_observer(settings),
            triggered_by=request.triggered_by,
        )
        container.run_ids.override(providers.Object(lambda: request.run_id))
        try:
            return container.sync().run(request.mode, request.entities, stop)
        except StartupError as exc:
            cause = exc.error
            return IOFailure(SyncError("sync.not_started", cause.message, {"cause": cause.code}))
        finally:
            container.shutdown_resources()

    return launch


def _local_executor(
    settings: Settings, launch: RunLauncher, runs: RunHistory, clock: Clock
) -> LocalExecutor:
    from gruponos.adapters.executors.local import LocalExecutor  # noqa: PLC0415 - the API's

    return LocalExecutor(
        recording_unstarted(launch, runs, clock),
        workers=settings.api.max_running,
        queue=settings.api.max_queued,
    )


def celery_app_of(settings: Settings) -> Celery:
    """The Celery app of ``settings.executor`` (the workers' and the senders' alike)."""
    from gruponos.adapters.executors.celery_app import celery_app  # noqa: PLC0415 - with Celery

    executor = settings.executor
    return celery_app(executor.broker_url, executor.queue, executor.visibility_timeout_seconds)


def _celery_executor(
    app: Celery, runs: DistributedRuns, history: RunHistory, clock: Clock
) -> CeleryExecutor:
    from gruponos.adapters.executors.celery_executor import (  # noqa: PLC0415 - when chosen
        CeleryExecutor,
    )

    return CeleryExecutor(app, runs, history, clock)


def _run_plans(backend: SqlBackend) -> SqlRunPlans:
    from gruponos.adapters.sql.plans import SqlRunPlans  # noqa: PLC0415 - small; asked per run

    return SqlRunPlans(backend.sink)


def _use_case(module: str, name: str) -> Callable[..., Any]:
    """A use case of ``gruponos.application.<module>`` made by name, its module imported when
    the first one is made: a sync does not pay for the replay, Singer and distributed-run use
    cases (~10 % of a small run's start-up, issue 21)."""

    def make(**kwargs: Any) -> Any:
        from importlib import import_module  # noqa: PLC0415

        return getattr(import_module(f"gruponos.application.{module}"), name)(**kwargs)

    make.__qualname__ = make.__name__ = name
    return make


def _distributed_options(settings: Settings) -> DistributedOptions:
    from gruponos.application.scaleout import DistributedOptions  # noqa: PLC0415 - see _use_case

    executor = settings.executor
    return DistributedOptions(window_ids=executor.window_ids, lease_seconds=executor.lease_seconds)


def _run_service(
    settings: Settings,
    runs: RunHistory,
    state: StateStore,
    executor: RunExecutor,
    clock: Clock,
    new_run_id: Callable[[], str],
) -> RunService:
    return RunService(
        runs,
        state,
        executor,
        clock,
        new_run_id,
        {
            SyncMode.FULL: settings.sync.full_pipeline,
            SyncMode.INCREMENTAL: settings.sync.incremental_pipeline,
        },
        idempotency_ttl=timedelta(hours=settings.api.idempotency_hours),
    )


# -- Monitoring (issue 17): metrics, built-in alerts, data-quality checks ---------------------------


def _pipelines(settings: Settings) -> dict[str, str]:
    return {"full": settings.sync.full_pipeline, "incremental": settings.sync.incremental_pipeline}


def _metrics_observer(settings: Settings) -> MetricsObserver:
    from gruponos.adapters.metrics import MetricsObserver  # noqa: PLC0415 - when metrics are on

    return MetricsObserver(pipelines=_pipelines(settings))


def _counted_wms_source(
    settings: Settings, gate: RequestGate | None = None
) -> Iterator[HttpxWmsSource]:
    """The WMS source whose requests are counted by status class (the same client otherwise;
    uncounted without prometheus-client, the ``monitoring`` extra: ``gruponos check`` uses it)."""
    from gruponos.adapters.wms_http import HttpxWmsSource  # noqa: PLC0415 - loaded when first used

    config = wms_client_config(settings)
    transport = None
    try:
        from gruponos.adapters.metrics import process_metrics  # noqa: PLC0415 - with the metrics
        from gruponos.adapters.metrics.http import counting_transport  # noqa: PLC0415
    except ImportError:  # installed without the monitoring extra: nothing to count into
        pass
    else:
        transport = counting_transport(
            process_metrics(), settings.entities, config.verify_tls, config.max_concurrency + 1
        )
    source = HttpxWmsSource(config, transport=transport, shared_gate=gate)
    try:
        yield source
    finally:
        source.close()


def _timed_commit(commit: Any) -> Any:
    from gruponos.adapters.metrics import TimedCommit, process_metrics  # noqa: PLC0415

    return TimedCommit(commit, process_metrics())


def _alert_on_run(settings: Settings, runs: Any, state: Any, clock: Any) -> AlertOnRun | None:
    """The built-in alerting observer, or ``None`` when no channel is configured."""
    from gruponos.adapters.alerts import (  # noqa: PLC0415 - loaded when alerts are configured
        JsonFileLedger,
        SmtpChannel,
        WebhookChannel,
    )
    from gruponos.application.alert_rules import AlertPolicy  # noqa: PLC0415
    from gruponos.application.alerting import AlertChannel, Alerting, AlertOnRun  # noqa: PLC0415

    alerts = settings.alerts
    channels: list[AlertChannel] = []
    if alerts.webhook.url is not None:
        hook = alerts.webhook
        channels.append(WebhookChannel(_secret(hook.url) or "", hook.format, hook.timeout_seconds))
    smtp = alerts.smtp
    if smtp.host is not None:
        channels.append(
            SmtpChannel(
                smtp.host,
                smtp.port,
                smtp.sender,
                smtp.recipients,
                starttls=smtp.starttls,
                username=smtp.username,
                password=_secret(smtp.password),
                timeout=smtp.timeout_seconds,
            )
        )
    if not channels:
        return None
    policy = AlertPolicy(
        consecutive_failures=alerts.consecutive_failures,
        freshness={
            settings.sync.incremental_pipeline: timedelta(
                seconds=alerts.freshness_incremental_seconds
            ),
            settings.sync.full_pipeline: timedelta(seconds=alerts.freshness_full_seconds),
        },
        quarantine_share=alerts.quarantine_share,
        duration_factor=alerts.duration_factor,
    )
    alerting = Alerting(
        channels,
        JsonFileLedger(alerts.state_path),
        clock,
        retries=alerts.retries,
        backoff=alerts.backoff_seconds,
    )
    return AlertOnRun(
        alerting, runs, state, clock, policy, _pipelines(settings), on_problem=_log_problem
    )


def _log_problem(line: str) -> None:
    import structlog  # noqa: PLC0415 - configured by the entrypoint

    structlog.get_logger("gruponos.alerts").warning("alerts.delivery_failed", problem=line)


def _check_entities(
    settings: Settings, source: Any, backend: SqlBackend, state: Any, clock: Any
) -> CheckEntities:
    from gruponos.adapters.sql.quality import SqlQuality  # noqa: PLC0415 - with the command
    from gruponos.application.checks import CheckEntities  # noqa: PLC0415

    return CheckEntities(
        source, SqlQuality(backend.sink), state, clock, settings.sync.incremental_pipeline
    )


def _fire_claims(backend: SqlBackend) -> FireClaims:
    """The scheduler's claims of its fires, in the sink's database: shared by every replica."""
    from gruponos.adapters.sql.fires import SqlFireClaims  # noqa: PLC0415 - the scheduler's

    return SqlFireClaims(backend.db)


class Container(containers.DeclarativeContainer):
    """Wires gruponos from a :class:`~gruponos.settings.Settings`."""

    settings = providers.Dependency(instance_of=Settings)
    dry_run = providers.Object(False)  # noqa: FBT003 - a provider's value, not a flag argument
    #: Who starts the runs, kept in the run history (``cli:<user>``, an API subject).
    triggered_by: providers.Provider[str | None] = providers.Object(None)

    clock = providers.Singleton(SystemClock)
    run_ids = providers.Object(new_run_id)
    observer = providers.Singleton(_logging_observer)

    #: The WMS request cap shared by every process, or ``None`` (each source's own cap only).
    request_gate = providers.Resource(_request_gate, settings)
    wms = providers.Resource(_wms_source, settings, request_gate)
    #: ``verify`` reads only ids and mod_ts.
    verify_wms = providers.Resource(_wms_source, settings, request_gate, fields=VERIFY_FIELDS)
    #: ``health`` asks once: a dead WMS is reported at once, not after the retry budget.
    probe_wms = providers.Resource(_wms_source, settings, request_gate, max_attempts=1)
    sql_backend = providers.Resource(_sql_backend, settings)

    #: SQLite, PostgreSQL and Oracle alike: the backend's dialect follows the URL's scheme.
    sink = providers.Callable(attrgetter("sink"), sql_backend)
    state = providers.Selector(
        providers.Callable(attrgetter("state.kind"), settings),
        sink=providers.Callable(attrgetter("state"), sql_backend),
        file=providers.Singleton(_file_state_store, settings),
        meltano=providers.Singleton(_meltano_state_store, settings),
    )
    #: How a sync commits a batch with its checkpoint: in the sink's own transaction when the
    #: checkpoints live there, else the state store saves each one after the sink's commit.
    commit = providers.Selector(
        providers.Callable(_commit_kind, settings),
        in_sink=sink,
        save_after=providers.Factory(SaveAfterCommit, sink=sink, state=state),
    )
    runs = providers.Callable(attrgetter("runs"), sql_backend)
    quarantine = providers.Callable(attrgetter("quarantine"), sql_backend)

    options = providers.Callable(sync_options, settings, dry_run=dry_run, triggered_by=triggered_by)
    #: The distributed runs' plans in the sink: an open one holds the run locks of its entities
    #: for local runs too (and is never taken for abandoned).
    plans = providers.Callable(_run_plans, sql_backend)
    sync = providers.Factory(
        SyncEntities,
        source=wms,
        sink=sink,
        state=state,
        runs=runs,
        clock=clock,
        new_run_id=run_ids,
        options=options,
        observer=observer,
        commit=commit,
        plans=plans,
    )
    replay = providers.Factory(
        _use_case("replay", "ReplayQuarantine"),
        source=wms,
        sink=sink,
        quarantine=quarantine,
        new_run_id=run_ids,
        normalize=providers.Callable(attrgetter("normalize"), options),
        batch_size=providers.Callable(attrgetter("sync.batch_size"), settings),
        dry_run=dry_run,
    )

    # -- Use cases of gruponos verify / tables and of the Singer programs ------------------------
    verify = providers.Factory(VerifyEntities, source=verify_wms, sink=sink)
    table_admin = providers.Factory(TableAdmin, source=wms, sink=sink, tables=sink)
    #: tap-gruponos; the entrypoint gives ``options`` (from the tap's config).
    extract = providers.Factory(_use_case("extract", "ExtractEntities"), source=wms, clock=clock)
    #: target-gruponos; the entrypoint gives ``states`` (its stdout) and ``options``.
    load = providers.Factory(_use_case("load", "LoadStreams"), sink=sink, clock=clock)

    # -- Distributed runs (issue 18): the run plans in the sink (above), the Celery app ---------
    distributed_runs = providers.Factory(
        _use_case("scaleout", "DistributedRuns"),
        source=wms,
        sink=sink,
        state=state,
        runs=runs,
        plans=plans,
        clock=clock,
        options=options,
        distributed=providers.Callable(_distributed_options, settings),
        observer=observer,
    )
    celery_app = providers.Singleton(celery_app_of, settings)

    # -- The API service (gruponos api serve), the scheduler, sync --executor ---------------------
    #: Executes one run in a container of its own (its own connections, the CLI's wiring).
    launcher = providers.Callable(_run_launcher, settings)
    #: ``settings.executor.kind``: in-process threads, or Celery workers.
    executor = providers.Selector(
        providers.Callable(attrgetter("executor.kind"), settings),
        local=providers.Singleton(_local_executor, settings, launcher, runs, clock),
        celery=providers.Singleton(_celery_executor, celery_app, distributed_runs, runs, clock),
    )
    run_service = providers.Singleton(_run_service, settings, runs, state, executor, clock, run_ids)

    # -- Monitoring (issue 17) -------------------------------------------------------------------
    #: Counts run events into the process's metrics (add it to a run's observers).
    metrics_observer = providers.Singleton(_metrics_observer, settings)
    #: Built-in alerts judged after each run; ``None`` when no channel is configured.
    alert_on_run = providers.Singleton(_alert_on_run, settings, runs, state, clock)
    #: The WMS source with its requests counted, and the commit timed (when metrics are on,
    #: ``wms`` is overridden by ``counted_wms`` and ``sync`` takes ``commit=timed_commit``).
    counted_wms = providers.Resource(_counted_wms_source, settings, request_gate)
    timed_commit = providers.Factory(_timed_commit, commit)
    #: ``gruponos check``: completeness and consistency of what is loaded.
    check = providers.Factory(_check_entities, settings, counted_wms, sql_backend, state, clock)

    # -- Analytics (issue 20) --------------------------------------------------------------------
    #: ``gruponos views create|drop``: the analyst's ``<table>_V`` views.
    view_admin = providers.Factory(ViewAdmin, source=wms, views=sink)

    # -- The scheduler (gruponos scheduler) ------------------------------------------------------
    #: Claims of scheduled fires, so that scheduler replicas start each fire's run once.
    fire_claims = providers.Singleton(_fire_claims, sql_backend)


def build_container(
    settings: Settings,
    *,
    dry_run: bool = False,
    observer: Any = None,
    triggered_by: str | None = None,
) -> Container:
    """A container for ``settings``; call ``shutdown_resources()`` when done.

    ``observer`` (a ``SyncObserver``) replaces the default one, which logs every sync event;
    ``triggered_by`` is recorded in the history of the runs it starts.
    """
    container = Container(settings=settings)
    container.dry_run.override(providers.Object(dry_run))
    container.triggered_by.override(providers.Object(triggered_by))
    if observer is not None:
        container.observer.override(providers.Object(observer))
    return container
