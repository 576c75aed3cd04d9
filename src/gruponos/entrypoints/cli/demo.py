"""``gruponos demo``: the whole product in one command, with a stand-in WMS.

Starts the simulator in-process with a seeded data set, runs a full sync into a local SQLite file
(which also bookmarks the incremental pipeline at the source's high-water mark), changes data in
the simulator (touch, insert, delete), runs an incremental sync that reads only the changes, and
prints a summary and sample queries over the loaded tables.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.domain.checkpoints import SyncMode
from gruponos.domain.naming import DEFAULT_ENTITIES
from gruponos.domain.runs import SyncReport
from gruponos.entrypoints.cli.context import CliContext, ExitCode, fail, fail_with, pass_cli
from gruponos.entrypoints.cli.render import print_table, stdout_console
from gruponos.entrypoints.cli.sync_cmd import run_sync
from gruponos.entrypoints.results import report_of

if TYPE_CHECKING:
    from gruponos.settings import Settings

ENTITIES = DEFAULT_ENTITIES
#: (entity, touched, inserted, deleted) between the two syncs.
CHANGES = (("order_hdr", 40, 10, 5), ("order_dtl", 60, 25, 0), ("allocation", 80, 30, 10))


@click.command()
@click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("gruponos-demo.db"),
    show_default=True,
    help="SQLite file to load (replaced if it exists).",
)
@click.option(
    "--records",
    type=click.IntRange(10, 200_000),
    default=3000,
    show_default=True,
    help="Records per entity in the simulated WMS.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Data generator seed.")
@pass_cli
def demo(cli: CliContext, db_path: Path, records: int, seed: int) -> None:
    """Simulated WMS -> full sync into SQLite -> changes -> incremental sync -> summary."""
    from gruponos.settings import load_settings  # noqa: PLC0415 - loaded by the command only
    from gruponos.simulator import SimulatorConfig, WmsSimulator  # noqa: PLC0415

    progress = cli.show_progress()
    out = stdout_console()
    started = time.monotonic()
    db_path = db_path.resolve()
    for stale in (db_path, db_path.with_name(db_path.name + "-journal")):
        stale.unlink(missing_ok=True)
    config = SimulatorConfig(records=records, seed=seed)
    with WmsSimulator(config) as sim:
        loaded = load_settings(
            env_file=None,
            entities=ENTITIES,
            wms={
                "base_url": sim.base_url,
                "username": config.username,
                "password": config.password,
                "page_size": 1000,
            },
            sink={"url": f"sqlite:///{db_path}", "table_prefix": "WMS_"},
            state={"kind": "sink"},
        )
        if not is_successful(loaded):
            fail_with(loaded.failure())
        settings = loaded.unwrap()
        cli.configure_logging(settings, progress=progress)
        out.print(
            f"[bold]gruponos demo[/]: simulated WMS at {sim.base_url} "
            f"({records:,} records per entity), target {db_path}"
        )

        out.print("\n[bold]1. full sync[/] (the initial load)")
        full = _sync(cli, settings, SyncMode.FULL, progress)

        touched: dict[str, tuple[int, int, int]] = {}
        for entity, touch, insert, delete in CHANGES:
            sim.touch(entity, touch)
            sim.insert(entity, insert)
            sim.delete(entity, delete)
            touched[entity] = (touch, insert, delete)
        out.print(
            "\n[bold]2. changes in the WMS[/]: "
            + "; ".join(
                f"{e} {t} touched, {i} inserted, {d} deleted" for e, (t, i, d) in touched.items()
            )
        )

        out.print("\n[bold]3. incremental sync[/] (reads only what changed)")
        incremental = _sync(cli, settings, SyncMode.INCREMENTAL, progress)
    _summary(full, incremental, db_path, time.monotonic() - started)


def _sync(cli: CliContext, settings: Settings, mode: SyncMode, progress: bool) -> SyncReport:
    result = run_sync(cli, settings, mode, progress=progress)
    report = report_of(result)
    if report is None:
        fail_with(unsafe_perform_io(result.failure()))
    if report.error:
        fail(f"demo: the {mode.value} sync failed: {report.error}", ExitCode.FAILED)
    return report


def _summary(full: SyncReport, incremental: SyncReport, db_path: Path, seconds: float) -> None:
    import sqlite3  # noqa: PLC0415 - the demo's own database driver, for the summary only

    rows = []
    with sqlite3.connect(db_path) as db:
        for f, i in zip(full.entities, incremental.entities, strict=True):
            table = f"WMS_{f.entity.upper()}"
            live = db.execute(
                f'SELECT COUNT(*) FROM "{table}" WHERE "GNOS_DELETED_AT" IS NULL'
            ).fetchone()[0]
            rows.append(
                (
                    f.entity,
                    f"{f.read:,}",
                    f"{f.seconds:.2f}",
                    f"{i.read:,}",
                    f"{i.written:,}",
                    f"{i.seconds:.2f}",
                    f"{live:,}",
                )
            )
        by_status = db.execute(
            'SELECT "STATUS_ID", COUNT(*) FROM "WMS_ORDER_HDR" WHERE "GNOS_DELETED_AT" IS NULL'
            ' GROUP BY "STATUS_ID" ORDER BY 2 DESC, 1'
        ).fetchall()
        biggest = db.execute(
            'SELECT h."ORDER_NBR", h."STATUS_ID", COUNT(d."ID") FROM "WMS_ORDER_HDR" h'
            ' JOIN "WMS_ORDER_DTL" d ON d."ORDER_ID" = h."ID"'
            ' WHERE h."GNOS_DELETED_AT" IS NULL AND d."GNOS_DELETED_AT" IS NULL'
            ' GROUP BY h."ID", h."ORDER_NBR", h."STATUS_ID" ORDER BY 3 DESC, 1 LIMIT 5'
        ).fetchall()
    click.echo()
    print_table(
        "demo summary",
        (
            "entity",
            "full: read",
            "full: s",
            "incremental: read",
            "incremental: written",
            "incremental: s",
            "rows in table",
        ),
        rows,
    )
    print_table(
        "sample query: orders by status (WMS_ORDER_HDR)", ("status_id", "orders"), by_status
    )
    print_table(
        "sample query: orders with the most lines (WMS_ORDER_HDR join WMS_ORDER_DTL)",
        ("order_nbr", "status_id", "lines"),
        biggest,
    )
    click.echo(
        f"demo finished in {seconds:.1f} s: full run {full.run_id}, incremental run "
        f"{incremental.run_id}.\nRows deleted in the WMS are marked deleted by the next full sync "
        f"(GNOS_DELETED_AT). Query the data: sqlite3 {db_path}"
    )
