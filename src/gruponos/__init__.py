"""gruponos: keep an analytics database in step with Oracle WMS Cloud.

The public API (see docs/library.md)::

    import gruponos

    settings = gruponos.load_settings().unwrap()
    result = gruponos.sync("incremental", settings=settings, entities=["allocation"])

``sync`` returns ``IOResult[SyncReport, SyncError]``. To bring your own adapters, build
:class:`SyncEntities` with anything that implements the ports (the in-memory adapters below are
complete implementations), or override providers of :func:`build_container`.
"""

from gruponos.__about__ import __version__
from gruponos.adapters.logs import configure_logging
from gruponos.adapters.memory import (
    InMemoryDatabase,
    InMemoryRunHistory,
    InMemorySink,
    InMemoryStateStore,
    InMemoryWms,
    ManualClock,
)
from gruponos.api import run_with_retries, sync
from gruponos.application.errors import ConfigError, SinkError, StateError, SyncError, WmsError
from gruponos.application.ports import (
    Clock,
    RecordSink,
    RunHistory,
    StateStore,
    SyncEvent,
    SyncObserver,
    WmsSource,
)
from gruponos.application.sync import SyncEntities, SyncOptions
from gruponos.container import Container, StartupError, build_container
from gruponos.domain.sync import EntityReport, RunStatus, SyncMode, SyncReport
from gruponos.settings import Settings, load_settings

__all__ = [
    "Clock",
    "ConfigError",
    "Container",
    "EntityReport",
    "InMemoryDatabase",
    "InMemoryRunHistory",
    "InMemorySink",
    "InMemoryStateStore",
    "InMemoryWms",
    "ManualClock",
    "RecordSink",
    "RunHistory",
    "RunStatus",
    "Settings",
    "SinkError",
    "StartupError",
    "StateError",
    "StateStore",
    "SyncEntities",
    "SyncError",
    "SyncEvent",
    "SyncMode",
    "SyncObserver",
    "SyncOptions",
    "SyncReport",
    "WmsError",
    "WmsSource",
    "__version__",
    "build_container",
    "configure_logging",
    "load_settings",
    "run_with_retries",
    "sync",
]
