"""Progress bars on a terminal (rich): one line per entity with records, pages, rate, retries.

Implements ``SyncObserver``. Use it as a context manager around the run; the CLI shows it only
when stderr is a terminal, and logs JSON lines otherwise. rich is imported when a display is
made, so a run without one does not load it.

A new full pass reports the entity's lowest and highest id (the ``id_bounds`` event): the line
then shows a bar, a percentage and the time left, estimated from that id range (ids can have
gaps, so it is labelled ``est.``). Without bounds (incremental runs, a resumed pass, a single
reader) the line shows counts and a spinner. Log lines are printed through :attr:`console`, so
they appear above the bars instead of on them.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from gruponos.application.ports import SyncEvent

if TYPE_CHECKING:
    from rich.progress import TaskID

_STATUS_STYLE = {"succeeded": "green", "failed": "red", "rejected": "yellow"}


class RichProgressObserver:
    """Draws the progress of a sync run on ``stream`` (stderr by default)."""

    def __init__(
        self,
        stream: TextIO | None = None,
        width: int | None = None,
        *,
        force_terminal: bool | None = None,
    ) -> None:
        from rich.console import Console  # noqa: PLC0415 - rich only when drawing
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = Console(
            file=stream, stderr=stream is None, width=width, force_terminal=force_terminal
        )
        self._progress = Progress(
            SpinnerColumn(finished_text="•"),
            TextColumn("[bold]{task.description:<11}"),
            BarColumn(bar_width=20),
            TextColumn(
                "{task.fields[records]:>9,}{task.fields[of]} records {task.fields[pct]}"
                "{task.fields[pages]:>4} pages {task.fields[rate]:>7,.0f} rec/s "
                "{task.fields[retries]} retries {task.fields[eta]}{task.fields[status]}"
            ),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._started: dict[str, float] = {}
        self._records: dict[str, int] = {}
        self._estimate: dict[str, int] = {}

    def __enter__(self) -> RichProgressObserver:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def on_event(self, event: SyncEvent) -> None:
        entity = event.entity or ""
        if event.kind == "entity_started":
            self._started[entity] = time.monotonic()
            self._records[entity] = 0
            self._estimate.pop(entity, None)
            self._tasks[entity] = self._progress.add_task(
                entity,
                total=None,
                records=0,
                of="",
                pct="",
                pages=0,
                rate=0.0,
                retries=0,
                eta="",
                status="",
            )
        elif event.kind == "id_bounds" and entity in self._tasks:
            low, high = int(event.data["low"]), int(event.data["high"])
            self._estimate[entity] = max(high - low + 1, 1)
            self._show(entity)
        elif event.kind == "page_read" and entity in self._tasks:
            task = self._progress.tasks[self._task_index(entity)]
            self._records[entity] += int(event.data.get("records", 0))
            self._progress.update(
                self._tasks[entity],
                pages=task.fields["pages"] + 1,
                retries=task.fields["retries"] + int(event.data.get("retries", 0)),
            )
            self._show(entity)
        elif event.kind == "entity_finished" and entity in self._tasks:
            status = str(event.data.get("status", ""))
            style = _STATUS_STYLE.get(status, "white")
            done = max(self._records[entity], 1)
            self._progress.update(
                self._tasks[entity],
                total=done,
                completed=done if status == "succeeded" else self._records[entity],
                eta="",
                status=f"[{style}]{status}[/]",
            )
        elif event.kind == "warning":
            self.console.print(f"[yellow]warning[/] {entity} {event.data.get('message', '')}")
        elif event.kind == "retrying_run":
            self.console.print(
                f"[yellow]run failed; retry {event.data.get('attempt')}/{event.data.get('of')} "
                f"in {event.data.get('seconds')} s for {', '.join(event.data.get('entities', []))}"
            )

    def _show(self, entity: str) -> None:
        """Counts and rate; with an estimate, also the total, percentage and time left."""
        records = self._records[entity]
        elapsed = max(time.monotonic() - self._started[entity], 1e-6)
        rate = records / elapsed
        task = self._tasks[entity]
        estimate = self._estimate.get(entity)
        if estimate is None:
            self._progress.update(task, records=records, rate=rate)
            return
        total = max(estimate, records)  # more than estimated: ids were inserted meanwhile
        left = (total - records) / rate if rate > 0 else None
        self._progress.update(
            task,
            total=total,
            completed=records,
            records=records,
            rate=rate,
            of=f" of ~{total:,} (est.)",
            pct=f"{records / total:4.0%} ",
            eta=f"{_clock(left)} left " if left is not None else "",
        )

    def _task_index(self, entity: str) -> int:
        task_id = self._tasks[entity]
        return next(i for i, t in enumerate(self._progress.tasks) if t.id == task_id)


def _clock(seconds: float) -> str:
    whole = int(seconds + 0.5)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"
