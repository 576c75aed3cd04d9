"""The composition root: settings -> adapters -> use cases (dependency-injector).

Only this module and the entrypoints name concrete adapters. ``Selector`` providers pick the sink
(``sqlite``/``postgres``/``oracle``, from the sink URL) and the state store (``sink``/``file``/
``meltano``) from the settings. Production wiring never falls back to a fake: an adapter that is
not available fails at start-up with a :class:`StartupError` naming the setting.

Tests override providers (``container.wms.override(providers.Object(fake))``) rather than
patching code; entrypoints override ``observer`` (logs, progress bars) and ``dry_run``.

Each adapter's module is imported when its provider is first resolved, not with this module: a
run pays only for the adapters it uses (no HTTP client for ``runs list``, no structlog when the
observer is overridden, one database driver: see :func:`gruponos.adapters.sql.dialect_for`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from operator import attrgetter
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from dependency_injector import containers, providers
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.clock import SystemClock, new_run_id
from gruponos.application.errors import ConfigError
from gruponos.application.replay import ReplayQuarantine
from gruponos.application.sync import SyncEntities, SyncOptions
from gruponos.domain.errors import DomainError
from gruponos.domain.records import NormalizeOptions
from gruponos.settings import Settings, readiness_problems

if TYPE_CHECKING:
    from gruponos.adapters.logs import LoggingObserver
    from gruponos.adapters.sql import SqlBackend
    from gruponos.adapters.state import FileStateStore
    from gruponos.adapters.state.meltano import MeltanoStateStore
    from gruponos.adapters.wms_http import HttpxWmsSource, WmsClientConfig

#: What ``verify`` reads from the WMS: the key and the replication key only.
VERIFY_FIELDS = ("id", "mod_ts")


class StartupError(Exception):
    """An adapter could not be built; ``error`` is the typed error for the entrypoint to show."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(error.message)
        self.error = error


def _secret(value: Any) -> str | None:
    return None if value is None else str(value.get_secret_value())


def wms_client_config(settings: Settings) -> WmsClientConfig:
    """Translate settings into the HTTP client's configuration (or raise ``StartupError``)."""
    from gruponos.adapters.wms_http import (  # noqa: PLC0415 - the HTTP client, when first used
        BasicAuthConfig,
        OAuth2Config,
        OAuth2Grant,
        PageMode,
        WmsClientConfig,
    )

    problems = readiness_problems(settings)
    if problems:
        raise StartupError(
            ConfigError("config.incomplete", "; ".join(problems), {"fields": problems})
        )
    wms = settings.wms
    auth: BasicAuthConfig | OAuth2Config
    if wms.auth == "basic":
        auth = BasicAuthConfig(wms.username or "", _secret(wms.password) or "")
    else:
        auth = OAuth2Config(
            token_url=wms.oauth2.token_url or "",
            client_id=wms.oauth2.client_id or "",
            client_secret=_secret(wms.oauth2.client_secret) or "",
            grant=OAuth2Grant(wms.oauth2.grant),
            username=wms.username,
            password=_secret(wms.password),
            scope=wms.oauth2.scope,
        )
    try:
        return WmsClientConfig(
            base_url=wms.base_url or "",
            auth=auth,
            page_size=wms.page_size,
            page_mode=PageMode(wms.page_mode),
            read_timeout=wms.timeout_seconds,
            max_attempts=wms.max_attempts,
            backoff_base=wms.backoff_seconds,
            backoff_cap=max(wms.backoff_cap_seconds, wms.backoff_seconds),
            max_concurrency=wms.max_concurrency,
            verify_tls=wms.verify_tls,
            extra_filters=wms.filters,
        )
    except ValueError as exc:
        raise StartupError(
            ConfigError("config.invalid", str(exc), {"fields": [str(exc)]})
        ) from None


def _wms_source(
    settings: Settings,
    fields: tuple[str, ...] | None = None,
    max_attempts: int | None = None,
) -> Iterator[HttpxWmsSource]:
    from gruponos.adapters.wms_http import HttpxWmsSource  # noqa: PLC0415 - loaded when first used

    config = wms_client_config(settings)
    if fields is not None:
        config = dataclasses.replace(config, fields=fields)
    if max_attempts is not None:
        config = dataclasses.replace(config, max_attempts=max_attempts)
    source = HttpxWmsSource(config)
    try:
        yield source
    finally:
        source.close()


def _sql_backend(settings: Settings) -> Iterator[SqlBackend]:
    from gruponos.adapters.sql import open_sql_backend  # noqa: PLC0415 - loaded when first used

    opened = open_sql_backend(
        settings.sink.url,
        password=_secret(settings.sink.password),
        table_prefix=settings.sink.table_prefix,
        history=settings.sink.history,
        oracle=settings.sink.oracle,
    )
    if not is_successful(opened):
        raise StartupError(unsafe_perform_io(opened.failure()))
    backend = unsafe_perform_io(opened.unwrap())
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
        meltano_state_store,
    )

    return meltano_state_store(settings)


def sync_options(settings: Settings, *, dry_run: bool = False) -> SyncOptions:
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
    )


class Container(containers.DeclarativeContainer):
    """Wires gruponos from a :class:`~gruponos.settings.Settings`."""

    settings = providers.Dependency(instance_of=Settings)
    dry_run = providers.Object(False)  # noqa: FBT003 - a provider's value, not a flag argument

    clock = providers.Singleton(SystemClock)
    run_ids = providers.Object(new_run_id)
    observer = providers.Singleton(_logging_observer)

    wms = providers.Resource(_wms_source, settings)
    #: ``verify`` reads only ids and mod_ts.
    verify_wms = providers.Resource(_wms_source, settings, fields=VERIFY_FIELDS)
    #: ``health`` asks once: a dead WMS is reported at once, not after the retry budget.
    probe_wms = providers.Resource(_wms_source, settings, max_attempts=1)
    sql_backend = providers.Resource(_sql_backend, settings)

    sink = providers.Selector(
        providers.Callable(attrgetter("sink.kind"), settings),
        sqlite=providers.Callable(attrgetter("sink"), sql_backend),
        postgres=providers.Callable(attrgetter("sink"), sql_backend),
        oracle=providers.Callable(attrgetter("sink"), sql_backend),
    )
    state = providers.Selector(
        providers.Callable(attrgetter("state.kind"), settings),
        sink=providers.Callable(attrgetter("state"), sql_backend),
        file=providers.Singleton(_file_state_store, settings),
        meltano=providers.Singleton(_meltano_state_store, settings),
    )
    runs = providers.Callable(attrgetter("runs"), sql_backend)
    quarantine = providers.Callable(attrgetter("quarantine"), sql_backend)

    options = providers.Callable(sync_options, settings, dry_run=dry_run)
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
    )
    replay = providers.Factory(
        ReplayQuarantine,
        source=wms,
        sink=sink,
        quarantine=quarantine,
        new_run_id=run_ids,
        normalize=providers.Callable(attrgetter("normalize"), options),
        batch_size=providers.Callable(attrgetter("sync.batch_size"), settings),
        dry_run=dry_run,
    )


def build_container(
    settings: Settings, *, dry_run: bool = False, observer: Any = None
) -> Container:
    """A container for ``settings``; call ``shutdown_resources()`` when done.

    ``observer`` (a ``SyncObserver``) replaces the default one, which logs every sync event.
    """
    container = Container(settings=settings)
    container.dry_run.override(providers.Object(dry_run))
    if observer is not None:
        container.observer.override(providers.Object(observer))
    return container
