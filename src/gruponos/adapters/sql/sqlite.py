"""SQLite (stdlib ``sqlite3``, WAL): the embedded default, zero set-up.

Storage choices, so values round-trip exactly and compare correctly as text:

- decimals: ``TEXT`` holding the plain decimal string (``format(d, "f")``; scientific notation only
  for extreme exponents) so ``Decimal(text) == value`` always; a numeric affinity would make them
  floats;
- timestamps: ``TEXT``, UTC ISO-8601 with microseconds and ``+00:00`` (fixed width, so text order is
  time order, which the monotonic upsert relies on);
- booleans: ``INTEGER`` 0/1; dates ISO text; JSON as text.

Run lock: ``fcntl.flock`` on the hidden ``.<db>.<pipeline>.<entity>.lock`` beside the database,
removed when the lock is released; in-memory databases lock within the process.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from returns.io import IOFailure, IOResult, IOSuccess
from typing_extensions import override

from gruponos.adapters.sql.ddl import TableSpec, quote
from gruponos.adapters.sql.dialect import (
    INT64,
    ColumnInfo,
    OnConflictDialect,
    PreparedRow,
    UpsertResult,
    integer_text,
)
from gruponos.adapters.sql.rows import USUAL_TYPE
from gruponos.adapters.state.file import lock_file_name, take_file_lock
from gruponos.application.errors import StateError
from gruponos.application.ports import Lease
from gruponos.domain.schema import ColumnType

if TYPE_CHECKING:
    from gruponos.adapters.sql.database import SqlDatabase

MEMORY = ":memory:"
_PLAIN_EXPONENT = 64
_TYPES = {
    ColumnType.INTEGER: "INTEGER",
    ColumnType.DECIMAL: "TEXT",
    ColumnType.TEXT: "TEXT",
    ColumnType.TIMESTAMP: "TEXT",
    ColumnType.DATE: "TEXT",
    ColumnType.BOOLEAN: "INTEGER",
    ColumnType.JSON: "TEXT",
}


def decimal_text(value: Decimal) -> str:
    """The canonical text of an exact decimal: plain notation unless the exponent is extreme."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and max(abs(exponent), abs(value.adjusted())) <= _PLAIN_EXPONENT:
        return format(value, "f")
    return str(value)


def timestamp_text(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive timestamps are not stored: give a UTC offset")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _utc_text(value: datetime) -> str:
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


class _MemoryLease:
    def __init__(self, held: set[tuple[str, str]], key: tuple[str, str]) -> None:
        self._held, self._key = held, key

    def release(self) -> None:
        self._held.discard(self._key)


class SqliteDialect(OnConflictDialect):
    name: ClassVar[str] = "sqlite"
    driver_errors: ClassVar[tuple[type[Exception], ...]] = (sqlite3.Error,)
    data_errors: ClassVar[tuple[type[Exception], ...]] = (
        sqlite3.IntegrityError,
        sqlite3.DataError,
    )
    integer_bounds: ClassVar[tuple[int, int] | None] = INT64

    def __init__(self, path: str) -> None:
        self.path = path
        self._memory_locks: set[tuple[str, str]] = set()
        self._memory_mutex = threading.Lock()

    @override
    def connect(self) -> Any:
        if self.path != MEMORY:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # reported like the driver's own "unable to open" error
                raise sqlite3.OperationalError(
                    f"cannot create the database folder {Path(self.path).parent}: {exc.strerror}"
                ) from None
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        if self.path != MEMORY:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @override
    def param(self, index: int) -> str:
        return "?"

    @override
    def column_type(self, ctype: ColumnType, max_length: int | None) -> str:
        return _TYPES[ctype]

    @override
    def identity_type(self) -> str:
        return "INTEGER PRIMARY KEY AUTOINCREMENT"

    @override
    def begin(self, cur: Any) -> None:
        cur.execute("BEGIN IMMEDIATE")

    @override
    def rollback_to(self, cur: Any, name: str) -> None:
        cur.execute(f"ROLLBACK TO {name}")

    @override
    def release(self, cur: Any, name: str) -> None:
        cur.execute(f"RELEASE {name}")

    @override
    def to_db(self, ctype: ColumnType, value: Any) -> Any:
        if isinstance(value, bool):
            return int(value)
        if ctype in (ColumnType.TEXT, ColumnType.JSON) and not isinstance(value, str):
            return integer_text(value)
        if isinstance(value, Decimal):
            return decimal_text(value)
        if ctype is ColumnType.DECIMAL and isinstance(value, int):
            return decimal_text(Decimal(value))
        if isinstance(value, datetime):
            return timestamp_text(value)
        if isinstance(value, date):
            return value.isoformat()
        return value

    @override
    def from_db_timestamp(self, value: Any) -> datetime:
        return datetime.fromisoformat(str(value)).astimezone(UTC)

    @override
    def fast_column(self, ctype: ColumnType, values: Sequence[Any]) -> Sequence[Any] | None:
        kind = USUAL_TYPE[ctype]
        if kind is Decimal:
            return [None if v is None else decimal_text(v) for v in values]
        if kind is datetime:
            return [None if v is None else _utc_text(v) for v in values]
        if kind is bool:
            return [None if v is None else int(v) for v in values]
        if kind is date:
            return [None if v is None else v.isoformat() for v in values]
        return values  # int and str are bound as they are

    @override
    def existing_columns(self, cur: Any, table: str) -> dict[str, ColumnInfo]:
        cur.execute(f"PRAGMA table_info({quote(table)})")
        return {row[1]: ColumnInfo(str(row[2])) for row in cur.fetchall()}

    @override
    def upsert(self, cur: Any, spec: TableSpec, rows: Sequence[PreparedRow]) -> UpsertResult:
        sql = self.upsert_sql(spec)

        def many(batch: Sequence[PreparedRow]) -> int:
            cur.executemany(sql, [r.values for r in batch])
            return int(cur.rowcount)

        def one(row: PreparedRow) -> int:
            cur.execute(sql, row.values)
            return int(cur.rowcount)

        return self.isolate(cur, rows, many, one)

    @override
    def lock(
        self, db: SqlDatabase, key: tuple[str, str], owner: str
    ) -> IOResult[Lease, StateError]:
        if self.path == MEMORY:
            with self._memory_mutex:
                if key in self._memory_locks:
                    message = "the run lock is held by another run in this process"
                    return IOFailure(StateError("state.locked", message, {"key": list(key)}))
                self._memory_locks.add(key)
            return IOSuccess(_MemoryLease(self._memory_locks, key))
        db_path = Path(self.path).resolve()
        # hidden, and removed on release: only a killed holder leaves one behind for a while
        lock = db_path.with_name(lock_file_name(f".{db_path.name}", *key))
        return take_file_lock(lock, owner)
