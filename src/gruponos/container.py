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
from collections.abc import Iterator
from operator import attrgetter
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from dependency_injector import containers, providers

from gruponos.adapters.clock import SystemClock, new_run_id
from gruponos.application.commit import SaveAfterCommit
from gruponos.application.errors import ConfigError, StartupError
from gruponos.application.extract import ExtractEntities
from gruponos.application.load import LoadStreams
from gruponos.application.replay import ReplayQuarantine
from gruponos.application.sync import SyncEntities, SyncOptions
from gruponos.application.tables import TableAdmin
from gruponos.application.verify import VerifyEntities
from gruponos.domain.records import NormalizeOptions
from gruponos.settings import Settings, readiness_problems

if TYPE_CHECKING:
    from gruponos.adapters.logs import LoggingObserver
    from gruponos.adapters.sql import SqlBackend
    from gruponos.adapters.state import FileStateStore
    from gruponos.adapters.state.meltano import MeltanoStateStore
    from gruponos.adapters.wms_http import HttpxWmsSource, WmsClientConfig

__all__ = ["Container", "StartupError", "build_container", "sync_options", "wms_client_config"]

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
    from gruponos.adapters.sql import connect_sql_backend  # noqa: PLC0415 - loaded when used

    backend = connect_sql_backend(  # raises a StartupError when the database cannot be opened
        settings.sink.url,
        password=_secret(settings.sink.password),
        table_prefix=settings.sink.table_prefix,
        history=settings.sink.history,
        oracle=settings.sink.oracle,
    )
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
        commit=commit,
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

    # -- Use cases of gruponos verify / tables and of the Singer programs ------------------------
    verify = providers.Factory(VerifyEntities, source=verify_wms, sink=sink)
    table_admin = providers.Factory(TableAdmin, source=wms, sink=sink, tables=sink)
    #: tap-gruponos; the entrypoint gives ``options`` (from the tap's config).
    extract = providers.Factory(ExtractEntities, source=wms, clock=clock)
    #: target-gruponos; the entrypoint gives ``states`` (its stdout) and ``options``.
    load = providers.Factory(LoadStreams, sink=sink, clock=clock)


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
