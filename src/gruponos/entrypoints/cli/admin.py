"""Operations on what gruponos keeps: ``state``, ``tables`` and ``runs``."""

from __future__ import annotations

import sys
from typing import TypeVar

import click
from returns.io import IOResult
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.application.tables import describe_table
from gruponos.domain.checkpoints import StateKey
from gruponos.domain.errors import DomainError
from gruponos.entrypoints.cli import options
from gruponos.entrypoints.cli.context import CliContext, ExitCode, fail, fail_with, pass_cli
from gruponos.entrypoints.cli.render import print_json, print_report, print_table

T = TypeVar("T")

_ENTITY = options.entities()
_JSON = options.JSON


def _ok(result: IOResult[T, DomainError]) -> T:
    """Unwrap at the entrypoint, or exit with the typed error's one-line message."""
    if not is_successful(result):
        fail_with(unsafe_perform_io(result.failure()))
    return unsafe_perform_io(result.unwrap())


def _selected(key: StateKey, entities: tuple[str, ...], pipelines: tuple[str, ...]) -> bool:
    return (not entities or key.entity in entities) and (not pipelines or key.pipeline in pipelines)


# -- state --------------------------------------------------------------------------------------


@click.group()
def state() -> None:
    """Checkpoints per (pipeline, entity)."""


@state.command("show")
@options.entities("Only this entity (repeatable).")
@click.option(
    "--pipeline",
    "-p",
    "pipelines",
    multiple=True,
    metavar="PIPELINE",
    help="Only this pipeline (repeatable): the full or incremental pipeline name.",
)
@_JSON
@pass_cli
def state_show(
    cli: CliContext, entities: tuple[str, ...], pipelines: tuple[str, ...], as_json: bool
) -> None:
    """Show the stored checkpoints."""
    settings = cli.settings()
    with cli.wired(settings) as container:
        stored = _ok(container.state().all())
    rows = [
        (key, stored[key])
        for key in sorted(stored, key=lambda k: (k.pipeline, k.entity))
        if _selected(key, entities, pipelines)
    ]
    if as_json:
        print_json([{"pipeline": k.pipeline, "entity": k.entity, **cp.to_json()} for k, cp in rows])
        return
    print_table(
        f"checkpoints ({settings.state.kind} state store)",
        ("pipeline", "entity", "mode", "mod_ts", "id", "generation", "last_id", "complete"),
        [
            (
                k.pipeline,
                k.entity,
                cp.mode.value,
                cp.position.mod_ts.isoformat() if cp.position else None,
                cp.position.id if cp.position else None,
                cp.generation,
                cp.last_id,
                cp.complete,
            )
            for k, cp in rows
        ],
    )


