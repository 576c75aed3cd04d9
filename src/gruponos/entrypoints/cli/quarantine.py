"""``gruponos quarantine list|replay``: the records set aside, and loading them after a fix."""

from __future__ import annotations

import click
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.entrypoints.cli import options
from gruponos.entrypoints.cli.context import CliContext, ExitCode, fail, fail_with, pass_cli
from gruponos.entrypoints.cli.render import print_json, print_table
from gruponos.entrypoints.results import replay_reports

_ENTITY = options.entities()
_JSON = options.JSON
_REASON_WIDTH = 120


@click.group()
def quarantine() -> None:
    """Records set aside by validation or by the database, and their replay."""


@quarantine.command("list")
@_ENTITY
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="How many records, newest first.",
)
@click.option("--payload", is_flag=True, help="Show each record's stored payload too.")
@_JSON
@pass_cli
def quarantine_list(
    cli: CliContext, entities: tuple[str, ...], limit: int, payload: bool, as_json: bool
) -> None:
    """The newest quarantined records: entity, id, why, which run, and whether a replay can
    load them (validation rejects) or not (database rejects: the next full sync reads them)."""
    settings = cli.settings(entities=entities)
    with cli.wired(settings) as container:
        store = container.quarantine()
        found = []
        for entity in settings.entities if entities else (None,):
            listed = store.newest(entity, limit)
            if not is_successful(listed):
                fail_with(unsafe_perform_io(listed.failure()))
            found += unsafe_perform_io(listed.unwrap())
    found.sort(key=lambda r: r.seq, reverse=True)
    rows = found[:limit]
    if as_json:
        print_json([{**r.to_json(), **({} if payload else {"payload": None})} for r in rows])
        return
    if not rows:
        click.echo("quarantine is empty" + (f" for {', '.join(entities)}" if entities else ""))
        return
    columns = ["seq", "entity", "id", "kind", "reason", "run", "quarantined at"]
    print_table(
        f"{len(rows)} quarantined record(s), newest first",
        [*columns, "payload"] if payload else columns,
        [
            [
                r.seq,
                r.entity,
                r.record_id,
                r.kind.value,
                _short(r.reason),
                r.run_id,
                r.quarantined_at.isoformat(timespec="seconds"),
                *([r.payload] if payload else []),
            ]
            for r in rows
        ],
    )


@quarantine.command("replay")
@_ENTITY
@click.option(
    "--dry-run",
    is_flag=True,
    help="Normalize again and count what would load; write and release nothing.",
)
@_JSON
@pass_cli
def quarantine_replay(
    cli: CliContext, entities: tuple[str, ...], dry_run: bool, as_json: bool
) -> None:
    """Normalize quarantined records again with each entity's current schema (describe is
    asked again) and load the ones that pass, with the same monotonic upsert as a sync: a
    replayed version never replaces a newer row. Loaded records leave the quarantine; the
    others stay. Exit 0 when the replay ran, 1 when an entity could not be replayed."""
    settings = cli.settings(entities=entities)
    with cli.wired(settings, dry_run=dry_run) as container:
        result = container.replay().run(settings.entities)
    reports, nothing_ran = replay_reports(result)
    if nothing_ran is not None:
        fail_with(nothing_ran)
    if as_json:
        print_json({"dry_run": dry_run, "entities": [r.to_json() for r in reports]})
    else:
        verb = "would load" if dry_run else "loaded"
        print_table(
            "quarantine replay" + (" (dry run: nothing written)" if dry_run else ""),
            ["entity", "examined", verb, "still invalid", "not replayable", "error"],
            [
                [r.entity, r.examined, r.loaded, r.still_invalid, r.not_replayable, r.error]
                for r in reports
            ],
        )
        for r in reports:
            for reason in r.reasons:
                click.echo(f"{r.entity}: still invalid: {_short(reason)}")
    failed = [r for r in reports if r.error is not None]
    if failed:
        fail("; ".join(f"{r.entity}: {r.error}" for r in failed), ExitCode.FAILED)


def _short(text: str) -> str:
    return text if len(text) <= _REASON_WIDTH else text[: _REASON_WIDTH - 3] + "..."
