"""Stopping a run cooperatively: a signal (SIGINT, SIGTERM) or a cancel asks, the run obeys.

The run stops reading, commits the batch in flight with its checkpoint, and ends with the
status asked for (``interrupted`` or ``cancelled``); the next run resumes from that checkpoint.
"""

from __future__ import annotations

import threading

from gruponos.domain.runs import RunStatus


class StopSignal:
    """Thread-safe: set from a signal handler or another thread, read by the running sync.

    >>> stop = StopSignal()
    >>> stop.request(RunStatus.INTERRUPTED, "SIGTERM")
    True
    >>> stop.requested, stop.status, stop.reason
    (True, <RunStatus.INTERRUPTED: 'interrupted'>, 'SIGTERM')
    >>> stop.request(RunStatus.CANCELLED, "cancelled over the API")  # the first request wins
    False
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        # Re-entrant: a signal handler may ask for a stop while the same (main) thread is
        # inside one of these methods; a plain lock would then wait for itself forever.
        self._mutex = threading.RLock()
        self._status = RunStatus.INTERRUPTED
        self._reason = ""

    def request(self, status: RunStatus = RunStatus.INTERRUPTED, reason: str = "stopped") -> bool:
        """Ask the run to stop; ``False`` when a stop was already asked (that one stands)."""
        if not status.stopped:
            raise ValueError(f"a run is stopped as interrupted or cancelled, not {status}")
        with self._mutex:
            if self._event.is_set():
                return False
            self._status, self._reason = status, reason
            self._event.set()
            return True

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    @property
    def status(self) -> RunStatus | None:
        """The status the run ends with, once a stop was asked."""
        with self._mutex:
            return self._status if self._event.is_set() else None

    @property
    def reason(self) -> str:
        with self._mutex:
            return self._reason

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early when a stop is asked; ``True`` if one was."""
        return self._event.wait(seconds)
