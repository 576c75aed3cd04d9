"""What every command shares: global options, settings loading and exit codes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, NoReturn

import click
from returns.pipeline import is_successful

from gruponos.adapters.logs import configure_logging
from gruponos.settings import Settings, load_settings


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

    def settings(self, **overrides: Any) -> Settings:
        """Load settings or exit 2 listing every invalid field."""
        loaded = load_settings(self.config_file, self.secrets_dir, self.env_file, **overrides)
        if not is_successful(loaded):
            error = loaded.failure()
            fail(f"configuration error: {error.message}", ExitCode.CONFIG)
        settings = loaded.unwrap()
        configure_logging(self.log_format or settings.log.format, self.log_level or settings.log.level)
        return settings


def fail(message: str, code: ExitCode = ExitCode.FAILED) -> NoReturn:
    click.echo(message, err=True)
    raise SystemExit(int(code))


pass_cli = click.make_pass_decorator(CliContext)
