"""Fixtures for the SQL sink suites: SQLite in tmp_path, PostgreSQL in a fresh schema per test."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.sql import SqlBackend, open_sql_backend
from gruponos.adapters.sql.dialect import Dialect
from gruponos.adapters.sql.postgres import PostgresDialect
from gruponos.adapters.sql.sqlite import SqliteDialect
from gruponos.domain.records import NormalizedRecord
from gruponos.domain.schema import EntitySchema, FieldType, SourceField, build_schema

PG_DSN = os.getenv("GRUPONOS_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def schema(entity: str = "order_hdr", *extra: SourceField) -> EntitySchema:
    fields = [
        SourceField("id", FieldType.PK),
        SourceField("mod_ts", FieldType.DATETIME),
        SourceField("status_id", FieldType.INTEGER),
        SourceField("total_qty", FieldType.DECIMAL),
        SourceField("order_nbr", FieldType.VARCHAR, max_length=20),
        SourceField("rush_flg", FieldType.BOOLEAN),
        *extra,
    ]
    return build_schema(entity, fields).unwrap()


def record(rid: int, second: int, *, nbr: str | None = None, **values: Any) -> NormalizedRecord:
    mod_ts = T0 + timedelta(seconds=second)
    row: dict[str, Any] = {
        "ID": rid,
        "MOD_TS": mod_ts,
        "STATUS_ID": second,
        "TOTAL_QTY": Decimal("12.50"),
        "ORDER_NBR": nbr if nbr is not None else f"O{rid}-{second}",
        "RUSH_FLG": True,
    }
    row.update(values)
    return NormalizedRecord(rid, mod_ts, row, None)


class FailingConnection:
    """A real connection whose ``commit`` can be made to fail, as a crash before commit would."""

    def __init__(self, inner: Any, error: type[Exception]) -> None:
        self.inner = inner
        self.error = error
        self.fail_commit = False

    def commit(self) -> None:
        if self.fail_commit:
            raise self.error("injected failure before commit")
        self.inner.commit()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def pg_available() -> bool:
    try:
        psycopg.connect(PG_DSN, connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


@contextmanager
def pg_schema() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a schema of its own, dropped afterwards (skips the
    test when PostgreSQL is not reachable)."""
    if not pg_available():
        pytest.skip(f"PostgreSQL is not reachable at {PG_DSN} (GRUPONOS_TEST_PG_DSN)")
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in PG_DSN else "?"
    try:
        yield f"{PG_DSN}{sep}options={quote(f'-csearch_path={name}')}"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL in a schema of its own, per test (:func:`pg_schema`)."""
    with pg_schema() as url:
        yield url


BackendFactory = Callable[..., SqlBackend]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sink.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def dialect_of(url: str) -> tuple[Dialect, type[Exception]]:
    if url.startswith("sqlite:"):
        return SqliteDialect(url.removeprefix("sqlite:///")), sqlite3.OperationalError
    return PostgresDialect(url), psycopg.OperationalError


@pytest.fixture
def open_backend(db_url: str) -> Iterator[BackendFactory]:
    """Open backends on ``db_url`` (closed after the test); ``failing=True`` wraps the
    connection in a :class:`FailingConnection`."""
    opened: list[SqlBackend] = []

    def factory(*, failing: bool = False, **options: Any) -> SqlBackend:
        if failing:
            dialect, error = dialect_of(db_url)
            conn = FailingConnection(dialect.connect(), error)
            backend = SqlBackend(dialect, conn, where="test", **options)
        else:
            backend = unsafe_perform_io(open_sql_backend(db_url, **options).unwrap())
        opened.append(backend)
        return backend

    yield factory
    for backend in opened:
        backend.close()


def query(backend: SqlBackend, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run a read-only query on the backend's own connection (and end its transaction)."""
    with backend.db.mutex:
        cur = backend.db.conn.cursor()
        try:
            cur.execute(sql, params)
            return [tuple(row) for row in cur.fetchall()]
        finally:
            cur.close()
            backend.db.conn.rollback()
