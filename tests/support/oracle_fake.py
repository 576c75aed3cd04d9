"""A recording stand-in for a python-oracledb connection: the calls the Oracle dialect makes.

It keeps just enough state to answer the dialect: tables created (columns parsed from the DDL
with sqlglot, so ``USER_TAB_COLUMNS`` answers like Oracle), and per-row batch errors for string
values longer than their ``VARCHAR2(n CHAR)`` column, as Oracle reports ORA-12899.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import oracledb
import sqlglot
from sqlglot import exp

_BIND_ALIAS = re.compile(r"""(?:FROM_TZ\()?:b\d+(?:, 'UTC'\))? AS "([A-Z0-9_$#]+)\"""")


@dataclass
class BatchError:
    """What ``Cursor.getbatcherrors()`` returns per refused row."""

    offset: int
    message: str
    full_code: str = "ORA-12899"

    def __str__(self) -> str:
        return self.message


@dataclass
class FakeOracle:
    """Shared server state for every connection the dialect opens."""

    tables: dict[str, list[tuple[str, str, int | None]]] = field(default_factory=dict)
    locked_keys: set[str] = field(default_factory=set)
    owners: dict[str, str] = field(default_factory=dict)
    fail_on: str | None = None
    connections: list[RecordingConnection] = field(default_factory=list)

    def connect(self) -> RecordingConnection:
        conn = RecordingConnection(self)
        self.connections.append(conn)
        return conn


class RecordingCursor:
    def __init__(self, conn: RecordingConnection) -> None:
        self.conn = conn
        self.server = conn.server
        self.rowcount = 0
        self._rows: list[tuple[Any, ...]] = []
        self._errors: list[BatchError] = []

    def __enter__(self) -> RecordingCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.calls.append(("close_cursor",))

    def setinputsizes(self, *types: Any) -> None:
        self.conn.calls.append(("setinputsizes", types))

    def _maybe_fail(self, sql: str) -> None:
        if self.server.fail_on and self.server.fail_on in sql:
            raise oracledb.DatabaseError(f"ORA-03113: injected failure on {self.server.fail_on}")

    def execute(self, sql: str, params: Any = None) -> None:
        self.conn.calls.append(("execute", sql, params))
        self._maybe_fail(sql)
        self._rows, self.rowcount = [], 0
        if "USER_TAB_COLUMNS" in sql:
            self._rows = [tuple(c) for c in self.server.tables.get(params[0], [])]
        elif sql.startswith("CREATE TABLE"):
            self._create(sql)
        elif sql.startswith("ALTER TABLE") and " ADD " in sql:
            table = sqlglot.parse_one(sql, read="oracle").this.name
            column = next(sqlglot.parse_one(sql, read="oracle").find_all(exp.ColumnDef))
            self.server.tables[table].append(_column_row(column))
        elif "FOR UPDATE NOWAIT" in sql:
            if params[0] in self.server.locked_keys:
                raise oracledb.DatabaseError("ORA-00054: resource busy and acquire with NOWAIT")
            self.server.locked_keys.add(params[0])
            self.conn.held.add(params[0])
        elif "AUTONOMOUS_TRANSACTION" in sql:
            self.server.owners[params[1]] = params[0]
        elif sql.startswith('SELECT "OWNER"'):
            owner = self.server.owners.get(params[0])
            self._rows = [(owner,)] if owner else []

    def _create(self, sql: str) -> None:
        tree = sqlglot.parse_one(sql, read="oracle")
        name = tree.this.this.name
        self.server.tables[name] = [_column_row(c) for c in tree.find_all(exp.ColumnDef)]

    def executemany(self, sql: str, rows: list[tuple[Any, ...]], **options: Any) -> None:
        self.conn.calls.append(("executemany", sql, list(rows), options))
        self._maybe_fail(sql)
        self._errors = []
        if options.get("batcherrors") and sql.startswith("MERGE INTO"):
            table = sql.split('"')[1]
            widths = {n: w for n, t, w in self.server.tables[table] if t == "VARCHAR2"}
            names = _BIND_ALIAS.findall(sql)
            for offset, row in enumerate(rows):
                for name, value in zip(names, row, strict=True):
                    width = widths.get(name)
                    if isinstance(value, str) and width is not None and len(value) > width:
                        message = (
                            f'ORA-12899: value too large for column "{table}"."{name}"'
                            f" (actual: {len(value)}, maximum: {width})"
                        )
                        self._errors.append(BatchError(offset, message))
                        break
        self.rowcount = len(rows) - len(self._errors)

    def getbatcherrors(self) -> list[BatchError]:
        return list(self._errors)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self._rows)

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        return self._rows[:size]


class RecordingConnection:
    def __init__(self, server: FakeOracle) -> None:
        self.server = server
        self.calls: list[tuple[Any, ...]] = []
        self.held: set[str] = set()
        self.closed = False

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self)

    def commit(self) -> None:
        self.calls.append(("commit",))

    def rollback(self) -> None:
        self.calls.append(("rollback",))

    def close(self) -> None:
        self.calls.append(("close",))
        self.closed = True
        self.server.locked_keys -= self.held  # Oracle releases row locks with the session

    def statements(self) -> list[str]:
        return [c[1] for c in self.calls if c[0] in ("execute", "executemany")]


def _column_row(column: exp.ColumnDef) -> tuple[str, str, int | None]:
    kind = column.args["kind"]
    type_name = kind.sql(dialect="oracle").split("(")[0]
    length = None
    if type_name == "VARCHAR2":
        length = int(kind.expressions[0].this.name)
    return (column.name, type_name, length)
