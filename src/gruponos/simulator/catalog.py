"""Field catalog of the simulated entities, loaded from ``wms_fields.json``.

The catalog is what a real instance's ``describe`` returned for ``allocation``, ``order_hdr`` and
``order_dtl``. It decides which fields a record has, their kinds, and the ``describe`` answer.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson


class FieldKind(enum.Enum):
    """The ``describe`` types observed on lgfapi, plus the two link kinds records carry."""

    PK = "pk"
    RELATION = "relation"
    VARCHAR = "varchar"
    DECIMAL = "decimal"
    DATETIME = "datetime"
    DATE = "date"
    BOOLEAN = "boolean"
    INTEGER = "integer"
    SET = "set"  # {"result_count", "url"} link to child records; not filterable
    URL = "url"  # the record's own absolute url


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    kind: FieldKind
    max_length: int | None


# Fields whose relation points at another simulated entity, and which entity that is.
PARENT_OF: dict[tuple[str, str], str] = {
    ("allocation", "order_dtl_id"): "order_dtl",
    ("order_dtl", "order_id"): "order_hdr",
}
# Required relations (never null) besides the parent links above.
REQUIRED_RELATIONS = frozenset(
    {"facility_id", "company_id", "item_id", "uom_id", "type_id", "from_inventory_id"}
)
# Described as required ("Y") though records read back can hold null there, as on a real
# instance (describe tells what a create must carry): the pipeline counts these nulls.
DESCRIBED_REQUIRED_NULLABLE = frozenset({"wave_id", "ship_via_id", "batch_number_id"})
# Described as conditionally required ("C").
CONDITIONAL_FIELDS = frozenset({"ob_lpn_type_id"})
# Parent entity -> (set field, child entity, child's parent relation).
CHILD_SETS: dict[tuple[str, str], tuple[str, str]] = {
    ("order_hdr", "order_dtl_set"): ("order_dtl", "order_id"),
}


def _kind(name: str, raw: dict[str, Any]) -> FieldKind:
    if name == "id":
        return FieldKind.PK
    if name == "url":
        return FieldKind.URL
    if raw.get("kind") == "relation":
        return FieldKind.RELATION
    if raw.get("kind") == "set":
        return FieldKind.SET
    json_type = raw.get("type")
    fmt = raw.get("format")
    if json_type == "string":
        if fmt == "date-time":
            return FieldKind.DATETIME
        return FieldKind.DATE if fmt == "date" else FieldKind.VARCHAR
    if json_type == "number":
        return FieldKind.DECIMAL
    if json_type == "integer":
        return FieldKind.INTEGER
    if json_type == "boolean":
        return FieldKind.BOOLEAN
    msg = f"unknown catalog type for {name}: {raw}"
    raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class EntitySpec:
    name: str
    fields: tuple[FieldSpec, ...]
    by_name: dict[str, FieldSpec]

    @property
    def filterable(self) -> list[str]:
        return [f.name for f in self.fields if f.kind not in (FieldKind.SET, FieldKind.URL)]

    def describe(self, required_style: str = "letters") -> dict[str, Any]:
        """The body of ``GET entity/<name>/describe/``.

        ``required`` as Oracle documents it (``required_style="letters"``): ``X`` for the
        primary key, ``Y`` required, ``C`` conditional, ``N`` not required; or as JSON booleans
        (``"booleans"``, conditional reads false). Like a real instance, some fields described as
        required hold null in records read back (:data:`DESCRIBED_REQUIRED_NULLABLE`).
        """
        fields: dict[str, Any] = {}
        for spec in self.fields:
            if spec.kind is FieldKind.SET:
                continue  # links to child entities are not model fields
            kind = FieldKind.VARCHAR if spec.kind is FieldKind.URL else spec.kind
            required = (
                spec.kind is FieldKind.PK
                or spec.name
                in {
                    "create_ts",
                    "mod_ts",
                    "status_id",
                    "order_nbr",
                }
                or (spec.kind is FieldKind.RELATION and self.is_required_relation(spec.name))
            )
            letter = (
                "X"
                if spec.kind is FieldKind.PK
                else "Y"
                if required or spec.name in DESCRIBED_REQUIRED_NULLABLE
                else "C"
                if spec.name in CONDITIONAL_FIELDS
                else "N"
            )
            fields[spec.name] = {
                "type": kind.value,
                "max_length": spec.max_length,
                "required": letter if required_style == "letters" else letter in ("X", "Y"),
                "allow_blank": kind is FieldKind.VARCHAR and not required,
                "default": _default(kind),
            }
        return {"parameters": self.filterable, "fields": fields}

    def is_required_relation(self, name: str) -> bool:
        return (self.name, name) in PARENT_OF or name in REQUIRED_RELATIONS


def _default(kind: FieldKind) -> object:
    if kind is FieldKind.BOOLEAN:
        return False
    if kind is FieldKind.DECIMAL:
        return "0"
    if kind is FieldKind.INTEGER:
        return 0
    return None


@functools.cache
def load_catalog() -> dict[str, EntitySpec]:
    """Entity name -> spec, from the bundled ``wms_fields.json`` (id first, then by name)."""
    raw = orjson.loads(
        resources.files("gruponos.simulator").joinpath("wms_fields.json").read_bytes()
    )
    catalog: dict[str, EntitySpec] = {}
    for entity, body in raw["entities"].items():
        names = sorted(body["fields"], key=lambda n: (n != "id", n))
        fields = tuple(
            FieldSpec(n, _kind(n, body["fields"][n]), body["fields"][n].get("max_length"))
            for n in names
        )
        catalog[entity] = EntitySpec(entity, fields, {f.name: f for f in fields})
    return catalog
