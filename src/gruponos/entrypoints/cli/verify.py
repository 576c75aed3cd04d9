"""``gruponos verify``: the WMS against the loaded tables, per entity.

The comparison is the :class:`~gruponos.application.verify.VerifyEntities` use case (its WMS
source reads ``fields=id,mod_ts`` only); this command shows its result and turns it into an exit
code: 0 all clean, 1 a difference or a failure, 2 an entity the WMS does not have.
"""

from __future__ import annotations

import click
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.application.verify import EntityDiff, iso
from gruponos.entrypoints.cli import options
from gruponos.entrypoints.cli.context import CliContext, ExitCode, fail, fail_with, pass_cli
from gruponos.entrypoints.cli.render import print_json, print_table

_SHOWN_IDS = 10


def _ids(ids: tuple[int, ...]) -> str:
    shown = ", ".join(map(str, ids[:_SHOWN_IDS]))
    more = f" (+{len(ids) - _SHOWN_IDS} more)" if len(ids) > _SHOWN_IDS else ""
    return f"{len(ids)}" + (f": {shown}{more}" if ids else "")


@click.command()
@options.entities("Verify only this entity (repeatable); default: GRUPONOS_ENTITIES.")
@options.JSON
@pass_cli
def verify(cli: CliContext, entities: tuple[str, ...], as_json: bool) -> None:
    """Compare the WMS with the loaded tables; exit 1 when they differ, 2 for an entity the
    WMS does not have.

    Rows deleted in the WMS stay "extra" until a full sync soft-deletes them.
    """
    settings = cli.settings(entities=entities)
    diffs: list[EntityDiff] = []
    with cli.wired(settings) as container:
        use_case = container.verify()
        for entity in settings.entities:
            outcome = use_case.entity(entity)
            if not is_successful(outcome):
                error = unsafe_perform_io(outcome.failure())
                if error.code == "wms.not_found":
                    fail(
                        f"error: the WMS has no entity {entity!r} (its describe answered 404 "
                        "Not Found); check --entity or GRUPONOS_ENTITIES [wms.not_found]",
                        ExitCode.CONFIG,
                    )
                fail_with(error)
            diffs.append(unsafe_perform_io(outcome.unwrap()))
    if as_json:
        print_json([d.to_json() for d in diffs])
    else:
        print_table(
            "gruponos verify: WMS vs target",
            (
                "entity",
                "result",
                "wms rows",
                "target rows",
                "missing in target",
                "extra in target",
                "mod_ts differs",
                "newest mod_ts (wms / target)",
            ),
            [
                (
                    d.entity,
                    "ok" if d.clean else "DIFFERS",
                    d.source_count,
                    d.target_count,
                    _ids(d.missing),
                    _ids(d.extra),
                    _ids(d.changed),
                    f"{iso(d.source_newest)} / {iso(d.target_newest)}",
                )
                for d in diffs
            ],
        )
    if not all(d.clean for d in diffs):
        raise SystemExit(int(ExitCode.FAILED))
