"""The quarantine table ``GNOS_QUARANTINE`` read back and released, for a replay."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from returns.io import IOResult

from gruponos.adapters.sql.ddl import QUARANTINE_TABLE
from gruponos.application.errors import SinkError
from gruponos.domain.quarantine import QuarantinedRecord

if TYPE_CHECKING:
    from gruponos.adapters.sql.database import SqlDatabase


class SqlQuarantine:
    """:class:`~gruponos.application.ports.QuarantineStore` in the sink's database."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    def _select(self, where: str, order: str) -> str:
        at = self.db.dialect.utc('"QUARANTINED_AT"')
        return (
            f'SELECT "SEQ", "ENTITY", "RECORD_ID", "PAYLOAD", "REASON", "RUN_ID", {at}'
            f' FROM "{QUARANTINE_TABLE}"{where} ORDER BY "SEQ" {order}'
        )

    def _rows(self, cur: Any, limit: int) -> tuple[QuarantinedRecord, ...]:
        d = self.db.dialect
        return tuple(
            QuarantinedRecord(
                seq=int(row[0]),
                entity=str(row[1]),
                record_id=row[2],
                payload=d.from_db_text(row[3]),
                reason=d.from_db_text(row[4]) or "",
                run_id=row[5],
                quarantined_at=d.from_db_timestamp(row[6]),
            )
            for row in cur.fetchmany(max(limit, 0))
        )

    def pending(
        self, entity: str, after_seq: int, limit: int
    ) -> IOResult[tuple[QuarantinedRecord, ...], SinkError]:
        d = self.db.dialect

        def work(cur: Any) -> tuple[QuarantinedRecord, ...]:
            self.db.ensure_meta(cur)
            where = f' WHERE "ENTITY" = {d.param(0)} AND "SEQ" > {d.param(1)}'
            cur.execute(self._select(where, "ASC"), (entity, after_seq))
            return self._rows(cur, limit)

        return self.db.run(SinkError, "sink.read_failed", {"entity": entity}, work)

    def newest(
        self, entity: str | None, limit: int
    ) -> IOResult[tuple[QuarantinedRecord, ...], SinkError]:
        d = self.db.dialect

        def work(cur: Any) -> tuple[QuarantinedRecord, ...]:
            self.db.ensure_meta(cur)
            if entity is None:
                cur.execute(self._select("", "DESC"))
            else:
                cur.execute(self._select(f' WHERE "ENTITY" = {d.param(0)}', "DESC"), (entity,))
            return self._rows(cur, limit)

        return self.db.run(SinkError, "sink.read_failed", {"entity": entity}, work)

    def release(self, seqs: Collection[int]) -> IOResult[None, SinkError]:
        d = self.db.dialect

        def work(cur: Any) -> None:
            if seqs:
                cur.executemany(
                    f'DELETE FROM "{QUARANTINE_TABLE}" WHERE "SEQ" = {d.param(0)}',
                    [(seq,) for seq in sorted(seqs)],
                )

        return self.db.run(SinkError, "sink.write_failed", {"released": len(seqs)}, work)
