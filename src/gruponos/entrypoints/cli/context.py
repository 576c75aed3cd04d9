"""What every command shares: global options, settings loading, wiring and exit codes.

Settings, logging and the container are imported when a command first asks for them, not with
the command line: ``gruponos --help`` or a usage error does not load pydantic, structlog or the
adapters.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from returns.pipeline import is_successful

from gruponos.adapters.urls import redact
from gruponos.application.errors import ConfigError
from gruponos.domain.errors import DomainError

if TYPE_CHECKING:
    from rich.console import Console

    from gruponos.application.ports import SyncObserver
    from gruponos.container import Container
    from gruponos.settings import Settings


class ExitCode(IntEnum):
    """Documented exit codes of every command."""

    OK = 0
    FAILED = 1  # the run or check failed (WMS, database, state)
    CONFIG = 2  # configuration or usage error
    REJECTED = 3  # finished, but quarantined records are over the threshold


@dataclass
class CliContext:
    config_file: Path | None
    secrets_dir: Path | None
    env_file: Path | None
    log_format: str | None
    log_level: str | None
    progress: str = "auto"  # auto | always | never

    def show_progress(self) -> bool:
        """Progress bars only on a terminal (or when forced with ``--progress always``)."""
        if self.progress == "auto":
            return sys.stderr.isatty()
        return self.progress == "always"

    def settings(self, *, progress: bool = False, entities: tuple[str, ...] = ()) -> Settings:
        """Load settings or exit 2 listing every invalid field; configure logging from them.

        ``entities`` (from ``--entity``) replace the configured ones and are validated alike.

        With progress bars on screen, info lines would only scroll them away: unless a level
        was asked for, logs show warnings and errors only.
        """
        from gruponos.settings import load_settings  # noqa: PLC0415 - pydantic, when needed

        overrides: dict[str, Any] = {"entities": entities} if entities else {}
        loaded = load_settings(self.config_file, self.secrets_dir, self.env_file, **overrides)
        if not is_successful(loaded):
            error = loaded.failure()
            fail(f"configuration error: {error.message}", ExitCode.CONFIG)
        settings = loaded.unwrap()
        self.configure_logging(settings, progress=progress)
        return settings

    def configure_logging(
        self, settings: Settings, *, progress: bool = False, console: Console | None = None
    ) -> None:
        """Log as configured; through ``console`` (the progress bars' one) while it draws."""
        from gruponos.adapters.logs import configure_logging  # noqa: PLC0415 - structlog

        level = self.log_level or ("warning" if progress else settings.log.level)
        configure_logging(self.log_format or settings.log.format, level, console=console)

    @contextmanager
    def wired(
        self, settings: Settings, *, dry_run: bool = False, observer: SyncObserver | None = None
    ) -> Iterator[Container]:
        """The container for ``settings``; a start-up failure exits with a one-line message."""
        from gruponos.container import StartupError, build_container  # noqa: PLC0415

        container = build_container(
            settings, dry_run=dry_run, observer=observer, triggered_by=f"cli:{_user()}"
        )
        try:
            yield container
        except StartupError as exc:
            fail_with(exc.error)
        finally:
            container.shutdown_resources()


def _user() -> str:
    """Who runs the command, for the run history (``unknown`` without a login name)."""
    import getpass  # noqa: PLC0415 - only when a container is built

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no USER/LOGNAME and no passwd entry (some containers)
        return "unknown"


def fail(message: str, code: ExitCode = ExitCode.FAILED) -> NoReturn:
    """Exit with ``code`` after one message on stderr (a password in a URL is masked)."""
    click.echo(redact(message), err=True)
    raise SystemExit(int(code))


def fail_with(error: DomainError) -> NoReturn:
    """Exit with a typed error: 2 for configuration problems, 1 for everything else."""
    code = ExitCode.CONFIG if isinstance(error, ConfigError) else ExitCode.FAILED
    prefix = "configuration error" if code is ExitCode.CONFIG else "error"
    fail(f"{prefix}: {error.message} [{error.code}]", code)


pass_cli = click.make_pass_decorator(CliContext)
