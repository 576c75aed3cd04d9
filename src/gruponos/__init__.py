"""gruponos: keep an analytics database in step with Oracle WMS Cloud.

The public API (see docs/library.md)::

    import gruponos

    settings = gruponos.load_settings().unwrap()
    result = gruponos.sync("incremental", settings=settings, entities=["allocation"])

``sync`` returns ``IOResult[SyncReport, SyncError]``. To bring your own adapters, build
:class:`SyncEntities` with anything that implements the ports (the in-memory adapters below are
complete implementations), or override providers of :func:`build_container`.

``import gruponos`` is cheap: each public name is imported from its module on first use
(PEP 562), so a process pays only for the layers it touches (the container, logging, the HTTP
client and the database drivers are each loaded when first needed).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from gruponos.__about__ import __version__

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time ``__getattr__`` loads them
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
    from gruponos.application.lifecycle import StopSignal
    from gruponos.application.ports import (
        Clock,
        RecordSink,
        RunHistory,
        StateStore,
        SyncEvent,
        SyncObserver,
        WmsSource,
    )
    from gruponos.application.replay import ReplayQuarantine
    from gruponos.application.sync import SyncEntities, SyncOptions
    from gruponos.container import Container, StartupError, build_container
    from gruponos.domain.checkpoints import SyncMode
    from gruponos.domain.runs import EntityReport, RunStatus, SyncReport
    from gruponos.settings import Settings, load_settings

#: The module that defines each public name.
_SOURCES: dict[str, tuple[str, ...]] = {
    "gruponos.adapters.logs": ("configure_logging",),
    "gruponos.adapters.memory": (
        "InMemoryDatabase",
        "InMemoryRunHistory",
        "InMemorySink",
        "InMemoryStateStore",
        "InMemoryWms",
        "ManualClock",
    ),
    "gruponos.api": ("run_with_retries", "sync"),
    "gruponos.application.errors": (
        "ConfigError",
        "SinkError",
        "StateError",
        "SyncError",
        "WmsError",
    ),
    "gruponos.application.ports": (
        "Clock",
        "RecordSink",
        "RunHistory",
        "StateStore",
        "SyncEvent",
        "SyncObserver",
        "WmsSource",
    ),
    "gruponos.application.lifecycle": ("StopSignal",),
    "gruponos.application.replay": ("ReplayQuarantine",),
    "gruponos.application.sync": ("SyncEntities", "SyncOptions"),
    "gruponos.container": ("Container", "StartupError", "build_container"),
    "gruponos.domain.checkpoints": ("SyncMode",),
    "gruponos.domain.runs": ("EntityReport", "RunStatus", "SyncReport"),
    "gruponos.settings": ("Settings", "load_settings"),
}
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}


def __getattr__(name: str) -> object:
    """Load a public name from its module on first use, and keep it here for the next."""
    module = _MODULE_OF.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
    "ReplayQuarantine",
    "RunHistory",
    "RunStatus",
    "Settings",
    "SinkError",
    "StartupError",
    "StateError",
    "StateStore",
    "StopSignal",
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
