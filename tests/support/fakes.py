"""In-memory wiring of the sync use case, as the container does it with real adapters."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from gruponos.adapters.memory import (
    InMemoryDatabase,
    InMemoryRunHistory,
    InMemorySink,
    InMemoryStateStore,
    InMemoryWms,
    ManualClock,
)
from gruponos.adapters.memory.sink import InMemorySinkState
from gruponos.application.ports import StateStore, SyncEvent
from gruponos.application.sync import SyncEntities, SyncOptions


@dataclass
class RecordingObserver:
    events: list[SyncEvent] = field(default_factory=list)

    def on_event(self, event: SyncEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


@dataclass
class World:
    wms: InMemoryWms
    db: InMemoryDatabase
    sink: InMemorySink
    state: StateStore
    clock: ManualClock
    observer: RecordingObserver
    run_ids: itertools.count[int]

    def use_case(self, options: SyncOptions | None = None) -> SyncEntities:
        return SyncEntities(
            self.wms,
            self.sink,
            self.state,
            InMemoryRunHistory(self.db),
            self.clock,
            lambda: f"run-{next(self.run_ids)}",
            options or SyncOptions(batch_size=7),
            self.observer,
        )


def world(wms: InMemoryWms, *, state_in_sink: bool = True) -> World:
    db = InMemoryDatabase()
    state: StateStore = InMemorySinkState(db) if state_in_sink else InMemoryStateStore()
    return World(
        wms, db, InMemorySink(db), state, ManualClock(), RecordingObserver(), itertools.count(1)
    )
