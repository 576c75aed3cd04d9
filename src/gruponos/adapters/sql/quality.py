"""Data-quality questions over the sink's tables, each one set-based statement.

Implements :class:`~gruponos.application.checks.SinkQuality` for SQLite, PostgreSQL and Oracle
alike (standard SQL only; identifiers are the validated, quoted names the sink uses). A table
that does not exist yet counts as empty; a relation column it lacks has no orphans.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from returns.io import IOResult

from gruponos.adapters.sql.core import SqlSink
from gruponos.adapters.sql.ddl import DELETED_AT, quote
from gruponos.application.errors import SinkError
from gruponos.domain.naming import sql_identifier
from gruponos.domain.records import ID_COLUMN, MOD_TS_COLUMN
from gruponos.domain.schema import ColumnType

_LIVE = f"{quote(DELETED_AT)} IS NULL"


class SqlQuality:
    """Counts over the live (not soft-deleted) rows of the sink's entity tables."""

    def __init__(self, sink: SqlSink) -> None:
        self._sink = sink
        self._db = sink.db

    def live_count(self, entity: str) -> IOResult[int, SinkError]:
        def work(cur: Any, tables: dict[str, set[str]]) -> int:
            table = self._sink.table_name(entity)
            if table not in tables:
                return 0
            cur.execute(f"SELECT COUNT(*) FROM {quote(table)} WHERE {_LIVE}")
            return int(cur.fetchone()[0])

        return self._count("check.live_count", entity, work, (entity,))

    def orphans(self, child: str, relation: str, parent: str) -> IOResult[int, SinkError]:
        """Live ``child`` rows whose ``relation`` names an id with no live ``parent`` row."""
        column = sql_identifier(relation)

        def work(cur: Any, tables: dict[str, set[str]]) -> int:
            child_table = self._sink.table_name(child)
            parent_table = self._sink.table_name(parent)
            if column not in tables.get(child_table, set()):
                return 0
            c, fk = quote(child_table), quote(column)
            exists = ""
            if parent_table in tables:
                p = quote(parent_table)
                exists = (
                    f" AND NOT EXISTS (SELECT 1 FROM {p} p WHERE p.{quote(ID_COLUMN)} = c.{fk}"
                    f" AND p.{_LIVE})"
                )
            cur.execute(
                f"SELECT COUNT(*) FROM {c} c WHERE c.{_LIVE} AND c.{fk} IS NOT NULL{exists}"
            )
            return int(cur.fetchone()[0])

        return self._count("check.orphans", child, work, (child, parent))

    def future_rows(self, entity: str, now: datetime) -> IOResult[int, SinkError]:
        d = self._db.dialect

        def work(cur: Any, tables: dict[str, set[str]]) -> int:
            table = self._sink.table_name(entity)
            if table not in tables:
                return 0
            cur.execute(
                f"SELECT COUNT(*) FROM {quote(table)} WHERE {_LIVE}"
                f" AND {quote(MOD_TS_COLUMN)} > {d.ts_param(0)}",
                [d.to_db(ColumnType.TIMESTAMP, now)],
            )
            return int(cur.fetchone()[0])

        return self._count("check.future_rows", entity, work, (entity,))

    def _count(
        self,
        code: str,
        entity: str,
        work: Callable[[Any, dict[str, set[str]]], int],
        entities: tuple[str, ...],
    ) -> IOResult[int, SinkError]:
        def guarded(cur: Any) -> int:
            tables: dict[str, set[str]] = {}
            for name in entities:
                table = self._sink.table_name(name)
                columns = self._db.dialect.existing_columns(cur, table)
                if columns:
                    tables[table] = set(columns)
            return work(cur, tables)

        return self._db.run(SinkError, code, {"entity": entity}, guarded)
