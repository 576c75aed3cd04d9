"""In-memory state store with a per-key run lock (kept apart from the sink: a sync saves each
checkpoint after its batch commits)."""

from __future__ import annotations

from dataclasses import dataclass, field

from returns.io import IOFailure, IOResult, IOSuccess

from gruponos.application.errors import StateError
from gruponos.application.ports import Lease
from gruponos.domain.checkpoints import Checkpoint, StateKey


@dataclass
class _MemoryLease:
    locks: dict[StateKey, str]
    key: StateKey

    def release(self) -> None:
        self.locks.pop(self.key, None)


@dataclass
class InMemoryStateStore:
    """Checkpoints in a dict. ``saves`` records every save, for tests of checkpoint order."""

    checkpoints: dict[StateKey, Checkpoint] = field(default_factory=dict)
    locks: dict[StateKey, str] = field(default_factory=dict)
    saves: list[tuple[StateKey, Checkpoint]] = field(default_factory=list)

    def load(self, key: StateKey) -> IOResult[Checkpoint | None, StateError]:
        return IOSuccess(self.checkpoints.get(key))

    def save(self, key: StateKey, checkpoint: Checkpoint) -> IOResult[None, StateError]:
        self.checkpoints[key] = checkpoint
        self.saves.append((key, checkpoint))
        return IOSuccess(None)

    def reset(self, key: StateKey) -> IOResult[None, StateError]:
        self.checkpoints.pop(key, None)
        return IOSuccess(None)

    def all(self) -> IOResult[dict[StateKey, Checkpoint], StateError]:
        return IOSuccess(dict(self.checkpoints))

    def lock(self, key: StateKey, owner: str) -> IOResult[Lease, StateError]:
        return take_lock(self.locks, key, owner)


def take_lock(locks: dict[StateKey, str], key: StateKey, owner: str) -> IOResult[Lease, StateError]:
    holder = locks.get(key)
    if holder is not None:
        return IOFailure(
            StateError(
                "state.locked",
                f"another run ({holder}) is syncing {key.entity} ({key.pipeline})",
                {"entity": key.entity, "pipeline": key.pipeline, "holder": holder},
            )
        )
    locks[key] = owner
    return IOSuccess(_MemoryLease(locks, key))
