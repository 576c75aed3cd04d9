"""What differs between SQL databases, behind one small interface the sink core drives.

A dialect knows its driver: how to connect, bind parameters, map logical column types to SQL
types, convert values both ways, introspect a table, upsert a batch and take a run lock. The core
(:mod:`gruponos.adapters.sql.core`) owns transactions, batching, state and quarantine.

Connections and cursors are typed ``Any``: they are DB-API 2 objects whose drivers' stubs differ
(sqlite3, psycopg, oracledb); each dialect only calls what its own driver provides.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from returns.io import IOResult

from gruponos.adapters.sql.ddl import DELETED_AT, SEEN_GEN, TableSpec, quote
from gruponos.adapters.sql.rows import USUAL_TYPE, int_text
from gruponos.application.errors import StateError
from gruponos.application.ports import Lease
from gruponos.domain.records import ID_COLUMN, MOD_TS_COLUMN, NormalizedRecord
from gruponos.domain.schema import ColumnType

if TYPE_CHECKING:
    from gruponos.adapters.sql.database import SqlDatabase
    from gruponos.adapters.sql.rows import BatchMeta


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    """A column as the database reports it: its type name and character length, if any."""

    sql_type: str
    length: int | None = None


@dataclass(frozen=True, slots=True)
class PreparedRow:
    """A record with its values converted for the driver, in :attr:`TableSpec.bound_names` order."""

    record: NormalizedRecord
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """Rows inserted or replaced, and rows the database refused, with its reason."""

    written: int
    failed: tuple[tuple[PreparedRow, str], ...] = ()
    #: Ids of the rows kept but not replaced (their stored version is newer), when the dialect
    #: knows them row by row; ``None``: every kept id may be one.
    stale_ids: tuple[int, ...] | None = None


@contextlib.contextmanager
def cursor_of(conn: Any) -> Iterator[Any]:
    cur = conn.cursor()
    try:
        yield cur
    finally:
        cur.close()


class ConnectionLease:
    """A lock held by a dedicated session: closing the session releases it."""

    def __init__(self, conn: Any) -> None:
        self._conn: Any = conn

    def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()


def has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


NONE_TYPE = type(None)
INT64 = (-(2**63), 2**63 - 1)
#: Python types each column type takes (exact types: ``bool`` is no ``int``, ``datetime`` no
#: ``date``); the first is the usual one. Integers and decimals go into text columns as their
#: text, as normalization's own ``to_text`` does; an integer into a decimal column is exact.
ACCEPTED: dict[ColumnType, tuple[type, ...]] = {
    ColumnType.INTEGER: (int,),
    ColumnType.DECIMAL: (Decimal, int),
    ColumnType.TEXT: (str, int, Decimal),
    ColumnType.TIMESTAMP: (datetime,),
    ColumnType.DATE: (date,),
    ColumnType.BOOLEAN: (bool,),
    ColumnType.JSON: (str, int, Decimal),
}
_EXPECTED = {
    ColumnType.INTEGER: "an integer",
    ColumnType.DECIMAL: "a decimal",
    ColumnType.TEXT: "text",
    ColumnType.TIMESTAMP: "a timestamp with a UTC offset",
    ColumnType.DATE: "a date",
    ColumnType.BOOLEAN: "a boolean",
    ColumnType.JSON: "JSON text",
}
_UTC_MIN = datetime.min.replace(tzinfo=UTC)
_UTC_MAX = datetime.max.replace(tzinfo=UTC)


def show_value(value: Any) -> str:
    """A short, printable description of a value for a quarantine reason (never raises on an
    integer too long for ``str()``; non-ASCII and control characters escaped)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"an integer of {Decimal(value).copy_abs().adjusted() + 1} digits"
    text = ascii(value)
    return text if len(text) <= 60 else text[:57] + "..."


