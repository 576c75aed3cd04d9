"""Oracle Database (python-oracledb, thin mode by default): array-bound ``MERGE`` with batch errors.

One ``executemany`` per batch with ``setinputsizes``, ``batcherrors=True`` and
``arraydmlrowcounts=True``, rows sorted by id. Each refused row is judged by its ORA number
(:mod:`~gruponos.adapters.sql.oracle_errors`): a value that does not fit is quarantined and the
rest commits; a row another session inserted first is merged again; anything else fails the batch,
which rolls back with its checkpoint. The per-row counts say which rows were stale, so only those
need ``mark_seen``.

Instants are ``TIMESTAMP(6)`` holding UTC (a ``TIMESTAMP WITH TIME ZONE`` cannot be part of a
primary key, ORA-02329, which the history table's ``(ID, MOD_TS)`` needs). Text is bound as
``VARCHAR`` up to the longest VARCHAR2 the database takes in SQL (4000 bytes, or 32767 under
``MAX_STRING_SIZE=EXTENDED``) and only longer values as temporary LOBs. Empty text is NULL in every
text column, CLOB included, as VARCHAR2 makes it anyway.

Connections: :mod:`~gruponos.adapters.sql.oracle_connect`; locks:
:mod:`~gruponos.adapters.sql.oracle_lock`. Not verified against a live server here; see
docs/sinks.md for the live suite.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

import oracledb
from returns.io import IOResult
from typing_extensions import override

from gruponos.adapters.oracle_config import OracleSinkSettings
from gruponos.adapters.sql import oracle_lock
from gruponos.adapters.sql.ddl import DELETED_AT, SEEN_GEN, TableSpec, quote
from gruponos.adapters.sql.dialect import (
    ColumnInfo,
    Dialect,
    PreparedRow,
    UpsertResult,
)
from gruponos.adapters.sql.oracle_connect import OracleConnector, OracleSetupError, SessionFacts
from gruponos.adapters.sql.oracle_errors import (
    ALREADY_DONE,
    BatchErrorAction,
    batch_error_action,
    first_line,
    ora_code,
)
from gruponos.application.errors import StateError
from gruponos.application.ports import Lease
from gruponos.domain.records import ID_COLUMN, MOD_TS_COLUMN
from gruponos.domain.schema import ColumnType

if TYPE_CHECKING:
    from gruponos.adapters.sql.database import SqlDatabase

NUMBER_DIGITS = 38
#: Bytes one character can take in AL32UTF8: a VARCHAR2(n CHAR) holds n characters only when
#: 4 n bytes fit in the database's longest VARCHAR2.
MAX_CHAR_BYTES = 4
#: Rows per fetch round trip (python-oracledb's default is 100).
FETCH_ROWS = 5000
#: Times a row refused with ORA-00001 (another session inserted the id first) is merged again.
UNIQUE_RETRIES = 3
_TYPES = {
    ColumnType.INTEGER: "NUMBER",
    ColumnType.DECIMAL: "NUMBER",
    ColumnType.TIMESTAMP: "TIMESTAMP(6)",
    ColumnType.DATE: "DATE",
    ColumnType.BOOLEAN: "NUMBER(1)",
    ColumnType.JSON: "CLOB",
}
_BIND = {
    ColumnType.INTEGER: oracledb.DB_TYPE_NUMBER,
    ColumnType.DECIMAL: oracledb.DB_TYPE_NUMBER,
    ColumnType.TIMESTAMP: oracledb.DB_TYPE_TIMESTAMP,
    ColumnType.DATE: oracledb.DB_TYPE_DATE,
    ColumnType.BOOLEAN: oracledb.DB_TYPE_NUMBER,
    ColumnType.TEXT: oracledb.DB_TYPE_VARCHAR,
    ColumnType.JSON: oracledb.DB_TYPE_VARCHAR,
}
_TEXT = (ColumnType.TEXT, ColumnType.JSON)
_GRANTS_SQL = (
    "SELECT PRIVILEGE FROM SESSION_PRIVS WHERE PRIVILEGE IN"
    " ('CREATE TABLE', 'CREATE SEQUENCE', 'UNLIMITED TABLESPACE')"
)
_QUOTA_SQL = (
    "SELECT COUNT(*) FROM USER_TS_QUOTAS q JOIN USER_USERS u"
    " ON q.TABLESPACE_NAME = u.DEFAULT_TABLESPACE WHERE q.MAX_BYTES <> 0"
)


class OracleBatchError(Exception):
    """A row of the batch was refused for a reason that is not its value: the batch fails."""


class OracleDialect(Dialect):
    name: ClassVar[str] = "oracle"
    driver_errors: ClassVar[tuple[type[Exception], ...]] = (
        oracledb.Error,
        OracleSetupError,
        OracleBatchError,
    )
    #: The MERGE counts only rows it inserted or updated (a false ``WHEN MATCHED`` condition
    #: writes nothing), and ``arraydmlrowcounts`` says which.
    exact_upsert_count: ClassVar[bool] = True

    def __init__(
        self,
        dsn: str,
        *,
        user: str | None,
        password: str | None,
        settings: OracleSinkSettings | None = None,
        driver_connect: Callable[..., Any] | None = None,
        init_client: Callable[..., None] | None = None,
    ) -> None:
        self.connector = OracleConnector(
            dsn,
            user=user,
            password=password,
            settings=settings,
            driver_connect=driver_connect,
            init_client=init_client,
        )
        self.settings = self.connector.settings
        #: What the last session found; STANDARD and AL32UTF8 until one connects.
        self.facts = SessionFacts()

    @override
    def connect(self) -> Any:
        return self.session("sink")

    def session(self, action: str) -> Any:
        """A new session, named ``action`` in ``V$SESSION.ACTION``."""
        conn, self.facts = self.connector.open(action)
        return conn

    @property
    def max_varchar_chars(self) -> int:
        """The longest VARCHAR2(n CHAR) that surely holds n characters."""
        return self.facts.max_string_bytes // MAX_CHAR_BYTES

    @override
    def param(self, index: int) -> str:
        # Named placeholders bound by position: sqlglot and Oracle both read them.
        return f":b{index + 1}"

    @override
    def column_type(self, ctype: ColumnType, max_length: int | None) -> str:
        if ctype is ColumnType.TEXT:
            if max_length is None or max_length > self.max_varchar_chars:
                return "CLOB"
            return f"VARCHAR2({max_length} CHAR)"
        return _TYPES[ctype]

    @override
    def column_suffix(self, name: str, ctype: ColumnType) -> str:
        return f" CHECK ({quote(name)} IN (0, 1))" if ctype is ColumnType.BOOLEAN else ""

    @override
    def identity_type(self) -> str:
        return "NUMBER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"

    @override
    def begin(self, cur: Any) -> None:
        cur.arraysize = FETCH_ROWS
        cur.prefetchrows = FETCH_ROWS

    @override
    def bind_types(self, cur: Any, types: Sequence[ColumnType | None]) -> None:
        # Single statements (checkpoint, run report, quarantine): JSON may be long, so a LOB.
        clob = {ColumnType.JSON: oracledb.DB_TYPE_CLOB}
        cur.setinputsizes(*[None if t is None else clob.get(t, _BIND[t]) for t in types])

    @override
    def release(self, cur: Any, name: str) -> None:
        """Oracle has no ``RELEASE SAVEPOINT``; savepoints end with the transaction."""

    @override
    def drop_table_sql(self, table: str) -> str:
        return f"DROP TABLE {quote(table)} PURGE"  # not into the recycle bin, quota and all

    @override
    def already_done(self, exc: Exception) -> bool:
        return ora_code(exc) in ALREADY_DONE

    @override
    def ddl_guard(self, db: SqlDatabase, table: str) -> contextlib.AbstractContextManager[None]:
        return oracle_lock.ddl_guard(self, table, self.settings.ddl_lock_timeout_seconds)

    @override
    def error_reason(self, exc: Exception) -> str:
        return first_line(exc.args[0] if isinstance(exc, oracledb.Error) and exc.args else exc)

    @override
    def to_db(self, ctype: ColumnType, value: Any) -> Any:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("naive timestamps are not stored: give a UTC offset")
            return value.astimezone(UTC).replace(tzinfo=None)
        if isinstance(value, date) and ctype is ColumnType.DATE:
            return datetime(value.year, value.month, value.day)  # noqa: DTZ001 - a calendar date
        if ctype in _TEXT:
            # Decimal(): str() of an int beyond 4,300 digits raises; its Decimal's does not
            text = value if isinstance(value, str) else str(Decimal(value))
            return text or None  # '' is NULL in VARCHAR2: in a CLOB too, one rule
        return value

    @override
    def from_db_timestamp(self, value: Any) -> datetime:
        if not isinstance(value, datetime):
            raise TypeError(f"expected a timestamp from Oracle, got {type(value).__name__}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @override
    def from_db_text(self, value: Any) -> str | None:
        if value is not None and hasattr(value, "read"):
            return str(value.read())
        return super().from_db_text(value)

    @override
    def unfit_reason(self, ctype: ColumnType, value: Any) -> str | None:
        number = value if isinstance(value, Decimal) else None
        if isinstance(value, int) and not isinstance(value, bool):
            number = Decimal(value)
        if number is not None and number.is_finite() and number != 0:
            # as_tuple, not normalize(): normalize rounds to the context's 28 digits
            digits = len("".join(map(str, number.as_tuple().digits)).strip("0"))
            if digits > NUMBER_DIGITS:
                return f"{digits} significant digits; Oracle NUMBER keeps {NUMBER_DIGITS}"
            if not -130 <= number.adjusted() <= 125:
                return f"out of Oracle NUMBER range: {number}"
        return super().unfit_reason(ctype, value)

    @override
    def existing_columns(self, cur: Any, table: str) -> dict[str, ColumnInfo]:
        owner = self.settings.current_schema
        if owner is None:
            cur.execute(
                "SELECT COLUMN_NAME, DATA_TYPE, CHAR_LENGTH FROM USER_TAB_COLUMNS"
                " WHERE TABLE_NAME = :b1 ORDER BY COLUMN_ID",
                (table,),
            )
        else:
            cur.execute(
                "SELECT COLUMN_NAME, DATA_TYPE, CHAR_LENGTH FROM ALL_TAB_COLUMNS"
                " WHERE OWNER = :b1 AND TABLE_NAME = :b2 ORDER BY COLUMN_ID",
                (owner, table),
            )
        out: dict[str, ColumnInfo] = {}
        for name, dtype, length in cur.fetchall():
            sized = dtype in ("VARCHAR2", "NVARCHAR2", "CHAR") and length
            out[name] = ColumnInfo(f"{dtype}({length} CHAR)" if sized else dtype, length or None)
        return out

    @override
    def widen(self, table: str, name: str, info: ColumnInfo, max_length: int | None) -> str | None:
        if not info.sql_type.startswith("VARCHAR2") or info.length is None:
            return None
        if max_length is None or max_length <= info.length or max_length > self.max_varchar_chars:
            return None  # VARCHAR2 -> CLOB is not an in-place change: keep it, quarantine misfits
        return f"ALTER TABLE {quote(table)} MODIFY ({quote(name)} VARCHAR2({max_length} CHAR))"

    @override
    def readiness(self, cur: Any) -> list[str]:
        if self.settings.current_schema is not None:
            return []  # another schema's owner creates and grants: see docs/sinks.md
        cur.execute(_GRANTS_SQL)
        privileges = {row[0] for row in cur.fetchall()}
        missing = [p for p in ("CREATE TABLE", "CREATE SEQUENCE") if p not in privileges]
        problems = [f"the Oracle user lacks the grant {p}" for p in missing]
        if "UNLIMITED TABLESPACE" not in privileges:
            cur.execute(_QUOTA_SQL)
            row = cur.fetchone()
            if not row or not row[0]:
                problems.append("the Oracle user has no quota on its default tablespace")
        return problems

    def _source(self, spec: TableSpec) -> str:
        marks = self.params(spec.bound_types)
        cols = ", ".join(f"{m} AS {quote(n)}" for m, n in zip(marks, spec.bound_names, strict=True))
        return f"(SELECT {cols} FROM DUAL) s"

    def merge_sql(self, spec: TableSpec) -> str:
        """The monotonic upsert: replace only when the new ``MOD_TS`` is >= the stored one."""
        names = spec.bound_names
        sets = [f"t.{quote(n)} = s.{quote(n)}" for n in names if n not in (ID_COLUMN, SEEN_GEN)]
        sets.append(f"t.{quote(SEEN_GEN)} = NVL(s.{quote(SEEN_GEN)}, t.{quote(SEEN_GEN)})")
        sets.append(f"t.{quote(DELETED_AT)} = NULL")
        return (
            f"MERGE INTO {quote(spec.table)} t\nUSING {self._source(spec)}\n"
            f"ON (t.{quote(ID_COLUMN)} = s.{quote(ID_COLUMN)})\n"
            "WHEN MATCHED THEN UPDATE SET\n  "
            + ",\n  ".join(sets)
            + f"\n  WHERE s.{quote(MOD_TS_COLUMN)} >= t.{quote(MOD_TS_COLUMN)}\n"
            + self._insert(names)
        )

    def history_sql(self, spec: TableSpec) -> str:
        assert spec.history is not None  # noqa: S101 - callers check spec.history
        key = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in (ID_COLUMN, MOD_TS_COLUMN))
        return (
            f"MERGE INTO {quote(spec.history)} t\nUSING {self._source(spec)}\nON ({key})\n"
            + self._insert(spec.bound_names)
        )

    @staticmethod
    def _insert(names: Sequence[str]) -> str:
        cols = ", ".join(quote(n) for n in names)
        vals = ", ".join(f"s.{quote(n)}" for n in names)
        return f"WHEN NOT MATCHED THEN INSERT ({cols})\n  VALUES ({vals})"

    @override
    def upsert(self, cur: Any, spec: TableSpec, rows: Sequence[PreparedRow]) -> UpsertResult:
        return self._merge(cur, spec, self.merge_sql(spec), rows)

    @override
    def insert_history(
        self, cur: Any, spec: TableSpec, rows: Sequence[PreparedRow]
    ) -> UpsertResult:
        return self._merge(cur, spec, self.history_sql(spec), rows)

    def _merge(
        self, cur: Any, spec: TableSpec, sql: str, rows: Sequence[PreparedRow]
    ) -> UpsertResult:
        """Rows in id order (every session locks them in the same order), text up to the
        VARCHAR2 limit bound as strings; the few rows with longer text in a second array whose
        long columns are bound as LOBs."""
        limit = self.facts.max_string_bytes
        text_at = [i for i, t in enumerate(spec.bound_types) if t in _TEXT]
        short: list[PreparedRow] = []
        long: list[PreparedRow] = []
        long_at: set[int] = set()
        for row in sorted(rows, key=lambda r: r.record.id):
            over = {i for i in text_at if _over(row.values[i], limit)}
            (long if over else short).append(row)
            long_at |= over
        written = 0
        failed: list[tuple[PreparedRow, str]] = []
        stale: list[int] = []
        for group, lob_at in ((short, set()), (long, long_at)):
            if group:
                types = [
                    oracledb.DB_TYPE_CLOB if i in lob_at else _BIND[t]
                    for i, t in enumerate(spec.bound_types)
                ]
                result = self._execute(cur, sql, types, group)
                written += result.written
                failed += result.failed
                stale += result.stale_ids or ()
        return UpsertResult(written, tuple(failed), tuple(stale))

    def _execute(
        self, cur: Any, sql: str, types: list[Any], rows: Sequence[PreparedRow]
    ) -> UpsertResult:
        written = 0
        failed: list[tuple[PreparedRow, str]] = []
        stale: list[int] = []
        pending = list(rows)
        for attempt in range(UNIQUE_RETRIES + 1):
            cur.setinputsizes(*types)
            cur.executemany(
                sql, [r.values for r in pending], batcherrors=True, arraydmlrowcounts=True
            )
            errors = {e.offset: e for e in cur.getbatcherrors()}
            counts = cur.getarraydmlrowcounts()
            retry = []
            for offset, row in enumerate(pending):
                error = errors.get(offset)
                if error is None:
                    written += counts[offset]
                    if not counts[offset]:
                        stale.append(row.record.id)
                    continue
                action = batch_error_action(ora_code(error))
                if action is BatchErrorAction.QUARANTINE:
                    failed.append((row, first_line(error)))
                elif action is BatchErrorAction.RETRY and attempt < UNIQUE_RETRIES:
                    retry.append(row)
                else:
                    raise OracleBatchError(f"{first_line(error)} (record id {row.record.id})")
            if not retry:
                break
            pending = retry
        return UpsertResult(written, tuple(failed), tuple(stale))

    @override
    def lock(
        self, db: SqlDatabase, key: tuple[str, str], owner: str
    ) -> IOResult[Lease, StateError]:
        return oracle_lock.take_run_lock(self, db, key, owner)


def _over(value: Any, limit: int) -> bool:
    """Whether text ``value`` is longer than ``limit`` bytes in UTF-8 (encoded only when its
    length in characters leaves the question open)."""
    if not isinstance(value, str) or len(value) * MAX_CHAR_BYTES <= limit:
        return False
    return len(value) > limit or len(value.encode("utf-8", "surrogatepass")) > limit
