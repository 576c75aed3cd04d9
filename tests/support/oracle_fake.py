"""A recording stand-in for python-oracledb: the calls the Oracle dialect makes, answered the way
an Oracle server would answer them, as far as the sink can tell.

What it models, because the sink's correctness depends on it:

- the dictionary (``USER_TAB_COLUMNS``, ``ALL_TAB_COLUMNS`` by owner) from the DDL it ran, parsed
  with sqlglot, per schema (the login user's, or the session's ``CURRENT_SCHEMA``);
- DDL errors: ORA-00955 (name in use), ORA-01430 (column exists), ORA-02329 (a ``TIMESTAMP WITH
  TIME ZONE`` column in a primary key), ORA-00054 when another session's open transaction holds
  the table longer than the session's ``DDL_LOCK_TIMEOUT``; DDL commits implicitly;
- lengths in **bytes in the database character set**: ``VARCHAR2(n CHAR)`` refuses more than n
  characters or more than ``MAX_STRING_SIZE`` bytes (ORA-12899), a string bound as ``VARCHAR``
  longer than that limit is ORA-01461; characters the character set lacks become ``?``;
- ``MERGE`` that stores rows and counts only what it inserted or updated (a stale row's false
  ``WHEN MATCHED ... WHERE`` writes nothing), ``arraydmlrowcounts``, ``batcherrors``;
- transactions: commit, rollback, savepoints;
- errors injected by ORA number: on a statement (``inject``) or on a row id of a batch
  (``row_errors``), each once;
- **round trips**: every execute, executemany, commit, rollback and connect; two per string bound
  as a temporary CLOB (create, write); one per fetch of ``arraysize`` rows beyond the
  ``prefetchrows`` the execute brought; one per ``LOB.read()``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import oracledb
import sqlglot
from oracledb import errors as ora_errors
from sqlglot import exp

from gruponos.adapters.oracle_config import OracleSinkSettings
from gruponos.adapters.sql.oracle import OracleDialect

_ALIAS = re.compile(r""":b\d+(?:, 'UTC'\))? AS "([A-Z0-9_$#]+)\"""")
_SNAPSHOT = re.compile(r'SELECT "ID", (?:SYS_EXTRACT_UTC\()?"MOD_TS"\)? FROM "([A-Z0-9_$#]+)"')
_CODECS = {"AL32UTF8": "utf-8", "WE8MSWIN1252": "cp1252", "WE8ISO8859P1": "latin-1"}
_MISSING = object()
_MESSAGES = {
    1: "ORA-00001: unique constraint violated",
    54: "ORA-00054: resource busy and acquire with NOWAIT specified or timeout expired",
    60: "ORA-00060: deadlock detected while waiting for resource",
    955: "ORA-00955: name is already used by an existing object",
    1430: "ORA-01430: column being added already exists in table",
    1461: "ORA-01461: can bind a LONG value only for insert into a LONG column",
    1653: "ORA-01653: unable to extend table by 1024 in tablespace USERS",
    1950: "ORA-01950: no privileges on tablespace 'USERS'",
    2329: "ORA-02329: column of datatype TIME/TIMESTAMP WITH TIME ZONE cannot be unique or a"
    " primary key",
    12899: "ORA-12899: value too large for column",
    30006: "ORA-30006: resource busy; acquire with WAIT timeout expired",
}


def ora_error(code: int, detail: str = "") -> ora_errors._Error:
    """What python-oracledb puts in ``exc.args[0]`` and returns from ``getbatcherrors()``."""
    message = _MESSAGES.get(code, f"ORA-{code:05d}: injected error") + detail
    return ora_errors._Error(message, code=code)


def raise_ora(code: int, detail: str = "") -> None:
    raise oracledb.DatabaseError(ora_error(code, detail))


@dataclass
class Column:
    name: str
    dtype: str  # VARCHAR2, NUMBER, CLOB, TIMESTAMP(6), TIMESTAMP(6) WITH TIME ZONE ...
    length: int | None = None


