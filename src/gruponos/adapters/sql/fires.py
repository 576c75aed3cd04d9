"""Claims of scheduled fires in table ``GNOS_SCHEDULE_FIRES``: one row per (pipeline, fire time).

The primary key decides between scheduler replicas: the first insert wins, the others find the
row (or are refused by the key while the winner's insert is still uncommitted, then find it).
The insert runs in a savepoint so the loser's transaction stays usable on PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from returns.io import IOResult

from gruponos.adapters.sql.ddl import RUN_ID_LENGTH
from gruponos.application.errors import SinkError
from gruponos.domain.schema import ColumnType

if TYPE_CHECKING:
    from gruponos.adapters.sql.database import SqlDatabase
    from gruponos.adapters.sql.dialect import Dialect

FIRES_TABLE = "GNOS_SCHEDULE_FIRES"


def fires_table(dialect: Dialect) -> str:
    """DDL of the fire claims' table."""
    key = dialect.column_type(ColumnType.TEXT, RUN_ID_LENGTH)
    ts = dialect.column_type(ColumnType.TIMESTAMP, None)
    return (
        f'CREATE TABLE "{FIRES_TABLE}" (\n  "PIPELINE" {key} NOT NULL,\n'
        f'  "FIRE_TIME" {ts} NOT NULL,\n  "OWNER" {key} NOT NULL,\n'
        f'  "CLAIMED_AT" {ts} NOT NULL,\n'
        f'  CONSTRAINT "{FIRES_TABLE}_PK" PRIMARY KEY ("PIPELINE", "FIRE_TIME")\n)'
    )


def claim_sql(dialect: Dialect) -> tuple[str, str]:
    """The statements of a claim: look for the row, insert it."""
    d = dialect
    where = f'"PIPELINE" = {d.param(0)} AND "FIRE_TIME" = {d.ts_param(1)}'
    return (
        f'SELECT "OWNER" FROM "{FIRES_TABLE}" WHERE {where}',
        (
            f'INSERT INTO "{FIRES_TABLE}" ("PIPELINE", "FIRE_TIME", "OWNER", "CLAIMED_AT")'
            f" VALUES ({d.param(0)}, {d.ts_param(1)}, {d.param(2)}, {d.ts_param(3)})"
        ),
    )


class SqlFireClaims:
    """:class:`~gruponos.application.scheduling.FireClaims` in the sink's database."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db
        self._ready = False

    def claim(self, pipeline: str, fire_time: datetime, owner: str) -> IOResult[bool, SinkError]:
        d = self.db.dialect
        ts = ColumnType.TIMESTAMP
        at = d.to_db(ts, fire_time)
        now = d.to_db(ts, self.db.clock())
        select, insert = claim_sql(d)

        def taken(cur: Any) -> bool:
            d.bind_types(cur, [None, ts])
            cur.execute(select, (pipeline, at))
            return cur.fetchone() is not None

        def work(cur: Any) -> bool:
            self._ensure_table(cur)
            if taken(cur):
                return False
            d.savepoint(cur, "GNOS_CLAIM")
            try:
                d.bind_types(cur, [None, ts, None, ts])
                cur.execute(insert, (pipeline, at, owner, now))
            except d.driver_errors:
                # Refused by the key when another replica inserted first: the row says so.
                d.rollback_to(cur, "GNOS_CLAIM")
                if taken(cur):
                    return False
                raise
            d.release(cur, "GNOS_CLAIM")
            return True

        context = {"pipeline": pipeline, "fire_time": fire_time.isoformat()}
        return self.db.run(SinkError, "schedule.claim_failed", context, work)

    def _ensure_table(self, cur: Any) -> None:
        if self._ready:
            return
        d = self.db.dialect
        if not d.existing_columns(cur, FIRES_TABLE):
            with d.ddl_guard(self.db, FIRES_TABLE):
                if not d.existing_columns(cur, FIRES_TABLE):
                    self.db.execute_ddl(cur, fires_table(d))
        self._ready = True
