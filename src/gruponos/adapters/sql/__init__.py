"""SQL sinks: SQLite (embedded default), PostgreSQL and Oracle behind one core.

The composition root calls :func:`connect_sql_backend` (a ``StartupError`` when the database
cannot be opened; :func:`open_sql_backend` returns an ``IOResult`` instead) and gets a
:class:`SqlBackend` whose ``sink``, ``state`` (in-sink) and ``runs`` share one connection::

    backend = connect_sql_backend("sqlite:///gruponos.db")
    backend.sink.prepare(schema)
    backend.close()
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure

from gruponos.adapters.sql.core import SqlSink
from gruponos.adapters.sql.database import SqlDatabase, utc_now
from gruponos.adapters.sql.dialect import Dialect
from gruponos.adapters.sql.history import SqlRunHistory, report_from_json
from gruponos.adapters.sql.quarantine import SqlQuarantine
from gruponos.adapters.sql.state import SqlStateStore
from gruponos.adapters.sql.url import SqlUrl, mask_url, parse_sql_url
from gruponos.application.errors import SinkError, StartupError

if TYPE_CHECKING:
    from gruponos.adapters.oracle_config import OracleSinkSettings

__all__ = [
    "SinkStartupError",
    "SqlBackend",
    "SqlDatabase",
    "SqlQuarantine",
    "SqlRunHistory",
    "SqlSink",
    "SqlStateStore",
    "connect_sql_backend",
    "dialect_for",
    "mask_url",
    "open_sql_backend",
    "report_from_json",
]


class SqlBackend:
    """A database opened for gruponos: its record sink, in-sink state store, run history and
    quarantine, on one connection."""

    def __init__(
        self,
        dialect: Dialect,
        connection: Any,
        *,
        where: str,
        table_prefix: str = "WMS_",
        history: bool = False,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.db = SqlDatabase(dialect, connection, where=where, clock=clock)
        self.sink = SqlSink(self.db, table_prefix=table_prefix, history=history)
        self.state = SqlStateStore(self.db)
        self.runs = SqlRunHistory(self.db)
        self.quarantine = SqlQuarantine(self.db)

    def close(self) -> None:
        """Close the connection (rolling back anything uncommitted); safe to call twice."""
        self.db.close()

    def __enter__(self) -> SqlBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def dialect_for(url: SqlUrl, oracle: OracleSinkSettings | None = None) -> Dialect:
    """The dialect for a parsed URL (imports only the driver it needs); ``ValueError`` for an
    Oracle URL whose query cannot be a connect string."""
    if url.scheme == "sqlite":
        from gruponos.adapters.sql.sqlite import SqliteDialect  # noqa: PLC0415 - lazy driver

        return SqliteDialect(url.database)
    if url.scheme == "postgres":
        from gruponos.adapters.sql.postgres import PostgresDialect  # noqa: PLC0415 - lazy driver

        return PostgresDialect(url.without_password, url.password)
    from gruponos.adapters.sql.oracle import OracleDialect  # noqa: PLC0415 - lazy driver
    from gruponos.adapters.sql.oracle_connect import oracle_dsn  # noqa: PLC0415 - lazy driver

    return OracleDialect(oracle_dsn(url), user=url.user, password=url.password, settings=oracle)


class SinkStartupError(StartupError):
    """The database cannot be opened; ``error`` is the :class:`SinkError` (no secret in it)."""

    def __init__(self, error: SinkError) -> None:
        super().__init__(error)
        self.sink_error = error


def open_sql_backend(
    url: str,
    *,
    password: str | None = None,
    table_prefix: str = "WMS_",
    history: bool = False,
    clock: Callable[[], datetime] = utc_now,
    oracle: OracleSinkSettings | None = None,
) -> IOResult[SqlBackend, SinkError]:
    """Connect to ``url`` and return the backend, or a ``SinkError`` without secrets.

    ``history`` keeps every version in ``<table>_HIST`` too (insert-if-absent on ``ID, MOD_TS``);
    ``oracle``: how to connect to Oracle beyond the URL (wallet, thick mode, schema ...).
    """
    try:
        return IOSuccess(
            connect_sql_backend(
                url,
                password=password,
                table_prefix=table_prefix,
                history=history,
                clock=clock,
                oracle=oracle,
            )
        )
    except SinkStartupError as exc:
        return IOFailure(exc.sink_error)


def connect_sql_backend(
    url: str,
    *,
    password: str | None = None,
    table_prefix: str = "WMS_",
    history: bool = False,
    clock: Callable[[], datetime] = utc_now,
    oracle: OracleSinkSettings | None = None,
) -> SqlBackend:
    """:func:`open_sql_backend` for a process that cannot start without its database (how the
    composition root opens it): the backend, or :class:`SinkStartupError`, a ``StartupError``."""
    parsed = parse_sql_url(url, password)
    if isinstance(parsed, Failure):
        raise SinkStartupError(parsed.failure())
    sql_url = parsed.unwrap()
    try:
        dialect = dialect_for(sql_url, oracle)
    except ValueError as exc:  # the query is not shown: it may hold what must not be
        shown = urlsplit(sql_url.shown)._replace(query="").geturl()
        raise SinkStartupError(SinkError("sink.bad_url", str(exc), {"url": shown})) from None
    try:
        connection = dialect.connect()
    except dialect.driver_errors as exc:
        message = dialect.error_reason(exc)
        if sql_url.password:
            message = message.replace(sql_url.password, "***")
        code = getattr(exc, "sink_code", "sink.connect_failed")  # connected, but unusable
        raise SinkStartupError(SinkError(code, message, {"url": sql_url.shown})) from None
    return SqlBackend(
        dialect,
        connection,
        where=sql_url.shown,
        table_prefix=table_prefix,
        history=history,
        clock=clock,
    )
