"""Progress bars on a terminal (rich): one line per entity with records, pages, rate, retries.

Implements ``SyncObserver``. Use it as a context manager around the run; the CLI shows it only
when stderr is a terminal, and logs JSON lines otherwise. rich is imported when a display is
made, so a run without one does not load it.
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

    def __init__(self, stream: TextIO | None = None, width: int | None = None) -> None:
        from rich.console import Console  # noqa: PLC0415 - rich only when drawing
        from rich.progress import (  # noqa: PLC0415
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = Console(file=stream, stderr=stream is None, width=width)
        self._progress = Progress(
            SpinnerColumn(finished_text="•"),
            TextColumn("[bold]{task.description:<11}"),
            TextColumn(
                "{task.fields[records]:>9,} records {task.fields[pages]:>4} pages "
                "{task.fields[rate]:>7,.0f} rec/s {task.fields[retries]} retries "
                "{task.fields[status]}"
            ),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._started: dict[str, float] = {}
        self._records: dict[str, int] = {}

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
            self._tasks[entity] = self._progress.add_task(
                entity, total=None, records=0, pages=0, rate=0.0, retries=0, status=""
            )
        elif event.kind == "page_read" and entity in self._tasks:
            task = self._progress.tasks[self._task_index(entity)]
            self._records[entity] += int(event.data.get("records", 0))
            elapsed = max(time.monotonic() - self._started[entity], 1e-6)
            self._progress.update(
                self._tasks[entity],
                records=self._records[entity],
                pages=task.fields["pages"] + 1,
                rate=self._records[entity] / elapsed,
                retries=task.fields["retries"] + int(event.data.get("retries", 0)),
            )
        elif event.kind == "entity_finished" and entity in self._tasks:
            status = str(event.data.get("status", ""))
            style = _STATUS_STYLE.get(status, "white")
            self._progress.update(
                self._tasks[entity], total=1, completed=1, status=f"[{style}]{status}[/]"
            )
        elif event.kind == "warning":
            self.console.print(f"[yellow]warning[/] {entity} {event.data.get('message', '')}")
        elif event.kind == "retrying_run":
            self.console.print(
                f"[yellow]run failed; retry {event.data.get('attempt')}/{event.data.get('of')} "
                f"in {event.data.get('seconds')} s for {', '.join(event.data.get('entities', []))}"
            )

    def _task_index(self, entity: str) -> int:
        task_id = self._tasks[entity]
        return next(i for i, t in enumerate(self._progress.tasks) if t.id == task_id)
