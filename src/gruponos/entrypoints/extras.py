"""The optional parts of gruponos (the extras of ``pyproject.toml``) and what happens without them.

``pip install gruponos`` (no extras) syncs, runs the Singer tap and target, the demo, the
simulator, the quarantine, the views and verify. A command that needs an extra says in one line
which one to install (exit 2); the metrics a sync counts by default simply stay off without
``prometheus_client``. Whether a module is installed is asked of the import system
(``find_spec``), which imports nothing.
"""

from __future__ import annotations

from importlib.util import find_spec

#: The top-level modules each extra brings (``[project.optional-dependencies]``).
EXTRAS: dict[str, tuple[str, ...]] = {
    "monitoring": ("prometheus_client",),
    "api": ("fastapi", "uvicorn", "jwt", "prometheus_client"),
    "workers": ("celery", "redis", "prometheus_client"),
    "scheduler": ("apscheduler", "prometheus_client"),
}


def installed(module: str) -> bool:
    """Whether ``module`` (a top-level name) can be imported, without importing it."""
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):  # a finder that refuses it, or a broken half-import
        return False


def missing(extra: str) -> tuple[str, ...]:
    """The modules of ``extra`` that are not installed."""
    return tuple(module for module in EXTRAS[extra] if not installed(module))


def missing_extra_message(extra: str, what: str) -> str | None:
    """One line naming the extra ``what`` needs, or ``None`` when it is installed."""
    absent = missing(extra)
    if not absent:
        return None
    return (
        f"{what} needs the '{extra}' extra (not installed: {', '.join(absent)}): "
        f"pip install 'gruponos[{extra}]'"
    )


def metrics_available() -> bool:
    """Whether the Prometheus metrics can be counted (the ``monitoring`` extra)."""
    return installed("prometheus_client")


def require_extra(extra: str, what: str) -> None:
    """Exit 2 with one line naming the extra when ``what`` (a command) cannot run without it."""
    message = missing_extra_message(extra, what)
    if message is not None:
        from gruponos.entrypoints.cli.context import ExitCode, fail  # noqa: PLC0415 - CLI only

        fail(message, ExitCode.CONFIG)
