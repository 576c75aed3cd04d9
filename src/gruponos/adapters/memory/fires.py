"""Fire claims in memory (:class:`~gruponos.application.scheduling.FireClaims`), for tests:
schedulers sharing one instance fire each time once, as replicas sharing a sink do."""

from __future__ import annotations

import threading
from datetime import datetime

from returns.io import IOResult, IOSuccess

from gruponos.application.errors import SinkError


class InMemoryFireClaims:
    """The first claim of a (pipeline, fire time) wins; ``owners`` shows who won each."""

    def __init__(self) -> None:
        self.owners: dict[tuple[str, datetime], str] = {}
        self._mutex = threading.Lock()

    def claim(self, pipeline: str, fire_time: datetime, owner: str) -> IOResult[bool, SinkError]:
        with self._mutex:
            if (pipeline, fire_time) in self.owners:
                return IOSuccess(False)  # noqa: FBT003 - the port's answer
            self.owners[pipeline, fire_time] = owner
            return IOSuccess(True)  # noqa: FBT003 - the port's answer
