"""Tables for people (rich) and JSON for machines, on stdout.

rich is imported by the functions that draw, so ``--json`` output and ``--help`` do not load it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gruponos.adapters.urls import redact

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from gruponos.domain.runs import SyncReport

_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "rejected": "yellow",
    "running": "cyan",
    "queued": "cyan",
    "interrupted": "yellow",
    "cancelled": "yellow",
    "abandoned": "magenta",
}


def stdout_console() -> Console:
    """A console on the current stdout; wide enough off a terminal that tables do not wrap."""
    from rich.console import Console  # noqa: PLC0415 - rich only to draw

    tty = sys.stdout.isatty()
    return Console(file=sys.stdout, width=None if tty else 160, soft_wrap=not tty)


def print_json(data: Any) -> None:
    sys.stdout.write(redact(json.dumps(data, indent=2, sort_keys=True, default=str)) + "\n")


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.markup import escape  # noqa: PLC0415 - rich only to draw
    from rich.table import Table  # noqa: PLC0415

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if value is None else escape(redact(str(value))) for value in row))
    stdout_console().print(table)


def status_text(status: str) -> str:
    return f"[{_STYLE.get(status, 'white')}]{status}[/]"


def report_table(report: SyncReport) -> Table:
    """The final report of a run: one row per entity and a total."""
    from rich.table import Table  # noqa: PLC0415 - rich only to draw

    title = f"{report.mode.value} sync {report.run_id}: {status_text(report.status.value)}" + (
        " (dry run: nothing written)" if report.dry_run else ""
    )
    table = Table(title=title, title_justify="left")
    columns = (
        "entity",
        "status",
        "read",
        "written",
        "stale",
        "quarantined",
        "deleted",
        "pages",
        "retries",
        "seconds",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in ("entity", "status") else "right")
    for e in report.entities:
        table.add_row(
            e.entity,
            status_text(e.status.value),
            f"{e.read:,}",
            f"{e.written:,}",
            f"{e.stale:,}",
            f"{e.quarantined:,}",
            f"{e.deleted:,}",
            f"{e.pages:,}",
            f"{e.retried_requests:,}",
            f"{e.seconds:.2f}",
        )
    totals = report.totals
    seconds = (
        (report.finished_at - report.started_at).total_seconds() if report.finished_at else 0.0
    )
    table.add_row(
        "[bold]total",
        "",
        f"{totals['read']:,}",
        f"{totals['written']:,}",
        f"{totals['stale']:,}",
        f"{totals['quarantined']:,}",
        f"{totals['deleted']:,}",
        f"{totals['pages']:,}",
        f"{totals['retried_requests']:,}",
        f"{seconds:.2f}",
    )
    return table


def print_report(report: SyncReport) -> None:
    from rich.markup import escape  # noqa: PLC0415 - rich only to draw

    console = stdout_console()
    console.print(report_table(report))
    for finding in report.checks or ():
        if finding.count:
            console.print(
                f"[yellow]check[/] {finding.check} {finding.entity}: {escape(finding.summary)}",
                highlight=False,
            )
    for e in report.entities:
        if e.error:
            console.print(f"[red]{e.entity}[/]: {escape(redact(e.error))}", highlight=False)
        for warning in e.warnings:
            console.print(
                f"[yellow]{e.entity}[/]: warning: {escape(redact(warning))}", highlight=False
            )
        if e.required_nulls:
            nulls = ", ".join(f"{name} {count:,}" for name, count in e.required_nulls)
            console.print(
                f"{e.entity}: data quality: null where describe says required (loaded, "
                f"counted): {escape(nulls)}",
                highlight=False,
            )
