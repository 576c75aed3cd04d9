"""Read ahead: iterate slow iterators (pages over HTTP) through reader threads and a bounded
queue; :class:`Merged` reads one (an incremental read) or several at once (the id windows of a
full sync)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Generic, TypeVar

T = TypeVar("T")


_NOTHING: Any = object()


@dataclass(frozen=True, slots=True)
class Ended:
    """Iterator ``index`` of a :class:`Merged` is exhausted (everything it gave came before)."""

    index: int


class Merged(Generic[T]):
    """Iterates several iterators at once: ``(index, item)`` pairs, and ``(index, Ended)`` once
    iterator ``index`` is exhausted. Items of one iterator keep their order.

    Reader threads, one per iterator, feed one queue of at most ``depth`` items, so memory stays
    bounded. They start as the caller needs them: the first at once, another when the source is
    the bottleneck, or when the running ones are all exhausted. The source is the bottleneck
    when, since the last reader started and once items flow, the caller has waited for items
    ``patience`` seconds in all and (given ``now``, a clock) at least as long as it spent on the
    items it got: then more requests in flight help. So against a fast source the caller's own
    work sets the pace with one reader, and against a far one (each page waits its round trip)
    every iterator is read at the same time. Without ``now``, only waits of a whole timeout
    count. Leaving the ``with`` block stops every reader and closes every
    iterator, also when the caller stops early; an exception raised by an iterator is re-raised
    in the caller. ``depth`` 0 reads the iterators in turn (one item of each) in the calling
    thread.

    ``should_stop`` is asked while the caller waits for an item (every ``_POLL`` seconds) and
    before each item: once it says yes, the iteration ends as if exhausted, and leaving the block
    does not wait for readers still inside a request (they are daemon threads; they stop at their
    next item). So a run asked to stop does not wait a request's timeout to obey.
    """

    _POLL = 0.1

    def __init__(
        self,
        items: Sequence[Iterator[T]],
        depth: int,
        patience: float = 0.2,
        should_stop: Callable[[], bool] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._items = list(items)
        self._now = now
        self._depth = depth
        self._patience = patience
        self._should_stop = should_stop
        self._stopped_early = False
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(depth, 1))
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._read, args=(i, it), name=f"gruponos-reader-{i}", daemon=True
            )
            for i, it in enumerate(self._items)
        ]
        self._started = 0

    @property
    def started(self) -> int:
        """How many reader threads were started."""
        return self._started

    def __enter__(self) -> Iterator[tuple[int, T | Ended]]:
        if self._depth <= 0:
            return self._serial()
        return self._drain()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._depth <= 0:
            for items in self._items:
                _close(items)
            return
        self._stop.set()
        started = self._threads[: self._started]
        if self._stopped_early:  # readers may be inside a request: they end on their own
            for items in self._items[self._started :]:
                _close(items)
            return
        while any(t.is_alive() for t in started):
            try:  # unblock readers waiting for room in the queue
                self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
        for thread in started:
            thread.join()
        for items in self._items[self._started :]:
            _close(items)  # never read

    def _serial(self) -> Iterator[tuple[int, T | Ended]]:
        """Round robin: one item of each iterator in turn (interleaved as threads would)."""
        running = dict(enumerate(self._items))
        while running:
            for index, items in list(running.items()):
                if self._stopping():
                    return
                item = next(items, _NOTHING)
                if item is _NOTHING:
                    del running[index]
                    yield index, Ended(index)
                else:
                    yield index, item

    def _stopping(self) -> bool:
        if self._should_stop is not None and self._should_stop():
            self._stopped_early = True
        return self._stopped_early

    def _wait(self, more: bool) -> float | None:
        """How long one wait for an item may last before looking up again."""
        if self._should_stop is None:
            return self._patience if more else None
        return min(self._patience, self._POLL) if more else self._POLL

    def _seconds(self) -> float:
        """Seconds on the clock (0 without one: then only whole timeouts count as waiting)."""
        return 0.0 if self._now is None else self._now().timestamp()

    def _start_next(self) -> None:
        if self._started < len(self._threads):
            self._threads[self._started].start()
            self._started += 1

    def _read(self, index: int, items: Iterator[T]) -> None:
        try:
            for item in items:
                if not self._put((index, item)):
                    return
            self._put((index, Ended(index)))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises
            self._put(_Raised(exc))
        finally:
            _close(items)

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    def _drain(self) -> Iterator[tuple[int, T | Ended]]:
        total = len(self._items)
        ended = 0
        flowing = False  # the wait for the very first item (connecting, first page) is no sign
        waited = 0.0  # seconds waited for items since the last reader started
        busy = 0.0  # seconds the caller spent on items since then
        self._start_next()
        while ended < total:
            if self._started == ended:  # every started reader is done: start the next
                self._start_next()
            more = flowing and self._started < total
            if self._stopping():
                return
            if more and waited >= self._patience and waited >= busy:
                self._start_next()  # the source is the bottleneck: one more request in flight
                waited = busy = 0.0
                continue
            timeout = self._wait(more)
            began = self._seconds()
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                if flowing:
                    waited += timeout or 0.0
                continue
            if flowing:
                waited += self._seconds() - began
            flowing = True
            if isinstance(item, _Raised):
                raise item.error
            if isinstance(item[1], Ended):
                ended += 1
            handed = self._seconds()
            yield item
            busy += self._seconds() - handed


@dataclass(frozen=True, slots=True)
class _Raised:
    error: BaseException


def _close(items: Iterator[Any]) -> None:
    close = getattr(items, "close", None)
    if close is not None:
        close()
