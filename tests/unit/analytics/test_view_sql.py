"""The views' SQL: Oracle's as golden files that parse as Oracle SQL, names an analyst can type.

Regenerate the golden files after an intended change with ``GRUPONOS_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot
from hypothesis import given
from hypothesis import strategies as st
from sqlglot import exp

from gruponos.adapters.sql import ddl, views
from gruponos.domain.schema import FieldType, SourceField, build_schema
from support.golden import assert_matches_golden

GOLDEN = Path(__file__).parent / "golden"
SCHEMA = build_schema(
    "order_dtl",
    [
        SourceField("id", FieldType.PK),
        SourceField("mod_ts", FieldType.DATETIME),
        SourceField("order_id", FieldType.RELATION),
        SourceField("ord_qty", FieldType.DECIMAL),
        SourceField("item_code", FieldType.VARCHAR, max_length=25),
        SourceField("ship_date", FieldType.DATE),
        SourceField("rush_flg", FieldType.BOOLEAN),
        SourceField("comment", FieldType.VARCHAR, max_length=40),
        SourceField("level", FieldType.INTEGER),  # reserved in Oracle
    ],
).unwrap()
SPEC = ddl.table_spec(SCHEMA, "WMS_", history=False, limit=128)
STATEMENTS = {
    "oracle_create_view": views.create_view_sql("oracle", SPEC, limit=128)[0],
    "oracle_create_view_local_time": views.create_view_sql(
        "oracle", SPEC, limit=128, time_zone="America/Mexico_City"
    )[0],
    "oracle_drop_view": views.drop_view_sql("oracle", views.view_name(SPEC, 128)),
}
UNQUOTED = re.compile(r"^[a-z][a-z0-9_]*$")


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_oracle_view_sql_matches_golden_file(name: str) -> None:
    assert_matches_golden(GOLDEN / f"{name}.sql", STATEMENTS[name])


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_oracle_view_sql_parses_as_oracle(name: str) -> None:
    tree = sqlglot.parse_one(STATEMENTS[name], read="oracle")
    assert not isinstance(tree, exp.Command), "sqlglot did not understand the statement"
    unquoted = {i.name for i in tree.find_all(exp.Identifier) if not i.quoted}
    assert "wms_order_dtl_v" in unquoted
    assert all(UNQUOTED.match(i) and i not in views.RESERVED for i in unquoted)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_other_dialects_parse_and_filter_live_rows(dialect: str) -> None:
    read = "postgres" if dialect == "postgresql" else dialect
    drop, create = views.create_view_sql(dialect, SPEC, limit=63)
    assert isinstance(sqlglot.parse_one(drop, read=read), exp.Drop)
    tree = sqlglot.parse_one(create, read=read)
    assert isinstance(tree, exp.Create)
    assert 'WHERE "GNOS_DELETED_AT" IS NULL' in create
    assert "GNOS_LOADED_AT" not in create


def test_view_columns_are_the_data_columns_with_safe_names() -> None:
    create = STATEMENTS["oracle_create_view_local_time"]
    assert '"COMMENT_" AS comment_' in create
    assert '"LEVEL_" AS level_' in create
    assert views.analyst_name("LEVEL") == "level_"  # a column not from the naming rules
    assert "AT TIME ZONE 'America/Mexico_City' AS TIMESTAMP) AS mod_ts_local" in create
    assert "_local" not in STATEMENTS["oracle_create_view"]
    assert (
        "_local"
        not in views.create_view_sql("sqlite", SPEC, limit=128, time_zone="America/Mexico_City")[1]
    )  # SQLite has no time-zone data


def test_a_time_zone_must_be_an_iana_name() -> None:
    with pytest.raises(ValueError, match="not an IANA time zone"):
        views.create_view_sql("oracle", SPEC, limit=128, time_zone="UTC'; DROP TABLE x --")


@given(st.from_regex(r"[A-Z][A-Z0-9_$#]{0,40}", fullmatch=True))
def test_every_column_gets_a_name_typable_unquoted(column: str) -> None:
    name = views.analyst_name(column)
    assert UNQUOTED.match(name)
    assert name not in views.RESERVED