@state.command("reset")
@options.entities("Only this entity (repeatable); default: every entity.")
@click.option(
    "--pipeline",
    "-p",
    "pipelines",
    multiple=True,
    metavar="PIPELINE",
    help="Only this pipeline (repeatable); default: both.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_cli
def state_reset(
    cli: CliContext, entities: tuple[str, ...], pipelines: tuple[str, ...], yes: bool
) -> None:
    """Forget checkpoints: the next incremental sync reads everything, the next full sync
    starts a new pass. Without --yes it asks on the terminal; with no terminal it exits 2."""
    if not yes and not sys.stdin.isatty():  # nobody to ask: a script must say --yes
        fail(
            "state reset forgets checkpoints: add --yes to confirm (no terminal to ask on)",
            ExitCode.CONFIG,
        )
    settings = cli.settings()
    with cli.wired(settings) as container:
        store = container.state()
        keys = [
            key
            for key in sorted(_ok(store.all()), key=lambda k: (k.pipeline, k.entity))
            if _selected(key, entities, pipelines)
        ]
        if not keys:
            click.echo("no checkpoint matches; nothing to reset")
            return
        listed = ", ".join(f"{k.pipeline}/{k.entity}" for k in keys)
        if not yes:
            click.confirm(f"reset {len(keys)} checkpoint(s): {listed}?", abort=True)
        for key in keys:
            _ok(store.reset(key))
        click.echo(f"reset {len(keys)} checkpoint(s): {listed}")


# -- tables -------------------------------------------------------------------------------------


@click.group()
def tables() -> None:
    """The entity tables in the target database."""


def _create(cli: CliContext, entities: tuple[str, ...], *, drop_first: bool) -> None:
    settings = cli.settings(entities=entities)
    with cli.wired(settings) as container:
        admin = container.table_admin()
        for entity in settings.entities:
            if drop_first:
                dropped = _ok(admin.drop(entity))
                click.echo(f"{dropped.table}: {'dropped' if dropped.existed else 'absent'}")
                ready = _ok(admin.create_from(dropped.schema))
            else:
                ready = _ok(admin.create(entity))
            click.echo(f"{ready.table}: ready ({len(ready.columns)} columns)")


@tables.command("create")
@_ENTITY
@pass_cli
def tables_create(cli: CliContext, entities: tuple[str, ...]) -> None:
    """Create each entity's table from the WMS's describe (or add new columns); never drops."""
    _create(cli, entities, drop_first=False)


@tables.command("recreate")
@_ENTITY
@click.option("--yes", is_flag=True, help="Confirm: the tables and their rows are dropped.")
@pass_cli
def tables_recreate(cli: CliContext, entities: tuple[str, ...], yes: bool) -> None:
    """Drop and create each entity's table (every loaded row is lost; reset state after)."""
    if not yes:
        fail(
            "tables recreate drops the tables and their data: add --yes to confirm", ExitCode.CONFIG
        )
    _create(cli, entities, drop_first=True)


@tables.command("describe")
@_ENTITY
@_JSON
@pass_cli
def tables_describe(cli: CliContext, entities: tuple[str, ...], as_json: bool) -> None:
    """Columns and SQL types of each entity's table, as the database has them."""
    settings = cli.settings(entities=entities)
    described: dict[str, tuple[tuple[str, str], ...]] = {}
    with cli.wired(settings) as container:
        sink = container.sink()
        for entity in settings.entities:
            found = _ok(describe_table(sink, entity))
            described[found.table] = found.columns
    if as_json:
        print_json(
            {
                table: [{"column": c, "type": t} for c, t in cols]
                for table, cols in described.items()
            }
        )
        return
    for table, columns in described.items():
        if not columns:
            click.echo(f"{table}: does not exist (gruponos tables create)")
            continue
        print_table(f"{table} ({len(columns)} columns)", ("column", "type"), columns)


# -- runs ---------------------------------------------------------------------------------------


@click.group()
def runs() -> None:
    """The history of sync runs."""


@runs.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@_JSON
@pass_cli
def runs_list(cli: CliContext, limit: int, as_json: bool) -> None:
    """The newest runs first."""
    settings = cli.settings()
    with cli.wired(settings) as container:
        found = _ok(container.runs().list_runs(limit))
    if as_json:
        print_json([r.to_json() for r in found])
        return
    print_table(
        "runs",
        (
            "run id",
            "mode",
            "status",
            "started",
            "seconds",
            "read",
            "written",
            "quarantined",
            "deleted",
            "error",
        ),
        [
            (
                r.run_id,
                r.mode.value,
                r.status.value + (" (dry run)" if r.dry_run else ""),
                r.started_at.isoformat(timespec="seconds"),
                f"{(r.finished_at - r.started_at).total_seconds():.1f}" if r.finished_at else None,
                r.totals["read"],
                r.totals["written"],
                r.totals["quarantined"],
                r.totals["deleted"],
                r.error,
            )
            for r in found
        ],
    )


@runs.command("show")
@click.argument("run_id")
@_JSON
@pass_cli
def runs_show(cli: CliContext, run_id: str, as_json: bool) -> None:
    """One run's report, per entity."""
    settings = cli.settings()
    with cli.wired(settings) as container:
        found = _ok(container.runs().get_run(run_id))
    if found is None:
        fail(f"no run {run_id!r} in the history", ExitCode.FAILED)
    if as_json:
        print_json(found.to_json())
    else:
        print_report(found)