def type_reason(ctype: ColumnType, value: Any) -> str | None:
    """Why a column of ``ctype`` does not take ``value``'s type at all (``None``: it does)."""
    if type(value) in ACCEPTED[ctype]:
        return None
    return f"expected {_EXPECTED[ctype]}, got {type(value).__name__} {show_value(value)}"


def timestamp_reason(value: datetime) -> str | None:
    """Why ``value`` is no storable instant: naive, or outside years 1-9999 once in UTC."""
    if value.utcoffset() is None:
        return f"timestamp without a UTC offset: {show_value(value)}"
    try:
        value.astimezone(UTC)
    except OverflowError:
        return f"timestamp out of range in UTC: {show_value(value)}"
    return None


def value_reason(
    ctype: ColumnType, value: Any, int_bounds: tuple[int, int] | None = None
) -> str | None:
    """Why a column of ``ctype`` cannot hold ``value`` exactly, whatever the database: a type
    the column does not take, invalid Unicode, a non-finite decimal, an integer beyond
    ``int_bounds``, a timestamp that is naive or outside years 1-9999 in UTC (``None``: fine)."""
    if why := type_reason(ctype, value):
        return why
    if isinstance(value, str):
        return "text is not valid Unicode (lone surrogate)" if has_lone_surrogate(value) else None
    if isinstance(value, Decimal) and not value.is_finite():
        return f"not a finite decimal: {value}"
    if ctype is ColumnType.INTEGER and int_bounds and not int_bounds[0] <= value <= int_bounds[1]:
        return f"integer out of range for a 64-bit column: {show_value(value)}"
    if isinstance(value, datetime):
        return timestamp_reason(value)
    return None


def integer_text(value: int | Decimal) -> str:
    """An integer or decimal bound to a text column: its text, as normalization makes it."""
    return int_text(value) if isinstance(value, int) else str(value)


def kinds_of(values: Sequence[Any]) -> set[type]:
    """The exact types in a column (``None`` included as ``NoneType``), at C speed."""
    return set(map(type, values))


def all_valid_text(values: Sequence[Any]) -> bool:
    """Every ``str`` of the column encodes as UTF-8: one encode of the joined column."""
    try:
        "".join([v for v in values if type(v) is str]).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def all_finite(values: Sequence[Any]) -> bool:
    return all(v.is_finite() for v in values if v is not None)


def all_within(values: Sequence[Any], low: Any, high: Any) -> bool:
    """Every non-null value between ``low`` and ``high`` (``False`` when they do not compare,
    as naive and aware timestamps do not)."""
    present = [v for v in values if v is not None]
    try:
        return not present or (low <= min(present) and max(present) <= high)
    except TypeError:
        return False


def all_instants(values: Sequence[Any]) -> bool:
    """Every non-null timestamp is aware and within years 1-9999 in UTC (no naive one)."""
    return all_within(values, _UTC_MIN, _UTC_MAX)


def column_fits(
    ctype: ColumnType, values: Sequence[Any], int_bounds: tuple[int, int] | None
) -> bool:
    """Every value of the column has the column's usual type and certainly fits it, checked
    for the whole column at once; ``False`` sends the column value by value."""
    kinds = kinds_of(values) - {NONE_TYPE}
    if not kinds:
        return True
    if kinds != {USUAL_TYPE[ctype]}:
        return False
    kind = USUAL_TYPE[ctype]
    if kind is str:
        return all_valid_text(values)
    if kind is int:
        return int_bounds is not None and all_within(values, *int_bounds)
    if kind is Decimal:
        return all_finite(values)
    if kind is datetime:
        return all_instants(values)
    return True


