"""structlog set-up: JSON lines when not a TTY, a readable console on a TTY; run ids bound.

Every string value of a line goes through :func:`gruponos.adapters.urls.redact` (no password of a
URL reaches a log). While progress bars are drawn, lines go through their rich console, which
prints them above the bars instead of onto the spinner's line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, TextIO

from gruponos._hidden import hidden

# structlog imports rich (~60-250 ms) for console tracebacks that gruponos never renders:
# format_exc_info below turns an exception into text first. Progress bars import rich as usual.
with hidden("rich", "better_exceptions"):
    import structlog

from gruponos.adapters.urls import redact
from gruponos.application.ports import SyncEvent

if TYPE_CHECKING:
    from rich.console import Console

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


#: The run under way in this process, for lines logged from worker threads (the WMS client reads
#: the next page in a thread, which does not inherit the context variables).
_current_run: dict[str, Any] = {}


def _add_current_run(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in _current_run.items():
        event_dict.setdefault(key, value)
    return event_dict


def _redact_values(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = redact(value)
    return event_dict


class ConsoleLogger:
    """A structlog logger that prints through a rich console (above its live progress bars)."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def msg(self, message: str) -> None:
        from rich.text import Text  # noqa: PLC0415 - rich is loaded with the console anyway

        self._console.print(Text.from_ansi(message), soft_wrap=True, highlight=False)

    debug = info = warning = warn = error = critical = exception = fatal = msg


def configure_logging(
    fmt: str = "auto",
    level: str = "info",
    stream: TextIO | None = None,
    console: Console | None = None,
) -> None:
    """Configure structlog once per process; ``fmt`` is ``auto``, ``json`` or ``console``.

    With ``console`` (the one drawing progress bars), lines are printed through it.
    """
    out: Any = console.file if console is not None else (stream or sys.stderr)
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if use_console
        else structlog.processors.JSONRenderer()
    )
    factory: Any = (
        (lambda *_args: ConsoleLogger(console))
        if console is not None
        else structlog.PrintLoggerFactory(out)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_current_run,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_values,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )


def route_stdlib_logging(
    fmt: str = "auto", level: str = "info", stream: TextIO | None = None
) -> None:
    """Send the standard library's log records (Celery's, httpx's) through the same renderer
    as structlog's lines (JSON lines, or the console view on a TTY), passwords in URLs masked.
    httpx's line per request is kept for debug level only."""
    import logging  # noqa: PLC0415 - only processes that host third-party loggers

    out: Any = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if use_console
        else structlog.processors.JSONRenderer()
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _redact_values,
                renderer,
            ],
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.format_exc_info,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    logging.getLogger("httpx").setLevel("DEBUG" if level == "debug" else "WARNING")


class LoggingObserver:
    """Implements ``SyncObserver``: every sync event becomes a log line with run id and entity.

    It also binds ``run_id`` and ``entity`` to structlog's context variables while a run is under
    way (and to a process-wide fallback for worker threads), so the lines other modules log (the
    WMS client's pages and retries, say) carry them too.
    """

    def __init__(self) -> None:
        self._log = structlog.get_logger("gruponos.sync")

    def on_event(self, event: SyncEvent) -> None:
        if event.kind == "run_started":
            structlog.contextvars.bind_contextvars(run_id=event.run_id)
            _current_run.update(run_id=event.run_id)
        elif event.kind == "entity_started":
            structlog.contextvars.bind_contextvars(entity=event.entity)
            _current_run.update(entity=event.entity)
        self._log_event(event)
        if event.kind == "entity_finished":
            structlog.contextvars.unbind_contextvars("entity")
            _current_run.pop("entity", None)
        elif event.kind == "run_finished":
            structlog.contextvars.unbind_contextvars("run_id", "entity")
            _current_run.clear()

    def _log_event(self, event: SyncEvent) -> None:
        level = _level(event)
        fields = {k: v for k, v in event.data.items() if k not in ("run_id", "entity")}
        if event.kind == "run_finished":  # the per-entity details were logged as they finished
            fields.pop("entities", None)
        getattr(self._log, level)(
            f"sync.{event.kind}", run_id=event.run_id, entity=event.entity, **fields
        )


#: The level of a finished run or entity, by status: a failure is an error, so that filters by
#: level see it; too many quarantined records (the data arrived) is a warning.
_FINISHED_LEVEL = {
    "failed": "error",
    "rejected": "warning",
    "interrupted": "warning",
    "cancelled": "warning",
    "abandoned": "warning",
}


def _level(event: SyncEvent) -> str:
    if event.kind in ("page_read", "batch_written", "id_bounds"):
        return "debug"
    if event.kind in ("warning", "retrying_run"):
        return "warning"
    if event.kind in ("run_finished", "entity_finished"):
        return _FINISHED_LEVEL.get(str(event.data.get("status")), "info")
    return "info"


class FanOutObserver:
    """Sends each event to several observers (logs and the progress display)."""

    def __init__(self, *observers: Any) -> None:
        self._observers = observers

    def on_event(self, event: SyncEvent) -> None:
        for observer in self._observers:
            observer.on_event(event)
