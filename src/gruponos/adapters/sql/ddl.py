"""Identifiers, table layouts and DDL shared by every SQL dialect.

Every identifier that reaches SQL text goes through :func:`quote`, which accepts only names that are
valid unquoted Oracle identifiers (``^[A-Z][A-Z0-9_$#]*$``, at most 128 bytes) and double-quotes
them. Names from the API are mapped by :func:`gruponos.domain.naming.sql_identifier` first, so a
hostile entity or field name can only ever become a different, harmless identifier.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from gruponos.domain.naming import table_identifier
from gruponos.domain.records import ID_COLUMN, MOD_TS_COLUMN
from gruponos.domain.schema import Column, ColumnType, EntitySchema

if TYPE_CHECKING:
    from gruponos.adapters.sql.dialect import Dialect

_IDENTIFIER = re.compile(r"^[A-Z][A-Z0-9_$#]*$")
MAX_IDENTIFIER_BYTES = 128
HISTORY_SUFFIX = "_HIST"

LOADED_AT = "GNOS_LOADED_AT"
RUN_ID = "GNOS_RUN_ID"
SEEN_GEN = "GNOS_SEEN_GEN"
DELETED_AT = "GNOS_DELETED_AT"
EXTRA = "GNOS_EXTRA"
#: Metadata columns bound per row, in this order, after the data columns.
BOUND_META = (LOADED_AT, RUN_ID, SEEN_GEN, EXTRA)
RUN_ID_LENGTH = 200

META_COLUMNS: tuple[Column, ...] = (
    Column(LOADED_AT, ColumnType.TIMESTAMP, "<gnos>"),
    Column(RUN_ID, ColumnType.TEXT, "<gnos>", max_length=RUN_ID_LENGTH),
    Column(SEEN_GEN, ColumnType.TEXT, "<gnos>", max_length=RUN_ID_LENGTH),
    Column(EXTRA, ColumnType.JSON, "<gnos>"),
    Column(DELETED_AT, ColumnType.TIMESTAMP, "<gnos>"),
)

STATE_TABLE = "GNOS_STATE"
RUNS_TABLE = "GNOS_RUNS"
QUARANTINE_TABLE = "GNOS_QUARANTINE"
LOCKS_TABLE = "GNOS_LOCKS"


def quote(name: str) -> str:
    """``NAME`` -> ``"NAME"``; ``ValueError`` for anything that is not a safe identifier.

    >>> quote("WMS_ORDER_HDR")
    '"WMS_ORDER_HDR"'
    """
    if not _IDENTIFIER.match(name) or len(name.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise ValueError(f"not a safe SQL identifier: {name!r}")
    return f'"{name}"'


def fit_identifier(name: str, limit: int) -> str:
    """``name`` if it fits in ``limit`` bytes; else a prefix plus a stable hash of the whole name
    (PostgreSQL keeps 63 bytes of an identifier and would silently truncate the rest)."""
    if len(name.encode("utf-8")) <= limit:
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8].upper()
    return name[: limit - len(digest) - 1].rstrip("_") + "_" + digest


def entity_table(prefix: str, entity: str, limit: int) -> str:
    """The entity's table name as the database will store it."""
    return fit_identifier(table_identifier(prefix, entity), limit)


@dataclass(frozen=True, slots=True)
class TableSpec:
    """The table of one entity: its name, its data columns and its optional history table.

    Column names are the names in the database (shortened to the dialect's limit when needed);
    ``value_keys`` are the matching keys of :attr:`NormalizedRecord.values`.
    """

    entity: str
    table: str
    columns: tuple[Column, ...]
    history: str | None = None
    value_keys: tuple[str, ...] = ()

    @property
    def data_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def bound_names(self) -> tuple[str, ...]:
        """Columns bound per row by upserts: data columns, then :data:`BOUND_META`."""
        return self.data_names + BOUND_META

    @property
    def bound_columns(self) -> tuple[Column, ...]:
        meta = {c.name: c for c in META_COLUMNS}
        return self.columns + tuple(meta[n] for n in BOUND_META)

    @property
    def bound_types(self) -> tuple[ColumnType, ...]:
        return tuple(c.type for c in self.bound_columns)


def table_spec(schema: EntitySchema, prefix: str, *, history: bool, limit: int) -> TableSpec:
    table = entity_table(prefix, schema.entity, limit)
    hist = fit_identifier(table + HISTORY_SUFFIX, limit) if history else None
    columns = tuple(replace(c, name=fit_identifier(c.name, limit)) for c in schema.columns)
    for name in (table, hist or table, *(c.name for c in columns)):
        quote(name)  # fail early, before any SQL, if a name is unsafe
    keys = tuple(c.name for c in schema.columns)
    return TableSpec(schema.entity, table, columns, hist, keys)


