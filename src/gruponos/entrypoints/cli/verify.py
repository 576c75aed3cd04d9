"""``gruponos verify``: the WMS against the loaded tables, per entity.

Asks the WMS to describe each entity first (an entity it does not know is an error, not an empty
"ok"), then reads every id and ``mod_ts`` from the WMS (a full read window, ``fields=id,mod_ts``) and every
live row of the target, and compares: counts, ids missing from the target, extra ids in the target
(deleted in the WMS; a full sync soft-deletes them), rows whose ``mod_ts`` differs, newest
``mod_ts`` on each side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import click
from returns.io import IOFailure, IOResult, IOSuccess
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.application.errors import WmsError
from gruponos.application.ports import RecordSink, WmsSource
from gruponos.domain.checkpoints import FullWindow
from gruponos.domain.errors import DomainError
from gruponos.entrypoints.cli.context import CliContext, ExitCode, fail, fail_with, pass_cli
from gruponos.entrypoints.cli.render import print_json, print_table

_SHOWN_IDS = 10


@dataclass(frozen=True, slots=True)
class EntityDiff:
    entity: str
    source_count: int
    target_count: int
    missing: tuple[int, ...]  # in the WMS, not in the target
    extra: tuple[int, ...]  # in the target, not in the WMS
    changed: tuple[int, ...]  # in both, different mod_ts
    source_newest: datetime | None
    target_newest: datetime | None

    @property
    def clean(self) -> bool:
        return not (self.missing or self.extra or self.changed)

    def to_json(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "clean": self.clean,
            "source_count": self.source_count,
            "target_count": self.target_count,
            "missing": list(self.missing),
            "extra": list(self.extra),
            "changed": list(self.changed),
            "source_newest_mod_ts": _iso(self.source_newest),
            "target_newest_mod_ts": _iso(self.target_newest),
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _instant(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def source_ids(source: WmsSource, entity: str) -> IOResult[dict[int, datetime | None], WmsError]:
    """Every id of ``entity`` in the WMS with its ``mod_ts`` (None when unreadable)."""
    found: dict[int, datetime | None] = {}
    for page in source.read(entity, FullWindow()):
        if not is_successful(page):
            return IOFailure(unsafe_perform_io(page.failure()))
        for raw in unsafe_perform_io(page.unwrap()).records:
            found[int(raw["id"])] = _instant(raw.get("mod_ts"))
    return IOSuccess(found)


def compare(
    entity: str, source: dict[int, datetime | None], target: dict[int, datetime]
) -> EntityDiff:
    both = source.keys() & target.keys()
    source_times = [t for t in source.values() if t is not None]
    return EntityDiff(
        entity=entity,
        source_count=len(source),
        target_count=len(target),
        missing=tuple(sorted(source.keys() - target.keys())),
        extra=tuple(sorted(target.keys() - source.keys())),
        changed=tuple(sorted(i for i in both if source[i] != target[i])),
        source_newest=max(source_times, default=None),
        target_newest=max(target.values(), default=None),
    )


def verify_entity(source: WmsSource, sink: RecordSink, entity: str) -> EntityDiff | DomainError:
    described = source.describe(entity)  # the list of an unknown entity would just be empty
    if not is_successful(described):
        return unsafe_perform_io(described.failure())
    read = source_ids(source, entity)
    if not is_successful(read):
        return unsafe_perform_io(read.failure())
    loaded = sink.snapshot(entity)
    if not is_successful(loaded):
        return unsafe_perform_io(loaded.failure())
    return compare(entity, unsafe_perform_io(read.unwrap()), unsafe_perform_io(loaded.unwrap()))


def _ids(ids: tuple[int, ...]) -> str:
    shown = ", ".join(map(str, ids[:_SHOWN_IDS]))
    more = f" (+{len(ids) - _SHOWN_IDS} more)" if len(ids) > _SHOWN_IDS else ""
    return f"{len(ids)}" + (f": {shown}{more}" if ids else "")


@click.command()
@click.option(
    "--entity",
    "-e",
    "entities",
    multiple=True,
    metavar="ENTITY",
    help="Verify only this entity (repeatable); default: GRUPONOS_ENTITIES.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def verify(cli: CliContext, entities: tuple[str, ...], as_json: bool) -> None:
    """Compare the WMS with the loaded tables; exit 1 when they differ, 2 for an entity the
    WMS does not have.

    Rows deleted in the WMS stay "extra" until a full sync soft-deletes them.
    """
    settings = cli.settings(entities=entities)
    diffs: list[EntityDiff] = []
    with cli.wired(settings) as container:
        source, sink = container.verify_wms(), container.sink()
        for entity in settings.entities:
            outcome = verify_entity(source, sink, entity)
            if isinstance(outcome, DomainError) and outcome.code == "wms.not_found":
                fail(
                    f"error: the WMS has no entity {entity!r} (its describe answered 404 Not "
                    "Found); check --entity or GRUPONOS_ENTITIES [wms.not_found]",
                    ExitCode.CONFIG,
                )
            if isinstance(outcome, DomainError):
                fail_with(outcome)
            diffs.append(outcome)
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
                    f"{_iso(d.source_newest)} / {_iso(d.target_newest)}",
                )
                for d in diffs
            ],
        )
    if not all(d.clean for d in diffs):
        raise SystemExit(int(ExitCode.FAILED))