@dataclass
class Table:
    columns: list[Column]
    key: tuple[str, ...] = ()
    rows: dict[Any, dict[str, Any]] = field(default_factory=dict)
    busy_seconds: float = 0.0  # another session's open transaction holds it this long

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass
class FakeOracle:
    """Shared server state for every connection the dialect opens."""

    user: str = "GRUPONOS"
    charset: str = "AL32UTF8"
    max_string_size: str = "STANDARD"
    privileges: set[str] = field(
        default_factory=lambda: {"CREATE SESSION", "CREATE TABLE", "CREATE SEQUENCE"}
    )
    quota: bool = True
    tables: dict[tuple[str, str], Table] = field(default_factory=dict)
    locked_keys: dict[str, RecordingConnection] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    state: dict[tuple[str, str], str] = field(default_factory=dict)
    quarantine: list[tuple[Any, ...]] = field(default_factory=list)
    fail_on: str | None = None
    injected: list[tuple[str, int, Callable[[], None] | None, str]] = field(default_factory=list)
    row_errors: dict[int, int] = field(default_factory=dict)
    connections: list[RecordingConnection] = field(default_factory=list)
    connect_kwargs: list[dict[str, Any]] = field(default_factory=list)
    round_trips: int = 0
    ddl_log: list[str] = field(default_factory=list)

    @property
    def max_bytes(self) -> int:
        return 32767 if self.max_string_size == "EXTENDED" else 4000

    @property
    def codec(self) -> str:
        return _CODECS.get(self.charset, "ascii")

    def stored_text(self, value: str) -> str:
        """What the database keeps of ``value``: characters its character set lacks become ?."""
        return value.encode(self.codec, "replace").decode(self.codec)

    def byte_length(self, value: str) -> int:
        return len(value.encode(self.codec, "replace"))

    def inject(
        self, code: int, when: str, effect: Callable[[], None] | None = None, detail: str = ""
    ) -> None:
        """The next statement containing ``when`` raises ORA-``code`` (once), after ``effect``
        (what another session did first, e.g. create the table)."""
        self.injected.append((when, code, effect, detail))

    def table(self, name: str, owner: str | None = None) -> Table:
        return self.tables[(owner or self.user, name)]

    def connect(self, **kwargs: Any) -> RecordingConnection:
        self.connect_kwargs.append(kwargs)
        self.round_trips += 1
        conn = RecordingConnection(self)
        self.connections.append(conn)
        return conn


class FakeLob:
    def __init__(self, server: FakeOracle, text: str) -> None:
        self.server, self.text = server, text

    def read(self) -> str:
        self.server.round_trips += 1
        return self.text


@dataclass
class FakeVar:
    type: Any


@dataclass
class FetchInfo:
    type_code: Any