class Dialect(ABC):
    """One database family. Subclasses are stateless apart from how to connect."""

    name: ClassVar[str]
    #: Every exception the driver raises for database trouble; becomes a ``SinkError``.
    driver_errors: ClassVar[tuple[type[Exception], ...]]
    #: Errors meaning "a value does not fit": the row is quarantined, the rest commits.
    data_errors: ClassVar[tuple[type[Exception], ...]] = ()
    #: Longest identifier in bytes; longer names are shortened with a hash (ddl.fit_identifier).
    max_identifier: ClassVar[int] = 128
    #: Bounds of an integer column, checked before binding (``None``: the dialect checks).
    integer_bounds: ClassVar[tuple[int, int] | None] = None
    #: The upsert's ``written`` counts exactly the rows it inserted or replaced, so when it equals
    #: the rows kept, every one of them already has the batch's generation: no ``mark_seen``.
    exact_upsert_count: ClassVar[bool] = False

    @abstractmethod
    def connect(self) -> Any:
        """A new session (the sink's own, or a dedicated one for a lock)."""

    @abstractmethod
    def param(self, index: int) -> str:
        """The placeholder of the ``index``-th (0-based) bound value."""

    def ts_param(self, index: int) -> str:
        """The placeholder of a bound timestamp (as converted by :meth:`to_db`)."""
        return self.param(index)

    def utc(self, column_sql: str) -> str:
        """SQL that reads a timestamp column so :meth:`from_db_timestamp` can make it UTC."""
        return column_sql

    def params(self, types: Sequence[ColumnType], start: int = 0) -> list[str]:
        return [
            self.ts_param(start + i) if t is ColumnType.TIMESTAMP else self.param(start + i)
            for i, t in enumerate(types)
        ]

    @abstractmethod
    def column_type(self, ctype: ColumnType, max_length: int | None) -> str: ...

    @abstractmethod
    def identity_type(self) -> str:
        """An auto-numbered integer column (the quarantine table's ``SEQ``)."""

    def begin(self, cur: Any) -> None:  # noqa: B027 - optional hook, most drivers need nothing
        """Start a transaction (drivers that open one implicitly do nothing)."""

    def bind_types(self, cur: Any, types: Sequence[ColumnType | None]) -> None:  # noqa: B027
        """Optional hook: declare bind types before an ``execute`` (Oracle's ``setinputsizes``)."""

    @abstractmethod
    def to_db(self, ctype: ColumnType, value: Any) -> Any: ...

    @abstractmethod
    def from_db_timestamp(self, value: Any) -> datetime: ...

    def from_db_text(self, value: Any) -> str | None:
        return None if value is None else str(value)

    def unfit_reason(self, ctype: ColumnType, value: Any) -> str | None:
        """Why ``value`` cannot be bound at all (checked before the database sees it):
        :func:`value_reason` within this dialect's :attr:`integer_bounds`."""
        return value_reason(ctype, value, self.integer_bounds)

    def bind_column(
        self, ctype: ColumnType, values: Sequence[Any]
    ) -> tuple[Sequence[Any], dict[int, str]]:
        """A column of a batch converted for the driver, and why values at some indexes cannot
        be bound (those rows go to quarantine; their converted value is ``None``).

        Same result as :meth:`unfit_reason` and :meth:`to_db` per value; when every value has
        the column's usual type and fits (:func:`column_fits`), :meth:`fast_column` may do it
        for the whole column.
        """
        if column_fits(ctype, values, self.integer_bounds):
            fast = self.fast_column(ctype, values)
            if fast is not None:
                return fast, {}
        out: list[Any] = []
        unfit: dict[int, str] = {}
        for index, value in enumerate(values):
            if value is None:
                out.append(None)
            elif why := self.unfit_reason(ctype, value):
                unfit[index] = why
                out.append(None)
            else:
                out.append(self.to_db(ctype, value))
        return out, unfit

    def fast_column(self, ctype: ColumnType, values: Sequence[Any]) -> Sequence[Any] | None:  # noqa: ARG002 - the default has no fast path
        """The whole column converted, called only when :func:`column_fits`; ``None``: decide
        per value."""
        return None

    @abstractmethod
    def existing_columns(self, cur: Any, table: str) -> dict[str, ColumnInfo]:
        """The table's columns by name; empty when the table does not exist."""

    def widen(self, table: str, name: str, info: ColumnInfo, max_length: int | None) -> str | None:  # noqa: ARG002 - the default widens nothing
        """DDL that widens a text column to ``max_length``, when that is safe; else ``None``."""
        return None

    def already_done(self, exc: Exception) -> bool:  # noqa: ARG002 - the default knows none
        """Whether a DDL error means another session did the same DDL first (name taken,
        column there): the caller re-reads the dictionary instead of failing."""
        return False

    def ddl_guard(self, db: SqlDatabase, table: str) -> contextlib.AbstractContextManager[None]:  # noqa: ARG002 - the default serialises nothing
        """Held around a table's DDL, to serialise it against other sessions."""
        return contextlib.nullcontext()

    def drop_table_sql(self, table: str) -> str:
        return f"DROP TABLE {quote(table)}"

    def column_suffix(self, name: str, ctype: ColumnType) -> str:  # noqa: ARG002 - the default adds nothing
        """Text after a column's type in its definition (e.g. a ``CHECK`` constraint)."""
        return ""

    def readiness(self, cur: Any) -> list[str]:  # noqa: ARG002 - the default checks nothing
        """What the login lacks to run the sink (grants, quota, character set), one per line."""
        return []

    @abstractmethod
    def upsert(self, cur: Any, spec: TableSpec, rows: Sequence[PreparedRow]) -> UpsertResult: ...

    def bulk_payload(
        self,
        spec: TableSpec,  # noqa: ARG002 - the default has no bulk path
        records: Sequence[NormalizedRecord],  # noqa: ARG002
        meta: BatchMeta,  # noqa: ARG002
    ) -> bytes | None:
        """The records encoded for :meth:`upsert_bulk`, when the dialect can guarantee that it
        stores exactly what :meth:`upsert` of their prepared rows would, with no row refused
        before the database sees it; else ``None`` and the caller prepares rows."""
        return None

    def upsert_bulk(self, cur: Any, spec: TableSpec, payload: bytes) -> UpsertResult | None:
        """Upsert a :meth:`bulk_payload`; ``None`` when the database refused a value: nothing of
        the batch is written, and the caller redoes it with :meth:`upsert` of prepared rows,
        which finds the refused rows."""
        raise NotImplementedError(f"{type(self).__name__} makes no bulk payload")

    @abstractmethod
    def insert_history(
        self, cur: Any, spec: TableSpec, rows: Sequence[PreparedRow]
    ) -> UpsertResult:
        """Insert each row's version into the history table unless ``(ID, MOD_TS)`` is there."""

    def mark_seen(self, cur: Any, spec: TableSpec, ids: Sequence[int], generation: str) -> None:
        """Set ``GNOS_SEEN_GEN`` (and revive) rows the upsert did not replace."""
        gen, rid = self.param(0), self.param(1)
        sql = (
            f"UPDATE {quote(spec.table)} SET {quote(SEEN_GEN)} = {gen}, {quote(DELETED_AT)} = NULL"
            f" WHERE {quote(ID_COLUMN)} = {rid}"
            f" AND ({quote(SEEN_GEN)} IS NULL OR {quote(SEEN_GEN)} <> {self.param(2)})"
        )
        cur.executemany(sql, [(generation, i, generation) for i in ids])

    @abstractmethod
    def lock(
        self, db: SqlDatabase, key: tuple[str, str], owner: str
    ) -> IOResult[Lease, StateError]:
        """Take the run lock for ``(pipeline, entity)``, released if the holder dies."""

    def savepoint(self, cur: Any, name: str) -> None:
        cur.execute(f"SAVEPOINT {name}")

    def rollback_to(self, cur: Any, name: str) -> None:
        cur.execute(f"ROLLBACK TO SAVEPOINT {name}")

    def release(self, cur: Any, name: str) -> None:
        cur.execute(f"RELEASE SAVEPOINT {name}")

    def error_reason(self, exc: Exception) -> str:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

    def attempt(self, cur: Any, work: Callable[[], int]) -> int | None:
        """``work()`` inside a savepoint; ``None``, with nothing of it left, on a data error."""
        self.savepoint(cur, "GNOS_BATCH")
        try:
            written = work()
        except self.data_errors:
            self.rollback_to(cur, "GNOS_BATCH")
            return None
        self.release(cur, "GNOS_BATCH")
        return written

    def isolate(
        self,
        cur: Any,
        rows: Sequence[PreparedRow],
        many: Callable[[Sequence[PreparedRow]], int],
        one: Callable[[PreparedRow], int],
    ) -> UpsertResult:
        """Run ``many`` inside a savepoint; on a data error redo row by row, each in its own
        savepoint, so only the rows that do not fit are refused."""
        together = self.attempt(cur, lambda: many(rows))
        if together is not None:
            return UpsertResult(together)
        written, failed = 0, []
        for row in rows:
            self.savepoint(cur, "GNOS_ROW")
            try:
                written += one(row)
            except self.data_errors as exc:
                self.rollback_to(cur, "GNOS_ROW")
                failed.append((row, self.error_reason(exc)))
            else:
                self.release(cur, "GNOS_ROW")
        return UpsertResult(written, tuple(failed))


