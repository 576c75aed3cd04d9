"""``gruponos``: sync Oracle WMS Cloud into an analytics database.

Exit codes: 0 ok, 1 failed, 2 configuration or usage error, 3 finished with quarantined records
over the threshold.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from gruponos.__about__ import version_line
from gruponos.adapters.runtime import pause_gc, tune_allocator
from gruponos.entrypoints.cli.context import CliContext, ExitCode, fail, pass_cli
from gruponos.entrypoints.cli.lazy import LazyGroup

_PATH = click.Path(path_type=Path)
_CLI = "gruponos.entrypoints.cli"
#: The subcommands, imported only when run (or listed by --help): start-up is paid every run.
COMMANDS = {
    "sync": f"{_CLI}.sync_cmd:sync",
    "run": f"{_CLI}.sync_cmd:run",
    "list-pipelines": f"{_CLI}.sync_cmd:list_pipelines",
    "demo": f"{_CLI}.demo:demo",
    "health": f"{_CLI}.health:health",
    "verify": f"{_CLI}.verify:verify",
    "check": f"{_CLI}.monitoring:check",
    "metrics": f"{_CLI}.monitoring:metrics",
    "state": f"{_CLI}.admin:state",
    "tables": f"{_CLI}.admin:tables",
    "runs": f"{_CLI}.admin:runs",
    "quarantine": f"{_CLI}.quarantine:quarantine",
    "simulator": "gruponos.simulator.cli:simulator",
    "api": "gruponos.entrypoints.api.cli:api",
    "views": f"{_CLI}.views:views",
    "dbt": f"{_CLI}.views:dbt",
    "worker": f"{_CLI}.worker:worker",
    "scheduler": f"{_CLI}.scheduler:scheduler",
    "schedule": f"{_CLI}.scheduler:schedule_group",
}
#: The commands that start with the cyclic collector paused (``adapters.runtime.pause_gc``):
#: the short runs, which resume it when their run starts. Never a long-running command.
GC_PAUSED = frozenset({"sync", "run"})
#: Set by :func:`run`, the installed program: a process of its own. ``main`` called in another
#: program's process (a test, a notebook) leaves its garbage collector alone.
_own_process = False


def _before_import(name: str) -> None:
    if _own_process and name in GC_PAUSED:
        pause_gc()  # from the subcommand's own imports on


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(version_line())
        ctx.exit()


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    before_import=_before_import,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Print the version (and the commit built, when known) and exit.",
)
@click.option(
    "--config",
    "config_file",
    type=_PATH,
    envvar="GRUPONOS_CONFIG_FILE",
    help="TOML configuration file (lowest priority: env and .env win).",
)
@click.option(
    "--secrets-dir",
    type=_PATH,
    envvar="GRUPONOS_SECRETS_DIR",
    help="Directory of secret files named like the variables (gruponos_wms__password).",
)
@click.option(
    "--env-file",
    type=_PATH,
    default=Path(".env"),
    show_default=True,
    help="dotenv file to read (missing is fine).",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "console"]),
    default=None,
    help="Log format: JSON lines, or a console view on a TTY (auto).",
)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None)
@click.option(
    "--progress",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Progress bars on stderr: auto = only on a terminal.",
)
@click.pass_context
def main(
    ctx: click.Context,
    config_file: Path | None,
    secrets_dir: Path | None,
    env_file: Path | None,
    log_format: str | None,
    log_level: str | None,
    progress: str,
) -> None:
    """Keep an analytics database (Oracle, PostgreSQL, SQLite) in step with Oracle WMS Cloud.

    Exit codes: 0 ok, 1 failed, 2 configuration or usage error, 3 quarantined records over the
    threshold.
    """
    tune_allocator()
    ctx.obj = CliContext(config_file, secrets_dir, env_file, log_format, log_level, progress)


@main.command()
@pass_cli
def validate(cli: CliContext) -> None:
    """Check the configuration; list every invalid setting and exit 2 if any."""
    from gruponos.settings import readiness_problems  # noqa: PLC0415 - loaded by the command only

    settings = cli.settings()
    problems = readiness_problems(settings)
    if problems:
        fail(
            f"configuration error: {len(problems)} invalid setting(s):\n  " + "\n  ".join(problems),
            ExitCode.CONFIG,
        )
    if settings.sink.kind == "oracle":  # grants and character set: only the database knows
        from gruponos.entrypoints.cli.health import probe_sink  # noqa: PLC0415 - with the command

        sink = probe_sink(settings)
        if not sink.ok:
            fail(f"sink not ready: {sink.detail} [{sink.code}]", ExitCode.FAILED)
    click.echo(
        f"configuration ok: {len(settings.entities)} entities, sink {settings.sink.kind}, "
        f"state in {settings.state.kind}"
    )


@main.command("show-config")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def show_config(cli: CliContext, as_json: bool) -> None:
    """Print the effective configuration; secrets are always masked."""
    from gruponos.settings import masked  # noqa: PLC0415 - loaded by the command only

    data = masked(cli.settings())
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    for section, values in data.items():
        if isinstance(values, dict):
            for key, value in _flatten(values):
                click.echo(f"{section}.{key} = {json.dumps(value)}")
        else:
            click.echo(f"{section} = {json.dumps(values)}")


def _flatten(values: dict[str, object], prefix: str = "") -> list[tuple[str, object]]:
    items: list[tuple[str, object]] = []
    for key, value in values.items():
        if isinstance(value, dict) and value:
            items += _flatten(value, f"{prefix}{key}.")
        else:
            items.append((f"{prefix}{key}", value))
    return items


def run() -> None:
    """The installed ``gruponos`` program (and ``python -m gruponos``): :func:`main` in a
    process of its own, which may tune that process's garbage collector."""
    global _own_process  # noqa: PLW0603 - one flag for the process
    _own_process = True
    main()
