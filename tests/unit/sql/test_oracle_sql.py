"""The SQL the Oracle dialect generates: golden files, and each one parses as Oracle SQL.

Regenerate the golden files after an intended change with ``GRUPONOS_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from gruponos.adapters.sql import ddl
from gruponos.adapters.sql.dialect import ColumnInfo
from gruponos.adapters.sql.oracle import OracleDialect
from gruponos.domain.schema import Column, ColumnType, FieldType, SourceField, build_schema
from support.golden import assert_matches_golden

GOLDEN = Path(__file__).parent / "golden"
DIALECT = OracleDialect("localhost:1521/FREEPDB1", user="gruponos", password=None)
SCHEMA = build_schema(
    "order_dtl",
    [
        SourceField("id", FieldType.PK),
        SourceField("mod_ts", FieldType.DATETIME),
        SourceField("order_id", FieldType.RELATION),
        SourceField("ord_qty", FieldType.DECIMAL),
        SourceField("item_code", FieldType.VARCHAR, max_length=25),
        SourceField("cust_field_1", FieldType.VARCHAR, max_length=5000),
        SourceField("notes", FieldType.VARCHAR),
        SourceField("status_id", FieldType.INTEGER),
        SourceField("ship_date", FieldType.DATE),
        SourceField("rush_flg", FieldType.BOOLEAN),
        SourceField("lines", FieldType.JSON),
        SourceField("comment", FieldType.VARCHAR, max_length=40),  # a reserved word
    ],
).unwrap()
SPEC = ddl.table_spec(SCHEMA, "WMS_", history=True, limit=DIALECT.max_identifier)

STATEMENTS: dict[str, str] = {
    "oracle_create_table": ddl.create_entity_table(DIALECT, SPEC),
    "oracle_create_history_table": ddl.create_entity_table(DIALECT, SPEC, history=True),
    "oracle_add_column": ddl.add_column(
        DIALECT, SPEC.table, Column("NEW_CODE", ColumnType.TEXT, "new_code", max_length=10)
    ),
    "oracle_merge": DIALECT.merge_sql(SPEC),
    "oracle_merge_history": DIALECT.history_sql(SPEC),
    "oracle_locks_table": ddl.locks_table(DIALECT),
    **{f"oracle_{name.lower()}": sql for name, sql in ddl.metadata_tables(DIALECT).items()},
}


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_generated_sql_matches_golden_file(name: str) -> None:
    assert_matches_golden(GOLDEN / f"{name}.sql", STATEMENTS[name])


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_generated_sql_parses_as_oracle(name: str) -> None:
    tree = sqlglot.parse_one(STATEMENTS[name], read="oracle")
    assert not isinstance(tree, exp.Command), "sqlglot did not understand the statement"
    identifiers = {i.name for i in tree.find_all(exp.Identifier) if i.quoted}
    assert all(i == i.upper() and len(i.encode()) <= 128 for i in identifiers)


def test_merge_is_monotonic_and_keeps_seen_generation() -> None:
    tree = sqlglot.parse_one(DIALECT.merge_sql(SPEC), read="oracle")
    assert isinstance(tree, exp.Merge)
    sql = DIALECT.merge_sql(SPEC)
    assert 'WHERE s."MOD_TS" >= t."MOD_TS"' in sql
    assert 't."GNOS_SEEN_GEN" = NVL(s."GNOS_SEEN_GEN", t."GNOS_SEEN_GEN")' in sql
    assert 't."GNOS_DELETED_AT" = NULL' in sql
    assert 't."ID" = s."ID"' in sql
    assert ':b2 AS "MOD_TS"' in sql  # naive UTC into TIMESTAMP(6): no FROM_TZ, no zone region


def test_type_mapping() -> None:
    create = STATEMENTS["oracle_create_table"]
    assert '"ITEM_CODE" VARCHAR2(25 CHAR)' in create
    assert '"CUST_FIELD_1" CLOB' in create  # beyond 4000 characters
    assert '"NOTES" CLOB' in create  # unknown length
    assert '"ORD_QTY" NUMBER' in create
    assert '"MOD_TS" TIMESTAMP(6) NOT NULL' in create
    assert '"RUSH_FLG" NUMBER(1) CHECK ("RUSH_FLG" IN (0, 1))' in create
    assert '"COMMENT_" VARCHAR2(40 CHAR)' in create
    assert '"ORDER_KEY" VARCHAR2(255 CHAR)' in create


def test_widening_only_when_safe() -> None:
    info = ColumnInfo("VARCHAR2(25 CHAR)", 25)
    widen = DIALECT.widen(SPEC.table, "ITEM_CODE", info, 60)
    assert widen == 'ALTER TABLE "WMS_ORDER_DTL" MODIFY ("ITEM_CODE" VARCHAR2(60 CHAR))'
    assert DIALECT.widen(SPEC.table, "ITEM_CODE", info, 20) is None  # never narrower
    assert DIALECT.widen(SPEC.table, "ITEM_CODE", info, 5000) is None  # VARCHAR2 -> CLOB: keep
    assert DIALECT.widen(SPEC.table, "NOTES", ColumnInfo("CLOB"), 10) is None
