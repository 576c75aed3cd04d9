"""Where a sync stands: positions, checkpoints and the read windows they give."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class SyncMode(StrEnum):
    FULL = "full"
    INCREMENTAL = "incremental"


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A point in the incremental read order ``(mod_ts, id)``; ordering compares both."""

    mod_ts: datetime
    id: int


@dataclass(frozen=True, slots=True)
class StateKey:
    """State is kept per (pipeline, entity); the pipeline is the sync mode's name by default."""

    pipeline: str
    entity: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """How far a pipeline got for one entity, over committed data only.

    - incremental: ``position`` is the newest ``(mod_ts, id)`` committed;
    - full: ``generation`` names the full pass (its first run id), ``last_id`` the highest id
      committed in that pass (``windows``: what is left of each id window when the pass reads
      several at once), ``complete`` whether the pass finished (soft deletes done), and
      ``high_water`` the source's newest ``(mod_ts, id)`` when the pass started: everything
      changed after it has a later ``mod_ts``, so an incremental sync can start there.
    """

    mode: SyncMode
    position: Position | None = None
    generation: str | None = None
    last_id: int | None = None
    complete: bool = False
    high_water: Position | None = None
    #: Full pass read in parallel id windows: what is left of each unfinished window (a window
    #: read to its end is dropped). Empty: one window, after ``last_id``.
    windows: tuple[FullWindow, ...] = ()

    def remaining(self) -> tuple[FullWindow, ...]:
        """The id windows an unfinished full pass still has to read."""
        return self.windows or (FullWindow(after_id=self.last_id),)

    def advanced_to(self, position: Position | None, last_id: int | None) -> Checkpoint:
        """The checkpoint moved forward, never backward."""
        new_position = self.position
        if position is not None and (new_position is None or position > new_position):
            new_position = position
        new_last = self.last_id
        if last_id is not None and (new_last is None or last_id > new_last):
            new_last = last_id
        return replace(self, position=new_position, last_id=new_last)

    def to_json(self) -> dict[str, Any]:
        """A plain JSON-able form, for state stores (stable across versions)."""
        return {
            "mode": self.mode.value,
            "mod_ts": self.position.mod_ts.isoformat() if self.position else None,
            "id": self.position.id if self.position else None,
            "generation": self.generation,
            "last_id": self.last_id,
            "complete": self.complete,
            "high_water": _position_json(self.high_water),
            "windows": [w.to_json() for w in self.windows],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        """Inverse of :meth:`to_json`; raises ``ValueError``/``KeyError`` on a corrupt document."""
        last_id = data.get("last_id")
        high_water = data.get("high_water")
        return cls(
            mode=SyncMode(data["mode"]),
            position=_position_from(data),
            generation=data.get("generation"),
            last_id=None if last_id is None else int(last_id),
            complete=bool(data.get("complete", False)),
            high_water=_position_from(high_water) if isinstance(high_water, Mapping) else None,
            windows=tuple(FullWindow.from_json(w) for w in data.get("windows") or ()),
        )


def _position_json(position: Position | None) -> dict[str, Any] | None:
    return None if position is None else {"mod_ts": position.mod_ts.isoformat(), "id": position.id}


def _position_from(data: Mapping[str, Any]) -> Position | None:
    if data.get("mod_ts") is None:
        return None
    mod_ts = datetime.fromisoformat(str(data["mod_ts"]))
    if mod_ts.tzinfo is None:
        raise ValueError("checkpoint mod_ts has no UTC offset")
    return Position(mod_ts, int(data["id"]))


@dataclass(frozen=True, slots=True)
class FullWindow:
    """Read every record with ``after_id < id < until_id`` in id order (``None``: unbounded)."""

    after_id: int | None = None
    until_id: int | None = None

    def to_json(self) -> list[int | None]:
        return [self.after_id, self.until_id]

    @classmethod
    def from_json(cls, data: Any) -> FullWindow:
        after, until = data
        return cls(
            after_id=None if after is None else int(after),
            until_id=None if until is None else int(until),
        )


def split_ids(low: int, high: int, parts: int, min_span: int = 1) -> tuple[FullWindow, ...]:
    """Disjoint windows that together cover every id (the first and last are open-ended, so ids
    below ``low`` or above ``high`` -- inserted during the pass -- belong to one of them).

    At most ``parts`` windows, each spanning at least ``min_span`` ids of ``low..high``.

    >>> split_ids(1, 100, 4)
    (FullWindow(after_id=None, until_id=26), FullWindow(after_id=25, until_id=51), \
FullWindow(after_id=50, until_id=76), FullWindow(after_id=75, until_id=None))
    """
    span = high - low + 1
    count = max(1, min(parts, span // max(min_span, 1)))
    if count == 1:
        return (FullWindow(),)
    cuts = [low + span * k // count for k in range(1, count)]  # each window starts at a cut
    starts: list[int | None] = [None, *cuts]
    ends: list[int | None] = [*cuts, None]
    return tuple(
        FullWindow(after_id=None if start is None else start - 1, until_id=end)
        for start, end in zip(starts, ends, strict=True)
    )


@dataclass(frozen=True, slots=True)
class IncrementalWindow:
    """Read records with ``mod_ts >= since`` in ``(mod_ts, id)`` order."""

    since: datetime | None


ReadWindow = FullWindow | IncrementalWindow


def incremental_window(checkpoint: Checkpoint | None, overlap: timedelta) -> IncrementalWindow:
    """Read from (checkpoint - overlap); everything when there is no checkpoint yet."""
    if checkpoint is None or checkpoint.position is None:
        return IncrementalWindow(since=None)
    return IncrementalWindow(since=checkpoint.position.mod_ts - overlap)
