"""Record factories and a small allocation-like schema for tests."""

from __future__ import annotations

from typing import Any

from gruponos.domain.schema import (
    EntitySchema,
    FieldType,
    SourceField,
    build_schema,
    schema_from_describe,
)

# describe says what a create must carry: ``wave_id`` is required there, yet the records read
# back (``allocation()`` below) hold null in it, as on a real instance.
ALLOCATION_FIELDS = [
    SourceField("id", FieldType.PK, required=True),
    SourceField("mod_ts", FieldType.DATETIME, required=True),
    SourceField("create_ts", FieldType.DATETIME, required=True),
    SourceField("alloc_qty", FieldType.DECIMAL),
    SourceField("task_seq_nbr", FieldType.INTEGER),
    SourceField("is_picking_flg", FieldType.BOOLEAN),
    SourceField("pick_locn_str", FieldType.VARCHAR, max_length=20),
    SourceField("order_dtl_id", FieldType.RELATION),
    SourceField("wave_id", FieldType.RELATION, required=True),
    SourceField("status_id", FieldType.INTEGER),
    SourceField("picked_date", FieldType.DATE),
    SourceField("notes_set", FieldType.SET),
]


def allocation_schema() -> EntitySchema:
    return build_schema("allocation", ALLOCATION_FIELDS).unwrap()


# The body of ``GET .../entity/allocation/describe/`` in the shape a real Oracle WMS Cloud
# instance sends it (trimmed): ``required`` is a one-letter string, ``Y``/``X`` required, ``N``
# not required, ``C`` conditional.
REAL_ALLOCATION_DESCRIBE: dict[str, Any] = {
    "parameters": ["id", "mod_ts", "create_ts", "status_id", "order_dtl_id", "wave_id"],
    "fields": {
        "id": {"type": "pk", "max_length": None, "required": "X", "allow_blank": False},
        "mod_ts": {"type": "datetime", "required": "Y", "allow_blank": False, "default": None},
        "create_ts": {"type": "datetime", "required": "Y", "allow_blank": False},
        "alloc_qty": {"type": "decimal", "required": "Y", "allow_blank": False, "default": "0"},
        "task_seq_nbr": {"type": "integer", "required": "N", "default": 0},
        "is_picking_flg": {"type": "boolean", "required": "N", "default": False},
        "pick_locn_str": {"type": "varchar", "max_length": 20, "required": "N"},
        "order_dtl_id": {"type": "relation", "required": "Y"},
        "wave_id": {"type": "relation", "required": "Y"},
        "status_id": {"type": "integer", "required": "Y"},
        "picked_date": {"type": "date", "required": "C"},
        "notes_set": {"type": "relation", "required": "N"},
    },
}


def real_allocation_schema() -> EntitySchema:
    """:data:`REAL_ALLOCATION_DESCRIBE` read as the HTTP source reads it."""
    return schema_from_describe("allocation", REAL_ALLOCATION_DESCRIBE).unwrap()


def allocation(
    record_id: int, mod_ts: str | None = "2020-11-20T11:57:14.489559-03:00", **fields: Any
) -> dict[str, Any]:
    """A raw allocation record as the API sends it."""
    record: dict[str, Any] = {
        "id": record_id,
        "url": f"https://wms.example/prod/wms/lgfapi/v10/entity/allocation/{record_id}",
        "mod_ts": mod_ts,
        "create_ts": "2020-11-19T08:00:00-03:00",
        "alloc_qty": "540",
        "task_seq_nbr": 0,
        "is_picking_flg": False,
        "pick_locn_str": "DE-0-0-7",
        "order_dtl_id": {"id": record_id * 10, "key": f"ORD{record_id},1", "url": ""},
        "wave_id": None,
        "status_id": 99,
        "picked_date": None,
        "notes_set": {"result_count": 0, "url": "https://wms.example/x"},
    }
    record.update(fields)
    return record
