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
from gruponos.application.commit import SaveAfterCommit
from gruponos.application.ports import BatchCommit, StateStore, SyncEvent
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
    commit: BatchCommit
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
            self.commit,
        )


def world(wms: InMemoryWms, *, state_in_sink: bool = True) -> World:
    """As the container wires it: with the state in the sink, the sink commits each batch with
    its checkpoint; with the state apart, the state store saves it after the sink's commit."""
    db = InMemoryDatabase()
    sink = InMemorySink(db)
    state: StateStore
    commit: BatchCommit
    if state_in_sink:
        state, commit = InMemorySinkState(db), sink
    else:
        state = InMemoryStateStore()
        commit = SaveAfterCommit(sink, state)
    return World(
        wms, db, sink, state, commit, ManualClock(), RecordingObserver(), itertools.count(1)
    )