class OnConflictDialect(Dialect, ABC):
    """SQLite and PostgreSQL: ``INSERT ... ON CONFLICT ("ID") DO UPDATE ... WHERE`` monotonic."""

    #: Both count a row the ``DO UPDATE ... WHERE`` skips as unchanged (its rowcount is 0).
    exact_upsert_count: ClassVar[bool] = True

    def upsert_sql(
        self, spec: TableSpec, source: str | None = None, select: Sequence[str] | None = None
    ) -> str:
        """The monotonic upsert, from bound ``VALUES`` or from ``SELECT ... FROM source``
        (``select``: an SQL expression per bound column; the columns themselves by default)."""
        names = spec.bound_names
        cols = ", ".join(quote(n) for n in names)
        if source is None:
            values = f"VALUES ({', '.join(self.params(spec.bound_types))})"
        else:
            picked = ", ".join(select) if select is not None else cols
            values = f"SELECT {picked} FROM {quote(source)}"
        target = quote(spec.table)
        sets = [f"{quote(n)} = excluded.{quote(n)}" for n in names if n != SEEN_GEN]
        sets.append(
            f"{quote(SEEN_GEN)} = COALESCE(excluded.{quote(SEEN_GEN)}, {target}.{quote(SEEN_GEN)})"
        )
        sets.append(f"{quote(DELETED_AT)} = NULL")
        return (
            f"INSERT INTO {target} ({cols})\n{values}\n"
            f"ON CONFLICT ({quote(ID_COLUMN)}) DO UPDATE SET\n  "
            + ",\n  ".join(sets)
            + f"\nWHERE {target}.{quote(MOD_TS_COLUMN)} <= excluded.{quote(MOD_TS_COLUMN)}"
        )

    def history_sql(self, spec: TableSpec) -> str:
        assert spec.history is not None  # noqa: S101 - callers check spec.history
        cols = ", ".join(quote(n) for n in spec.bound_names)
        return (
            f"INSERT INTO {quote(spec.history)} ({cols})\n"
            f"VALUES ({', '.join(self.params(spec.bound_types))})\n"
            f"ON CONFLICT ({quote(ID_COLUMN)}, {quote(MOD_TS_COLUMN)}) DO NOTHING"
        )

    def insert_history(
        self, cur: Any, spec: TableSpec, rows: Sequence[PreparedRow]
    ) -> UpsertResult:
        sql = self.history_sql(spec)

        def many(batch: Sequence[PreparedRow]) -> int:
            cur.executemany(sql, [r.values for r in batch])
            return len(batch)

        def one(row: PreparedRow) -> int:
            cur.execute(sql, row.values)
            return 1

        return self.isolate(cur, rows, many, one)
