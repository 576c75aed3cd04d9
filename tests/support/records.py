"""Record factories and a small allocation-like schema for tests."""

from __future__ import annotations

from typing import Any

from gruponos.domain.schema import EntitySchema, FieldType, SourceField, build_schema

ALLOCATION_FIELDS = [
    SourceField("id", FieldType.PK),
    SourceField("mod_ts", FieldType.DATETIME),
    SourceField("create_ts", FieldType.DATETIME),
    SourceField("alloc_qty", FieldType.DECIMAL),
    SourceField("task_seq_nbr", FieldType.INTEGER),
    SourceField("is_picking_flg", FieldType.BOOLEAN),
    SourceField("pick_locn_str", FieldType.VARCHAR, max_length=20),
    SourceField("order_dtl_id", FieldType.RELATION),
    SourceField("wave_id", FieldType.RELATION),
    SourceField("status_id", FieldType.INTEGER),
    SourceField("picked_date", FieldType.DATE),
    SourceField("notes_set", FieldType.SET),
]


def allocation_schema() -> EntitySchema:
    return build_schema("allocation", ALLOCATION_FIELDS).unwrap()


def allocation(
    record_id: int, mod_ts: str = "2020-11-20T11:57:14.489559-03:00", **fields: Any
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
