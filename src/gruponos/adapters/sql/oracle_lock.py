"""Row locks on dedicated Oracle sessions: the run lock, and the lock that serialises a table's DDL.

Both are a row of ``GNOS_LOCKS`` held ``SELECT ... FOR UPDATE`` by a session of their own: DDL
commits implicitly, which would release a lock held by the sink's own session, and Oracle releases
a session's row locks when the session ends, however it ends (``expire_time`` makes the server
notice a dead client). The run lock's holder is kept in a second row (``owner:<key>``), written by
an autonomous transaction, so a contender can name it.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import oracledb
from returns.io import IOFailure, IOResult, IOSuccess

from gruponos.adapters.sql.ddl import LOCKS_TABLE, locks_table
from gruponos.adapters.sql.dialect import ConnectionLease
from gruponos.adapters.sql.oracle_errors import ALREADY_DONE, RESOURCE_BUSY, ora_code
from gruponos.application.errors import StateError

if TYPE_CHECKING:
    from gruponos.adapters.sql.database import SqlDatabase
    from gruponos.adapters.sql.oracle import OracleDialect
    from gruponos.application.ports import Lease

_SELECT = f'SELECT "OWNER" FROM "{LOCKS_TABLE}" WHERE "LOCK_KEY" = :b1'
_ENSURE_ROW = (
    f'MERGE INTO "{LOCKS_TABLE}" t USING (SELECT :b1 AS "LOCK_KEY" FROM DUAL) s'
    ' ON (t."LOCK_KEY" = s."LOCK_KEY")'
    ' WHEN NOT MATCHED THEN INSERT ("LOCK_KEY") VALUES (s."LOCK_KEY")'
)


def lock_key(*parts: str) -> str:
    key = "\x1f".join(parts)
    if len(key) > 180:
        key = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return key


def _ensure_rows(dialect: OracleDialect, conn: Any, *keys: str) -> None:
    with conn.cursor() as cur:
        if not dialect.existing_columns(cur, LOCKS_TABLE):
            try:
                cur.execute(locks_table(dialect))
            except oracledb.DatabaseError as exc:  # two first runs: the other one created it
                if ora_code(exc) not in ALREADY_DONE:
                    raise
        for key in keys:
            cur.execute(_ENSURE_ROW, (key,))
    conn.commit()


def take_run_lock(
    dialect: OracleDialect, db: SqlDatabase, key: tuple[str, str], owner: str
) -> IOResult[Lease, StateError]:
    context = {"pipeline": key[0], "entity": key[1], "database": db.where}
    row_key = lock_key(*key)
    conn: Any = None
    try:
        conn = dialect.session("run lock")
        conn.client_identifier = owner[:64]
        _ensure_rows(dialect, conn, row_key, "owner:" + row_key)
        with conn.cursor() as cur:
            try:
                cur.execute(_SELECT + " FOR UPDATE NOWAIT", (row_key,))
            except oracledb.DatabaseError as exc:
                if ora_code(exc) != RESOURCE_BUSY:
                    raise
                cur.execute(_SELECT, ("owner:" + row_key,))
                row = cur.fetchone()
                conn.close()
                who = (row[0] if row else None) or "another session"
                message = f"the run lock is held by {who}"
                return IOFailure(StateError("state.locked", message, context))
        _record_owner(conn, row_key, owner)
        # The sink's own session belongs to this run from now on: name it for the DBA too.
        with contextlib.suppress(AttributeError, oracledb.Error):
            db.conn.client_identifier = owner[:64]
        return IOSuccess(ConnectionLease(conn))
    except dialect.driver_errors as exc:
        if conn is not None:
            conn.close()
        return IOFailure(StateError("state.lock_failed", dialect.error_reason(exc), context))


def _record_owner(conn: Any, row_key: str, owner: str) -> None:
    # Committing the lock session would release the row lock, so the owner row is written by
    # an autonomous transaction (a different row: no self-deadlock).
    with conn.cursor() as cur:
        cur.execute(
            "DECLARE PRAGMA AUTONOMOUS_TRANSACTION; BEGIN"
            f' UPDATE "{LOCKS_TABLE}" SET "OWNER" = :b1,'
            ' "TAKEN_AT" = SYS_EXTRACT_UTC(SYSTIMESTAMP)'
            ' WHERE "LOCK_KEY" = :b2; COMMIT; END;',
            (owner[:200], "owner:" + row_key),
        )


@contextlib.contextmanager
def ddl_guard(dialect: OracleDialect, table: str, wait_seconds: int) -> Iterator[None]:
    """Hold ``ddl:<table>`` while the caller changes the table: two sessions preparing the same
    table (a full and an incremental run, two first runs) take turns instead of racing."""
    row_key = lock_key("ddl", table)
    conn = dialect.session("ddl lock")
    try:
        _ensure_rows(dialect, conn, row_key)
        with conn.cursor() as cur:
            cur.execute(_SELECT + f" FOR UPDATE WAIT {int(wait_seconds)}", (row_key,))
        yield
    finally:
        conn.close()