class RecordingCursor:
    def __init__(self, conn: RecordingConnection) -> None:
        self.conn = conn
        self.server = conn.server
        self.rowcount = 0
        self.arraysize = 100
        self.prefetchrows = 2
        self._types: tuple[Any, ...] = ()
        self._rows: list[tuple[Any, ...]] = []
        self._fetched = self._given = 0
        self._errors: list[ora_errors._Error] = []
        self._counts: list[int] | None = None

    def __enter__(self) -> RecordingCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.calls.append(("close_cursor",))

    def var(self, typ: Any, arraysize: int = 1) -> FakeVar:
        return FakeVar(typ)

    def setinputsizes(self, *types: Any) -> None:
        self.conn.calls.append(("setinputsizes", types))
        self._types = types

    # -- helpers ---------------------------------------------------------------------------------

    def _round_trip(self, rows: list[Any]) -> None:
        lobs = [i for i, t in enumerate(self._types) if t is oracledb.DB_TYPE_CLOB]
        created = sum(1 for r in rows for i in lobs if i < len(r) and isinstance(r[i], str))
        self.server.round_trips += 1 + 2 * created  # temporary LOB: create, then write

    def _check_injected(self, sql: str) -> None:
        if self.server.fail_on and self.server.fail_on in sql:
            raise oracledb.DatabaseError(f"ORA-03113: injected failure on {self.server.fail_on}")
        for index, (when, code, effect, detail) in enumerate(self.server.injected):
            if when in sql:
                del self.server.injected[index]
                if effect is not None:
                    effect()
                raise_ora(code, detail)

    def _result(self, rows: list[tuple[Any, ...]], clob_at: tuple[int, ...] = ()) -> None:
        handler = self.conn.outputtypehandler
        as_text = False
        if handler is not None and clob_at:
            var = handler(self, FetchInfo(oracledb.DB_TYPE_CLOB))
            as_text = var is not None and var.type is oracledb.DB_TYPE_LONG
        if clob_at and not as_text:
            rows = [
                tuple(
                    FakeLob(self.server, v) if i in clob_at and v is not None else v
                    for i, v in enumerate(r)
                )
                for r in rows
            ]
        self._rows, self._fetched, self._given = rows, min(len(rows), self.prefetchrows), 0

    # -- execute ---------------------------------------------------------------------------------

    def execute(self, sql: str, params: Any = None) -> None:  # noqa: PLR0912 - one branch per statement
        self.conn.calls.append(("execute", sql, params))
        self._round_trip([params] if isinstance(params, (list, tuple)) else [])
        self._types = ()
        self._check_injected(sql)
        self._rows, self._fetched, self._given, self.rowcount = [], 0, 0, 0
        conn, server = self.conn, self.server
        if sql.startswith("BEGIN EXECUTE IMMEDIATE"):
            conn.set_up(sql)
        elif "NLS_DATABASE_PARAMETERS" in sql:
            self._result([(server.charset, server.max_bytes)])
        elif "SESSION_PRIVS" in sql:
            self._result([(p,) for p in sorted(server.privileges)])
        elif "USER_TS_QUOTAS" in sql:
            self._result([(1 if server.quota else 0,)])
        elif "TAB_COLUMNS" in sql:
            owner, name = (conn.user, params[0]) if "USER_TAB" in sql else params
            table = server.tables.get((owner, name))
            self._result([(c.name, c.dtype, c.length) for c in table.columns] if table else [])
        elif sql.startswith(("CREATE TABLE", "ALTER TABLE", "DROP TABLE")):
            conn.ddl(sql)
        elif "FOR UPDATE" in sql:
            holder = server.locked_keys.get(params[0])
            if holder is not None and holder is not conn and not holder.closed:
                raise_ora(54 if "NOWAIT" in sql else 30006)
            server.locked_keys[params[0]] = conn
            self._result([(server.owners.get(params[0]),)])
        elif "AUTONOMOUS_TRANSACTION" in sql:
            server.owners[params[1]] = params[0]
        elif sql.startswith('SELECT "OWNER"'):
            owner = server.owners.get(params[0])
            self._result([(owner,)] if owner else [])
        elif sql.startswith("SAVEPOINT"):
            conn.savepoints[sql.split()[1]] = len(conn.undo)
        elif sql.startswith("ROLLBACK TO SAVEPOINT"):
            conn.undo_to(conn.savepoints[sql.rsplit(maxsplit=1)[-1]])
        elif '"GNOS_STATE"' in sql:
            self._state(sql, params)
        elif sql.startswith('SELECT "ENTITY", "RECORD_ID", "PAYLOAD"'):
            rows = [r for r in server.quarantine if not params or r[0] == params[0]]
            self._result(list(reversed(rows)), clob_at=(2, 3))
        elif match := _SNAPSHOT.match(sql):
            table = server.table(match.group(1), conn.schema)
            live = [r for r in table.rows.values() if r.get("GNOS_DELETED_AT") is None]
            self._result([(r["ID"], r["MOD_TS"]) for r in live])

    def _state(self, sql: str, params: Any) -> None:
        state = self.server.state
        if sql.startswith("UPDATE"):
            key = (params[2], params[3])
            if key in state:
                self.conn.write(state, key, params[0])
                self.rowcount = 1
        elif sql.startswith("INSERT"):
            self.conn.write(state, (params[0], params[1]), params[2])
            self.rowcount = 1
        elif sql.startswith("SELECT") and params:
            key = (params[0], params[1])
            self._result([(state[key],)] if key in state else [], clob_at=(0,))
        elif sql.startswith("SELECT"):
            self._result([(*k, v) for k, v in state.items()], clob_at=(2,))

    # -- executemany -----------------------------------------------------------------------------

    def executemany(
        self,
        sql: str,
        rows: list[tuple[Any, ...]],
        *,
        batcherrors: bool = False,
        arraydmlrowcounts: bool = False,
    ) -> None:
        options = {"batcherrors": batcherrors}
        if arraydmlrowcounts:
            options["arraydmlrowcounts"] = True
        self.conn.calls.append(("executemany", sql, list(rows), options))
        self._round_trip(list(rows))
        self._check_injected(sql)
        self._errors, self._counts = [], [] if arraydmlrowcounts else None
        apply: Callable[[tuple[Any, ...]], int] = lambda _row: 1  # noqa: E731
        if sql.startswith("MERGE INTO"):
            apply = self._merger(sql)
        elif sql.startswith("UPDATE") and '"GNOS_SEEN_GEN" = :b1' in sql:
            apply = self._marker(sql)
        elif '"GNOS_QUARANTINE"' in sql:
            apply = self._quarantiner()
        total = 0
        for offset, row in enumerate(rows):
            mark = len(self.conn.undo)
            try:
                count = apply(row)
            except oracledb.DatabaseError as exc:
                self.conn.undo_to(mark)  # the row's own changes, as Oracle undoes them
                if not batcherrors:
                    raise
                error = exc.args[0]
                error.offset = offset
                self._errors.append(error)
                count = 0
            total += count
            if self._counts is not None:
                self._counts.append(count)
        self.rowcount = total
        self._types = ()

    def _text_checks(self, table: Table, names: list[str], row: tuple[Any, ...]) -> None:
        server = self.server
        for index, (name, value) in enumerate(zip(names, row, strict=True)):
            if not isinstance(value, str):
                continue
            bound = self._types[index] if index < len(self._types) else None
            if bound is not oracledb.DB_TYPE_CLOB and len(value.encode()) > server.max_bytes:
                raise_ora(1461)
            column = table.column(name)
            if column is None or column.dtype != "VARCHAR2":
                continue
            size = server.byte_length(value)
            if len(value) > (column.length or 0) or size > server.max_bytes:
                raise_ora(12899, f' "{name}" (actual: {len(value)}, maximum: {column.length})')

    def _stored(self, value: Any, index: int) -> Any:
        bound = self._types[index] if index < len(self._types) else None
        if isinstance(value, str):
            if value == "" and bound is not oracledb.DB_TYPE_CLOB:
                return None  # an empty VARCHAR is NULL; an empty temporary LOB is not
            return self.server.stored_text(value)
        return value

    def _merger(self, sql: str) -> Callable[[tuple[Any, ...]], int]:
        name = sql.split('"')[1]
        table = self.server.table(name, self.conn.schema)
        names = _ALIAS.findall(sql)
        history = '"MOD_TS" = s."MOD_TS"' in sql.split("WHEN", maxsplit=1)[0]

        def apply(row: tuple[Any, ...]) -> int:
            values = dict(zip(names, row, strict=True))
            self._text_checks(table, names, row)
            code = self.server.row_errors.pop(values["ID"], None)
            if code is not None:
                raise_ora(code)
            stored = {n: self._stored(v, i) for i, (n, v) in enumerate(values.items())}
            key = (values["ID"], values["MOD_TS"]) if history else values["ID"]
            old = table.rows.get(key)
            if old is not None:
                if history or values["MOD_TS"] < old["MOD_TS"]:
                    return 0  # WHEN MATCHED ... WHERE is false: nothing written, not counted
                if stored["GNOS_SEEN_GEN"] is None:
                    stored["GNOS_SEEN_GEN"] = old.get("GNOS_SEEN_GEN")
            self.conn.write(table.rows, key, stored)
            return 1

        return apply

    def _marker(self, sql: str) -> Callable[[tuple[Any, ...]], int]:
        table = self.server.table(sql.split('"')[1], self.conn.schema)

        def apply(row: tuple[Any, ...]) -> int:
            generation, rid, _ = row
            old = table.rows.get(rid)
            if old is None or old.get("GNOS_SEEN_GEN") == generation:
                return 0
            self.conn.write(table.rows, rid, {**old, "GNOS_SEEN_GEN": generation})
            return 1

        return apply

    def _quarantiner(self) -> Callable[[tuple[Any, ...]], int]:
        def apply(row: tuple[Any, ...]) -> int:
            self.conn.write_list(self.server.quarantine, tuple(row))
            return 1

        return apply

    def getbatcherrors(self) -> list[ora_errors._Error]:
        return list(self._errors)

    def getarraydmlrowcounts(self) -> list[int]:
        if self._counts is None:
            raise_ora(24349, " (array DML row counts not enabled)")
        return list(self._counts or [])

    # -- fetch -----------------------------------------------------------------------------------

    def _take(self, size: int) -> list[tuple[Any, ...]]:
        """Rows for the caller; those not yet on the client cost a round trip per arraysize."""
        end = len(self._rows) if size < 0 else min(len(self._rows), self._given + size)
        if end > self._fetched:
            trips = math.ceil((end - self._fetched) / max(self.arraysize, 1))
            self.server.round_trips += trips
            self._fetched = min(len(self._rows), self._fetched + trips * self.arraysize)
        taken, self._given = self._rows[self._given : end], end
        return taken

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._take(-1)

    def fetchone(self) -> tuple[Any, ...] | None:
        rows = self._take(1)
        return rows[0] if rows else None

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        return self._take(size)


