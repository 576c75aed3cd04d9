"""Schemas from describe, column flattening and SQL-safe identifiers."""

from __future__ import annotations

import re

import pytest
from returns.pipeline import is_successful

from gruponos.domain.catalog import catalog_schema, parse_entity
from gruponos.domain.naming import MAX_IDENTIFIER_LENGTH, RESERVED_WORDS, sql_identifier
from gruponos.domain.schema import (
    ColumnType,
    FieldType,
    SourceField,
    build_schema,
    schema_from_describe,
)

VALID = re.compile(r"^[A-Z][A-Z0-9_]*$")


def test_describe_is_flattened_into_columns() -> None:
    describe = {
        "parameters": ["id", "mod_ts", "facility_id"],
        "fields": {
            "id": {"type": "pk"},
            "mod_ts": {"type": "datetime"},
            "facility_id": {"type": "relation"},
            "order_dtl_set": {"type": "relation"},
            "order_nbr": {"type": "varchar", "max_length": 50, "required": True},
            "odd": {"type": "geometry"},
        },
    }
    schema = schema_from_describe("order_hdr", describe).unwrap()
    columns = {c.name: c.type for c in schema.columns}
    assert columns == {
        "ID": ColumnType.INTEGER,
        "MOD_TS": ColumnType.TIMESTAMP,
        "FACILITY_ID": ColumnType.INTEGER,
        "FACILITY_KEY": ColumnType.TEXT,
        "ODD": ColumnType.JSON,
        "ORDER_NBR": ColumnType.TEXT,
    }
    assert schema.column("ORDER_NBR").max_length == 50
    assert schema.filterable == {"id", "mod_ts", "facility_id"}
    assert next(f for f in schema.fields if f.name == "order_nbr").required


def test_a_schema_without_keys_is_an_error() -> None:
    failure = build_schema("x", [SourceField("id", FieldType.PK)]).failure()
    assert failure.code == "schema.missing_key"


def test_colliding_columns_are_an_error_not_a_silent_overwrite() -> None:
    fields = [
        SourceField("id", FieldType.PK),
        SourceField("mod_ts", FieldType.DATETIME),
        SourceField("wave_id", FieldType.RELATION),
        SourceField("wave_key", FieldType.VARCHAR),
    ]
    assert build_schema("x", fields).failure().code == "schema.column_collision"


def test_catalog_schemas_have_the_observed_field_counts() -> None:
    counts = {
        e: len(catalog_schema(e).unwrap().fields) for e in ("allocation", "order_hdr", "order_dtl")
    }
    assert counts == {"allocation": 25, "order_hdr": 122, "order_dtl": 88}
    assert not is_successful(catalog_schema("nope"))


def test_typed_models_keep_extra_fields_and_report_problems() -> None:
    header = parse_entity(
        "order_hdr", {"id": 1, "mod_ts": "2020-01-01T00:00:00-03:00", "surprise": "kept"}
    ).unwrap()
    assert header.model_extra == {"surprise": "kept"}
    failure = parse_entity("order_dtl", {"id": "x", "mod_ts": "2020-01-01T00:00:00"}).failure()
    assert {p.field for p in failure.problems} == {"id", "mod_ts"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [("order_dtl_id", "ORDER_DTL_ID"), ("date", "DATE_"), ("Select", "SELECT_")],
)
def test_clean_and_reserved_names(name: str, expected: str) -> None:
    assert sql_identifier(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        'a"b',
        "x; DROP TABLE t; --",
        "with space",
        "1starts_with_digit",
        "x" * 200,
        "gnos_loaded_at",
        "ñandú",
        "",
        "__",
    ],
)
def test_hostile_names_map_to_valid_distinct_identifiers(name: str) -> None:
    ident = sql_identifier(name)
    assert VALID.match(ident), ident
    assert len(ident) <= MAX_IDENTIFIER_LENGTH
    assert ident not in RESERVED_WORDS
    assert not ident.startswith("GNOS_")
    assert sql_identifier(name) == ident  # deterministic
    assert sql_identifier(name + "!") != ident  # information is not lost to collisions
