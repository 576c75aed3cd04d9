"""The analyst's view of each entity table: ``<table>_V``, live rows, typed, unquoted names.

One view per entity, ``CREATE VIEW wms_order_dtl_v AS SELECT ... FROM "WMS_ORDER_DTL" WHERE
"GNOS_DELETED_AT" IS NULL``: the view and its columns are unquoted, lower-case identifiers, so
``select order_id from wms_order_dtl_v`` works on SQLite, PostgreSQL and Oracle alike (PostgreSQL
folds them to lower case, Oracle to upper case, SQLite ignores case). Bookkeeping (``GNOS_*``)
columns are left out; a column whose name is a reserved word in any of the three gets a trailing
``_`` (``comment`` -> ``comment_``), ``$`` and ``#`` become ``_``.

Types, per dialect:

- decimals: ``NUMERIC`` (PostgreSQL), ``NUMBER`` (Oracle); SQLite stores them as exact text and the
  view casts them ``AS NUMERIC`` (an integer or a double: exact up to ~15 significant digits);
- instants: timestamps holding UTC without a zone (PostgreSQL ``timestamp``, Oracle
  ``TIMESTAMP(6)``); with a facility time zone configured, each one also as ``<column>_local``.
  SQLite has no timestamp type nor time-zone data: ISO-8601 UTC text, no ``_local`` column;
- booleans: PostgreSQL ``boolean``, 0/1 on Oracle and SQLite; dates: ``date`` / ``DATE`` / ISO text.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from gruponos.adapters.sql.ddl import DELETED_AT, TableSpec, fit_identifier, quote
from gruponos.domain.schema import Column, ColumnType

VIEW_SUFFIX = "_V"
LOCAL_SUFFIX = "_local"
DIALECTS = ("sqlite", "postgresql", "oracle")

#: Words that cannot be an unquoted column name in at least one of the three databases (Oracle's
#: reserved words and PostgreSQL's fully reserved ones; SQLite accepts the rest as names).
_RESERVED_WORDS = """
    access add all alter analyse analyze and any array as asc audit authorization between
    binary both by case cast char check cluster collate column comment compress concurrently
    connect constraint create cross current current_catalog current_date current_role
    current_schema current_time current_timestamp current_user date decimal default deferrable
    delete desc distinct do drop else end except exclusive exists fetch file float for foreign
    freeze from full grant group having identified ilike immediate in increment index initial
    initially inner insert integer intersect into is isnull join lateral leading level like limit
    localtime localtimestamp lock long maxextents minus mlslabel mode modify natural noaudit
    nocompress not notnull nowait null number of offline offset on online only option or order
    outer overlaps pctfree placing primary prior public raw references rename resource returning
    row rowid rownum rows select session session_user set share similar size smallint some start
    successful symmetric synonym sysdate table tablesample then to trailing trigger true uid union
    unique update user validate values varchar varchar2 variadic verbose view whenever where
    window with"""
RESERVED = frozenset(_RESERVED_WORDS.split())


def view_name(spec: TableSpec, limit: int) -> str:
    """``WMS_ORDER_DTL`` -> ``WMS_ORDER_DTL_V`` (shortened with a hash beyond ``limit`` bytes)."""
    return fit_identifier(spec.table + VIEW_SUFFIX, limit)


def analyst_name(column: str) -> str:
    """The unquoted, lower-case name an analyst types for a table column.

    >>> analyst_name("ORDER_ID"), analyst_name("COMMENT"), analyst_name("A$B")
    ('order_id', 'comment_', 'a_b')
    """
    name = column.lower().replace("$", "_").replace("#", "_")
    return name + "_" if name in RESERVED else name


def check_time_zone(name: str) -> str:
    """``name`` if it is an IANA time zone (it reaches SQL as a literal); ``ValueError`` if not."""
    if name not in available_timezones():
        raise ValueError(f"not an IANA time zone: {name!r} (e.g. America/Mexico_City)")
    return name


def _select_items(dialect: str, column: Column, time_zone: str | None) -> list[str]:
    col = quote(column.name)
    alias = analyst_name(column.name)
    if column.type is ColumnType.DECIMAL and dialect == "sqlite":
        return [f"CAST({col} AS NUMERIC) AS {alias}"]
    if column.type is not ColumnType.TIMESTAMP or dialect == "sqlite":
        return [f"{col} AS {alias}"]
    if dialect == "postgresql":
        items = [f"({col} AT TIME ZONE 'UTC') AS {alias}"]
        local = f"({col} AT TIME ZONE '{time_zone}')"
    else:  # oracle: TIMESTAMP(6) already holds UTC
        items = [f"{col} AS {alias}"]
        local = f"CAST(FROM_TZ({col}, 'UTC') AT TIME ZONE '{time_zone}' AS TIMESTAMP)"
    if time_zone is not None:
        items.append(f"{local} AS {alias}{LOCAL_SUFFIX}")
    return items


def create_view_sql(
    dialect: str, spec: TableSpec, *, limit: int, time_zone: str | None = None
) -> list[str]:
    """The statements that (re)create the entity's view, in order.

    ``time_zone`` (an IANA name, checked) adds ``<column>_local`` for each instant, except on
    SQLite, which has no time-zone data.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"no views for dialect {dialect!r}")
    if time_zone is not None:
        check_time_zone(time_zone)
    name = view_name(spec, limit)
    quote(name)  # a safe identifier, used unquoted below
    items: list[str] = []
    for column in spec.columns:
        items += _select_items(dialect, column, time_zone)
    select = ",\n  ".join(items)
    body = f"AS SELECT\n  {select}\nFROM {quote(spec.table)}\nWHERE {quote(DELETED_AT)} IS NULL"
    if dialect == "oracle":
        return [f"CREATE OR REPLACE VIEW {name.lower()} {body}"]
    # PostgreSQL's CREATE OR REPLACE cannot reorder or retype columns: drop, then create, in the
    # caller's transaction (nobody sees the view missing).
    return [drop_view_sql(dialect, name), f"CREATE VIEW {name.lower()} {body}"]


def drop_view_sql(dialect: str, name: str) -> str:
    """``DROP VIEW``; on SQLite and PostgreSQL only if it exists (ask :func:`view_exists` first
    on Oracle)."""
    quote(name)
    if dialect == "oracle":
        return f"DROP VIEW {name.lower()}"
    return f"DROP VIEW IF EXISTS {name.lower()}"


def view_exists(cur: Any, dialect: str, name: str) -> bool:
    """Whether the current schema has view ``name`` (as :func:`view_name` spells it)."""
    if dialect == "sqlite":
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'view' AND name = ?"
    elif dialect == "postgresql":
        sql = (
            "SELECT 1 FROM information_schema.views"
            " WHERE table_schema = current_schema() AND table_name = %s"
        )
    else:
        sql = (
            "SELECT 1 FROM ALL_VIEWS"
            " WHERE OWNER = SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') AND VIEW_NAME = :b1"
        )
    cur.execute(sql, (name if dialect == "oracle" else name.lower(),))
    return cur.fetchone() is not None