class RecordingConnection:
    def __init__(self, server: FakeOracle) -> None:
        self.server = server
        self.user = server.user
        self.schema = server.user
        self.ddl_lock_timeout = 0
        self.calls: list[tuple[Any, ...]] = []
        self.undo: list[tuple[Any, Any, Any]] = []
        self.savepoints: dict[str, int] = {}
        self.closed = False
        self.module: str | None = None
        self.action: str | None = None
        self.client_identifier: str | None = None
        self.call_timeout = 0
        self.outputtypehandler: Any = None

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self)

    # -- transactions ----------------------------------------------------------------------------

    def write(self, target: dict[Any, Any], key: Any, value: Any) -> None:
        self.undo.append((target, key, target.get(key, _MISSING)))
        target[key] = value

    def write_list(self, target: list[Any], value: Any) -> None:
        target.append(value)
        self.undo.append((target, None, _MISSING))

    def undo_to(self, mark: int) -> None:
        while len(self.undo) > mark:
            target, key, old = self.undo.pop()
            if isinstance(target, list):
                target.pop()
            elif old is _MISSING:
                del target[key]
            else:
                target[key] = old

    def commit(self) -> None:
        self.calls.append(("commit",))
        self.server.round_trips += 1
        self.undo.clear()

    def rollback(self) -> None:
        self.calls.append(("rollback",))
        self.server.round_trips += 1
        self.undo_to(0)

    def close(self) -> None:
        self.calls.append(("close",))
        self.closed = True
        self.undo_to(0)  # an open transaction dies with its session
        for key in [k for k, c in self.server.locked_keys.items() if c is self]:
            del self.server.locked_keys[key]  # Oracle releases row locks with the session

    # -- session set-up and DDL ------------------------------------------------------------------

    def set_up(self, block: str) -> None:
        if match := re.search(r"DDL_LOCK_TIMEOUT = (\d+)", block):
            self.ddl_lock_timeout = int(match.group(1))
        if match := re.search(r'CURRENT_SCHEMA = "([A-Z0-9_$#]+)"', block):
            self.schema = match.group(1)

    def ddl(self, sql: str) -> None:
        server = self.server
        self.undo.clear()  # DDL commits what the session had done
        self.server.ddl_log.append(sql)
        if sql.startswith("DROP TABLE"):
            server.tables.pop((self.schema, sql.split('"')[1]), None)
            return
        tree = sqlglot.parse_one(sql, read="oracle")
        if sql.startswith("CREATE TABLE"):
            name = tree.this.this.name
            if (self.schema, name) in server.tables:
                raise_ora(955)
            columns = [_column(c) for c in tree.find_all(exp.ColumnDef)]
            key = _primary_key(tree, columns)
            types = {c.name: c.dtype for c in columns}
            if any("WITH TIME ZONE" in types[k] for k in key):
                raise_ora(2329)
            server.tables[(self.schema, name)] = Table(columns, key)
            return
        table = server.tables[(self.schema, tree.this.name)]
        if table.busy_seconds > self.ddl_lock_timeout:
            raise_ora(54)
        if " ADD " in sql:
            column = _column(next(tree.find_all(exp.ColumnDef)))
            if table.column(column.name) is not None:
                raise_ora(1430)
            table.columns.append(column)
        elif " MODIFY " in sql:
            match = re.search(r'MODIFY \("([A-Z0-9_$#]+)" VARCHAR2\((\d+) CHAR\)\)', sql)
            assert match is not None
            existing = table.column(match.group(1))
            assert existing is not None
            existing.length = int(match.group(2))

    def statements(self) -> list[str]:
        return [c[1] for c in self.calls if c[0] in ("execute", "executemany")]


