"""Per-entity state: a few bytes per id, and an append-only (mod_ts, id) index.

Per id the store keeps ``mod_ts`` and ``create_ts`` (microseconds, ``array('q')``), a version
counter (``array('I')``) and an alive flag (``bytearray``); ids are dense from 1, inserted rows
extend the arrays. The ``(mod_ts, id)`` index is built on first use by sorting once; afterwards
every new ``mod_ts`` comes from a monotonic clock, so a touched or inserted row is *appended* and
the index stays sorted. The entry a touch leaves behind is stale (its ts no longer matches the
row) and is skipped while scanning; the index is compacted when stale entries pile up.

Callers hold the simulator's lock around every method: the store itself is not thread-safe.
"""

from __future__ import annotations

import random
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from itertools import compress

from gruponos.simulator.data import MAX_AGE_US


class SimClock:
    """The simulator's clock for ``mod_ts``: strictly increasing, logical (deterministic)."""

    def __init__(self, start_us: int, step_us: int = 1000) -> None:
        self.now_us = start_us
        self._step = step_us

    def tick(self) -> int:
        self.now_us += self._step
        return self.now_us

    def advance(self, seconds: float) -> None:
        self.now_us += max(1, int(seconds * 1_000_000))


class EntityStore:
    """Versions, timestamps and liveness of every id of one entity."""

    def __init__(self, n: int, hash_of: Callable[[int], int], start_us: int, span_us: int):
        self.n_initial = n
        step = max(1, span_us // max(n, 1))
        self.create = array("q", bytes(8 * n))
        self.mod = array("q", bytes(8 * n))
        for i in range(n):
            h = hash_of(i + 1)
            created = start_us + i * step + h % step  # strictly increasing with id
            self.create[i] = created
            self.mod[i] = created + (h >> 24) % MAX_AGE_US
        self.ver = array("I", bytes(4 * n))
        self.alive = bytearray(b"\x01") * n
        self.live = n
        self.deleted: list[int] = []
        self._idx_ts: array[int] | None = None
        self._idx_id: array[int] = array("q")
        self._stale = 0

    @property
    def max_id(self) -> int:
        return len(self.mod)

    def nbytes(self) -> int:
        """Bytes held by this store's per-id structures (arrays, flags, index, deleted list)."""
        parts: list[object] = [
            self.create,
            self.mod,
            self.ver,
            self.alive,
            self.deleted,
            self._idx_id,
        ]
        if self._idx_ts is not None:
            parts.append(self._idx_ts)
        return sum(sys.getsizeof(p) for p in parts) + 32 * len(self.deleted)

    def is_live(self, ident: int) -> bool:
        return 1 <= ident <= len(self.mod) and self.alive[ident - 1] == 1

    # -- mutations ---------------------------------------------------------------------------

    def touch(self, ident: int, ts: int) -> None:
        self.ver[ident - 1] += 1
        self.mod[ident - 1] = ts
        self._append(ts, ident)
        self._stale += 1

    def insert(self, ts: int) -> int:
        self.mod.append(ts)
        self.create.append(ts)
        self.ver.append(0)
        self.alive.append(1)
        self.live += 1
        ident = len(self.mod)
        self._append(ts, ident)
        return ident

    def delete(self, ident: int) -> None:
        self.alive[ident - 1] = 0
        self.deleted.append(ident)
        self.live -= 1
        self._stale += 1

    def random_live(self, rng: random.Random, count: int) -> list[int]:
        """Up to ``count`` distinct live ids, chosen by ``rng``."""
        chosen: list[int] = []
        attempts = 0
        while len(chosen) < min(count, self.live) and attempts < 50 * count + 100:
            attempts += 1
            ident = rng.randrange(1, len(self.mod) + 1)
            if self.alive[ident - 1] and ident not in chosen:
                chosen.append(ident)
        return chosen

    # -- scans (callers filter further) ------------------------------------------------------

    def scan_ids(
        self, desc: bool, after: int | None, lo: int | None, hi: int | None
    ) -> Iterator[int]:
        """Live ids in id order, strictly after ``after`` (in scan direction), within lo..hi."""
        first, last = max(1, lo or 1), min(len(self.mod), hi if hi is not None else len(self.mod))
        if after is not None:
            if desc:
                last = min(last, after - 1)
            else:
                first = max(first, after + 1)
        if first > last:
            return iter(())
        alive = memoryview(self.alive)
        if desc:
            return compress(range(last, first - 1, -1), reversed(alive[first - 1 : last]))
        return compress(range(first, last + 1), alive[first - 1 : last])

    def scan_mod(
        self, desc: bool, after: tuple[int, int] | None, lo: int | None, hi: int | None
    ) -> Iterator[tuple[int, int]]:
        """Live ``(mod_ts, id)`` in that order, strictly after ``after``, mod_ts within lo..hi."""
        idx_ts, idx_id = self._index()
        mod, alive = self.mod, self.alive
        if desc:
            pos = len(idx_ts) - 1 if hi is None else bisect_right(idx_ts, hi) - 1
            if after is not None:
                left = bisect_left(idx_ts, after[0])
                right = bisect_right(idx_ts, after[0], left)
                pos = min(pos, bisect_left(idx_id, after[1], left, right) - 1)
            while pos >= 0:
                ts = idx_ts[pos]
                if lo is not None and ts < lo:
                    return
                ident = idx_id[pos]
                pos -= 1
                if alive[ident - 1] and mod[ident - 1] == ts:
                    yield ts, ident
            return
        pos = 0 if lo is None else bisect_left(idx_ts, lo)
        if after is not None:
            left = bisect_left(idx_ts, after[0])
            right = bisect_right(idx_ts, after[0], left)
            pos = max(pos, bisect_right(idx_id, after[1], left, right))
        while pos < len(idx_ts):
            ts = idx_ts[pos]
            if hi is not None and ts > hi:
                return
            ident = idx_id[pos]
            pos += 1
            if alive[ident - 1] and mod[ident - 1] == ts:
                yield ts, ident

    def truth(self) -> dict[int, int]:
        """Live id -> mod_ts in microseconds."""
        return {i + 1: ts for i, ts in enumerate(self.mod) if self.alive[i]}

    # -- index maintenance -------------------------------------------------------------------

    def _append(self, ts: int, ident: int) -> None:
        if self._idx_ts is not None:
            self._idx_ts.append(ts)
            self._idx_id.append(ident)

    def _index(self) -> tuple[array[int], array[int]]:
        if self._idx_ts is None or (self._stale > 1000 and self._stale * 4 > self.live):
            mod = self.mod
            order = sorted(
                (i for i in range(1, len(mod) + 1) if self.alive[i - 1]),
                key=lambda i: mod[i - 1],
            )  # stable: equal mod_ts stay in id order
            self._idx_ts = array("q", [mod[i - 1] for i in order])
            self._idx_id = array("q", order)
            self._stale = 0
        return self._idx_ts, self._idx_id
