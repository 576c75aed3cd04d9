"""The in-memory quarantine, read back and released like the SQL one."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from returns.io import IOResult, IOSuccess

from gruponos.adapters.memory.sink import InMemoryDatabase
from gruponos.application.errors import SinkError
from gruponos.domain.quarantine import QuarantinedRecord

#: The in-memory sink keeps no quarantine time; every record reads as quarantined at this one.
_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)


class InMemoryQuarantine:
    """Implements ``QuarantineStore`` over :attr:`InMemoryDatabase.quarantine` (seq = index + 1)."""

    def __init__(self, db: InMemoryDatabase) -> None:
        self.db = db

    def _all(self) -> list[QuarantinedRecord]:
        return [
            QuarantinedRecord(seq, r.entity, r.record_id, r.payload, r.reason, run_id, _NO_TIME)
            for seq, (run_id, r) in enumerate(self.db.quarantine, start=1)
            if seq not in self.db.released
        ]

    def pending(
        self, entity: str, after_seq: int, limit: int
    ) -> IOResult[tuple[QuarantinedRecord, ...], SinkError]:
        rows = [r for r in self._all() if r.entity == entity and r.seq > after_seq]
        return IOSuccess(tuple(rows[: max(limit, 0)]))

    def newest(
        self, entity: str | None, limit: int
    ) -> IOResult[tuple[QuarantinedRecord, ...], SinkError]:
        rows = [r for r in reversed(self._all()) if entity is None or r.entity == entity]
        return IOSuccess(tuple(rows[: max(limit, 0)]))

    def release(self, seqs: Collection[int]) -> IOResult[None, SinkError]:
        self.db.released.update(seqs)
        return IOSuccess(None)
