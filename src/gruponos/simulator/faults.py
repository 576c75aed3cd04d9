"""Deterministic fault injection: a seeded random rate plus a queue of forced faults."""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from collections.abc import Iterable

from gruponos.simulator.config import FaultKind


class FaultInjector:
    """Decides, per list/detail request, whether and how it fails.

    Forced faults (:meth:`force`) come first, in order; then each request fails with probability
    ``rate`` with a kind drawn from ``kinds``, both from a generator seeded with ``seed``.
    """

    def __init__(self, rate: float, kinds: Iterable[FaultKind], seed: int) -> None:
        self._rate = rate
        self._kinds = sorted(kinds, key=lambda k: k.value)  # stable order for the seeded draw
        self._rng = random.Random(seed)
        self._forced: deque[FaultKind] = deque()
        self._lock = threading.Lock()
        self.injected: Counter[FaultKind] = Counter()

    def force(self, kind: FaultKind, count: int = 1) -> None:
        """Make the next ``count`` list/detail requests fail with ``kind``."""
        with self._lock:
            self._forced.extend([kind] * count)

    def clear(self) -> None:
        with self._lock:
            self._forced.clear()

    def next_fault(self) -> FaultKind | None:
        with self._lock:
            if self._forced:
                kind: FaultKind | None = self._forced.popleft()
            elif self._rate > 0 and self._kinds and self._rng.random() < self._rate:
                kind = self._rng.choice(self._kinds)
            else:
                kind = None
            if kind is not None:
                self.injected[kind] += 1
            return kind
