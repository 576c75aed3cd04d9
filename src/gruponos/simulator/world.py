"""The simulated data set: stores and record factories of every entity, its clock, and changes."""

from __future__ import annotations

import random
import threading
from datetime import datetime
from typing import Any

from gruponos.simulator.catalog import EntitySpec, load_catalog
from gruponos.simulator.config import ENTITIES, SimulatorConfig
from gruponos.simulator.data import DAY_US, MAX_AGE_US, RecordFactory, Row, from_us, to_us
from gruponos.simulator.store import EntityStore, SimClock


class UnknownEntityError(KeyError):
    pass


class World:
    """All mutable state of one simulator. Every method takes :attr:`lock` itself."""

    def __init__(self, config: SimulatorConfig) -> None:
        catalog = load_catalog()
        self.config = config
        sizes = {e: config.records_of(e) for e in ENTITIES}
        self.specs: dict[str, EntitySpec] = {e: catalog[e] for e in ENTITIES}
        self.factories = {e: RecordFactory(self.specs[e], config.seed, sizes) for e in ENTITIES}
        start_us = to_us(config.data_start)
        span_us = config.data_span_days * DAY_US
        self.stores = {
            e: EntityStore(sizes[e], self.factories[e].hash_of, start_us, span_us) for e in ENTITIES
        }
        # New mod_ts values start after every initial one, so they always sort last.
        self.clock = SimClock(start_us + span_us + MAX_AGE_US + 1_000_000)
        self.lock = threading.RLock()
        self._change_rng = random.Random(config.change_seed)
        self._manual_rng = random.Random(config.seed + 1)
        self._change_rate = config.change_rate
        self._change_mix = config.change_mix
        self.generation = 0  # bumped by every change: a cached page is valid while it holds

    def store(self, entity: str) -> EntityStore:
        try:
            return self.stores[entity]
        except KeyError:
            raise UnknownEntityError(entity) from None

    # -- mutations ---------------------------------------------------------------------------

    def touch(self, entity: str, n: int, rng: random.Random | None = None) -> list[int]:
        """Bump the mod_ts (and version) of ``n`` random live rows; returns their ids."""
        with self.lock:
            store = self.store(entity)
            ids = store.random_live(rng or self._manual_rng, n)
            for ident in ids:
                store.touch(ident, self.clock.tick())
            self.generation += 1
            return ids

    def insert(self, entity: str, n: int) -> list[int]:
        with self.lock:
            store = self.store(entity)
            self.generation += 1
            return [store.insert(self.clock.tick()) for _ in range(n)]

    def delete(self, entity: str, n: int, rng: random.Random | None = None) -> list[int]:
        with self.lock:
            store = self.store(entity)
            ids = store.random_live(rng or self._manual_rng, n)
            for ident in ids:
                store.delete(ident)
            self.generation += 1
            return ids

    def advance_clock(self, seconds: float) -> None:
        with self.lock:
            self.clock.advance(seconds)
            self.generation += 1

    def random_changes(self, entity: str) -> int:
        """Change mode: about ``change_rate`` touches/inserts/deletes; returns how many."""
        if self._change_rate <= 0:
            return 0
        with self.lock:
            rng = self._change_rng
            whole = int(self._change_rate)
            count = whole + (rng.random() < self._change_rate - whole)
            for _ in range(count):
                op = rng.choices(("touch", "insert", "delete"), weights=self._change_mix)[0]
                if op == "touch":
                    self.touch(entity, 1, rng)
                elif op == "insert":
                    self.insert(entity, 1)
                else:
                    self.delete(entity, 1, rng)
            return count

    # -- ground truth ------------------------------------------------------------------------

    def truth(self, entity: str) -> dict[int, datetime]:
        with self.lock:
            return {i: from_us(ts) for i, ts in self.store(entity).truth().items()}

    def deleted_ids(self, entity: str) -> set[int]:
        with self.lock:
            return set(self.store(entity).deleted)

    def row(self, entity: str, ident: int, root: str) -> Row | None:
        with self.lock:
            store = self.store(entity)
            if not store.is_live(ident):
                return None
            i = ident - 1
            return self.factories[entity].row(
                ident, store.ver[i], store.mod[i], store.create[i], root
            )

    def record(
        self, entity: str, ident: int, root: str, fields: list[str] | None = None
    ) -> dict[str, Any] | None:
        row = self.row(entity, ident, root)
        return None if row is None else self.factories[entity].record(row, fields)
