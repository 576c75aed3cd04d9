"""Schemas from describe, column flattening and SQL-safe identifiers."""

from __future__ import annotations

import re

import pytest
from returns.pipeline import is_successful

from gruponos.domain.naming import MAX_IDENTIFIER_LENGTH, RESERVED_WORDS, sql_identifier
from gruponos.domain.schema import (
    ColumnType,
    FieldType,
    SourceField,
    build_schema,
    schema_from_describe,
)
from support.catalog import catalog_schema, parse_entity
from support.records import real_allocation_schema

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


_ABSENT = object()


@pytest.mark.parametrize(
    ("sent", "required", "noted"),
    [
        ("Y", True, False),
        ("y", True, False),
        ("X", True, False),
        ("x", True, False),
        ("N", False, False),
        ("n", False, False),
        ("C", False, False),
        ("c", False, False),
        (" Y ", True, False),
        (True, True, False),
        (False, False, False),
        (None, False, False),
        (_ABSENT, False, False),
        ("maybe", False, True),
        ("", False, True),
        (1, False, True),
        (["Y"], False, True),
    ],
)
def test_describe_required_is_read_as_the_api_sends_it(
    sent: object, required: bool, noted: bool
) -> None:
    spec: dict[str, object] = {"type": "varchar"}
    if sent is not _ABSENT:
        spec["required"] = sent
    describe = {"fields": {"id": {"type": "pk"}, "mod_ts": {"type": "datetime"}, "note": spec}}
    schema = schema_from_describe("allocation", describe).unwrap()
    assert next(f for f in schema.fields if f.name == "note").required is required
    if noted:
        (note,) = schema.notes
        assert note.startswith("allocation.note: describe's required is ")
        assert note.endswith("read as not required")
    else:
        assert schema.notes == ()


def test_the_real_describe_shape_reads_y_and_x_as_required_only() -> None:
    schema = real_allocation_schema()
    required = {f.name for f in schema.fields if f.required}
    assert required == {
        "id", "mod_ts", "create_ts", "alloc_qty", "order_dtl_id", "wave_id", "status_id"
    }  # fmt: skip
    assert schema.notes == ()
