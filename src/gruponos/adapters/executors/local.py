"""The in-process run executor: a bounded pool of threads, so the API never blocks on a run.

At most ``workers`` runs execute at once and at most ``queue`` more wait; beyond that
:meth:`LocalExecutor.submit` refuses (the API answers 503). Each accepted run gets a
:class:`~gruponos.application.lifecycle.StopSignal`, kept by run id while the run is queued or
running: a cancel requests it, and the run stops as it would on SIGTERM (the batch in flight
commits, the run ends ``cancelled``; a queued run ends before reading anything).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from gruponos.application.lifecycle import StopSignal
from gruponos.application.ports import RunRequest
from gruponos.application.runs import RunLauncher
from gruponos.domain.runs import RunStatus

_log = logging.getLogger("gruponos.executor")


class LocalExecutor:
    """Implements ``RunExecutor`` with a thread pool; ``launch`` executes one run.

    >>> # executor = LocalExecutor(launch, workers=2, queue=8)
    """

    def __init__(self, launch: RunLauncher, *, workers: int = 2, queue: int = 8) -> None:
        self._launch = launch
        self._capacity = workers + queue
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gruponos-run")
        self._mutex = threading.Lock()
        self._active: dict[str, tuple[RunRequest, StopSignal]] = {}
        self._closed = False

    def submit(self, request: RunRequest) -> bool:
        with self._mutex:
            if self._closed or len(self._active) >= self._capacity:
                return False
            stop = StopSignal()
            self._active[request.run_id] = (request, stop)
        self._pool.submit(self._execute, request, stop)
        return True

    def cancel(self, run_id: str, reason: str) -> bool:
        with self._mutex:
            held = self._active.get(run_id)
        if held is None:
            return False
        held[1].request(RunStatus.CANCELLED, reason)
        return True

    def active(self) -> tuple[RunRequest, ...]:
        with self._mutex:
            return tuple(request for request, _ in self._active.values())

    def close(self) -> None:
        """Stop accepting runs; stop those accepted as SIGTERM would (the batch in flight
        commits, the run ends ``interrupted``; a queued run ends before reading) and wait."""
        with self._mutex:
            self._closed = True
            held = list(self._active.values())
        for _, stop in held:
            stop.request(RunStatus.INTERRUPTED, "the service running it is stopping")
        self._pool.shutdown(wait=True)

    def _execute(self, request: RunRequest, stop: StopSignal) -> None:
        try:
            self._launch(request, stop)  # the run records its own report in the history
        except Exception:  # noqa: BLE001 - a bug in a run must not kill the pool's thread
            _log.exception("run %s raised", request.run_id)
        finally:
            with self._mutex:
                self._active.pop(request.run_id, None)