def _column(column: exp.ColumnDef) -> Column:
    kind = column.args["kind"]
    text = kind.sql(dialect="oracle")
    if text.startswith("VARCHAR2"):
        return Column(column.name, "VARCHAR2", int(kind.expressions[0].this.name))
    if text.startswith("TIMESTAMP"):
        precision = re.search(r"\((\d)\)", text)
        zone = " WITH TIME ZONE" if "TIME ZONE" in text.upper() else ""
        return Column(column.name, f"TIMESTAMP({precision.group(1) if precision else 6}){zone}")
    return Column(column.name, text.split("(")[0])


def _primary_key(tree: Any, columns: list[Column]) -> tuple[str, ...]:
    for key in tree.find_all(exp.PrimaryKey):
        return tuple(e.name for e in key.expressions)
    for constraint in tree.find_all(exp.PrimaryKeyColumnConstraint):
        column_def = constraint.find_ancestor(exp.ColumnDef)
        if column_def is not None:
            return (column_def.name,)
    return (columns[0].name,) if columns else ()


def oracle_dialect(server: FakeOracle, **settings: Any) -> OracleDialect:
    """The real Oracle dialect, its sessions opened on ``server``."""
    return OracleDialect(
        "fake:1521/FREEPDB1",
        user="gruponos",
        password="secret",
        settings=OracleSinkSettings(**settings),
        driver_connect=server.connect,
    )