def column_def(dialect: Dialect, column: Column, *, not_null: bool = False) -> str:
    sql_type = dialect.column_type(column.type, column.max_length)
    suffix = dialect.column_suffix(column.name, column.type)
    return f"{quote(column.name)} {sql_type}" + (" NOT NULL" if not_null else "") + suffix


def create_entity_table(dialect: Dialect, spec: TableSpec, *, history: bool = False) -> str:
    """``CREATE TABLE`` for the entity table (key ``ID``) or its history table (``ID, MOD_TS``)."""
    name = spec.history if history and spec.history else spec.table
    key = (ID_COLUMN, MOD_TS_COLUMN) if history else (ID_COLUMN,)
    required = (ID_COLUMN, MOD_TS_COLUMN)  # every record has both
    lines = [column_def(dialect, c, not_null=c.name in required) for c in spec.columns]
    lines += [column_def(dialect, c) for c in META_COLUMNS]
    pk_name = quote(fit_identifier(name + "_PK", dialect.max_identifier))
    lines.append(f"CONSTRAINT {pk_name} PRIMARY KEY ({', '.join(quote(k) for k in key)})")
    return f"CREATE TABLE {quote(name)} (\n  " + ",\n  ".join(lines) + "\n)"


def add_column(dialect: Dialect, table: str, column: Column) -> str:
    return f"ALTER TABLE {quote(table)} ADD {column_def(dialect, column)}"


def metadata_tables(dialect: Dialect) -> dict[str, str]:
    """DDL of the state, run history and quarantine tables, by table name."""

    def t(ctype: ColumnType, n: int | None = None) -> str:
        return dialect.column_type(ctype, n)

    key = t(ColumnType.TEXT, RUN_ID_LENGTH)
    ts = t(ColumnType.TIMESTAMP)
    return {
        STATE_TABLE: (
            f'CREATE TABLE "{STATE_TABLE}" (\n  "PIPELINE" {key} NOT NULL,\n'
            f'  "ENTITY" {key} NOT NULL,\n  "CHECKPOINT" {t(ColumnType.TEXT, 4000)} NOT NULL,\n'
            f'  "UPDATED_AT" {ts} NOT NULL,\n'
            f'  CONSTRAINT "{STATE_TABLE}_PK" PRIMARY KEY ("PIPELINE", "ENTITY")\n)'
        ),
        RUNS_TABLE: (
            f'CREATE TABLE "{RUNS_TABLE}" (\n  "RUN_ID" {key} NOT NULL,\n'
            f'  "RUN_MODE" {t(ColumnType.TEXT, 20)} NOT NULL,\n'
            f'  "STATUS" {t(ColumnType.TEXT, 20)} NOT NULL,\n'
            f'  "STARTED_AT" {ts} NOT NULL,\n  "FINISHED_AT" {ts},\n'
            f'  "REPORT" {t(ColumnType.JSON)} NOT NULL,\n'
            f'  CONSTRAINT "{RUNS_TABLE}_PK" PRIMARY KEY ("RUN_ID")\n)'
        ),
        QUARANTINE_TABLE: (
            f'CREATE TABLE "{QUARANTINE_TABLE}" (\n  "SEQ" {dialect.identity_type()},\n'
            f'  "ENTITY" {key} NOT NULL,\n  "RECORD_ID" {key},\n'
            f'  "PAYLOAD" {t(ColumnType.JSON)},\n  "REASON" {t(ColumnType.JSON)} NOT NULL,\n'
            f'  "RUN_ID" {key},\n  "QUARANTINED_AT" {ts} NOT NULL\n)'
        ),
    }


def locks_table(dialect: Dialect) -> str:
    """DDL of the lock-row table (Oracle's run lock: one row per key, held FOR UPDATE)."""
    key = dialect.column_type(ColumnType.TEXT, RUN_ID_LENGTH)
    return (
        f'CREATE TABLE "{LOCKS_TABLE}" (\n  "LOCK_KEY" {key} NOT NULL,\n'
        f'  "OWNER" {key},\n  "TAKEN_AT" {dialect.column_type(ColumnType.TIMESTAMP, None)},\n'
        f'  CONSTRAINT "{LOCKS_TABLE}_PK" PRIMARY KEY ("LOCK_KEY")\n)'
    )
