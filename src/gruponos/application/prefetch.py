"""Read ahead: iterate a slow iterator (pages over HTTP) through a bounded queue and a thread."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Prefetched(Generic[T]):
    """Iterates ``items`` through a reader thread and a queue of at most ``depth`` items.

    The reader fetches the next pages while the caller normalizes and writes (httpx releases the
    GIL while it waits on the socket). Leaving the ``with`` block stops the reader and closes
    ``items``, also when the caller stops early. ``depth`` 0 iterates in the calling thread.
    """

    _END: Any = object()

    def __init__(self, items: Iterator[T], depth: int) -> None:
        self._items = items
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(depth, 1))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if depth > 0:
            self._thread = threading.Thread(target=self._read, name="gruponos-reader", daemon=True)

    def __enter__(self) -> Iterator[T]:
        if self._thread is None:
            return self._items
        self._thread.start()
        return self._drain()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._thread is None:
            _close(self._items)
            return
        self._stop.set()
        while self._thread.is_alive():
            try:  # unblock a reader waiting for room in the queue
                self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
        self._thread.join()

    def _read(self) -> None:
        try:
            for item in self._items:
                if not self._put(item):
                    return
            self._put(self._END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises
            self._put(_Raised(exc))
        finally:
            _close(self._items)

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    def _drain(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item


@dataclass(frozen=True, slots=True)
class _Raised:
    error: BaseException


def _close(items: Iterator[Any]) -> None:
    close = getattr(items, "close", None)
    if close is not None:
        close()
