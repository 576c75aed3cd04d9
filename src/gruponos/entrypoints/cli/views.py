"""The analytics layer: ``views create|drop`` and ``dbt sources``."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import click
from returns.io import IOResult
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.domain.errors import DomainError
from gruponos.domain.schema import EntitySchema
from gruponos.entrypoints.cli import options
from gruponos.entrypoints.cli.context import CliContext, ExitCode, fail, fail_with, pass_cli

T = TypeVar("T")

_ENTITY = options.entities()


def _ok(result: IOResult[T, DomainError]) -> T:
    """Unwrap at the entrypoint, or exit with the typed error's one-line message."""
    if not is_successful(result):
        fail_with(unsafe_perform_io(result.failure()))
    return unsafe_perform_io(result.unwrap())


@click.group()
def views() -> None:
    """The analyst's views <table>_V: live rows, typed columns, names typed unquoted."""


@views.command("create")
@_ENTITY
@pass_cli
def views_create(cli: CliContext, entities: tuple[str, ...]) -> None:
    """Create or re-create each entity's view from the WMS's describe (its table too)."""
    settings = cli.settings(entities=entities)
    with cli.wired(settings) as container:
        admin = container.view_admin()
        for entity in settings.entities:
            click.echo(f"{_ok(admin.create(entity)).view}: created")


@views.command("drop")
@_ENTITY
@pass_cli
def views_drop(cli: CliContext, entities: tuple[str, ...]) -> None:
    """Drop each entity's view (its table and rows stay)."""
    settings = cli.settings(entities=entities)
    with cli.wired(settings) as container:
        admin = container.view_admin()
        for entity in settings.entities:
            change = _ok(admin.drop(entity))
            click.echo(f"{change.view}: {change.outcome}")


@click.group()
def dbt() -> None:
    """The dbt project in analytics/."""


@dbt.command("sources")
@_ENTITY
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("analytics/models/sources.yml"),
    show_default=True,
    help="Where to write the sources file ('-': standard output).",
)
@pass_cli
def dbt_sources(cli: CliContext, entities: tuple[str, ...], output: Path) -> None:
    """Write dbt's sources.yml for the entities' views, from the WMS's describe."""
    from gruponos.adapters.sql.dbt_sources import sources_yaml  # noqa: PLC0415 - when used

    settings = cli.settings(entities=entities)
    with cli.wired(settings) as container:
        source = container.wms()
        sink = container.sink()
        schemas: list[EntitySchema] = [_ok(source.describe(e)) for e in settings.entities]
        text = sources_yaml(schemas, sink.view_name)
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}", ExitCode.CONFIG)
    click.echo(f"{output}: {len(schemas)} sources")
