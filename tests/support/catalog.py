"""Test data: the three entities' schemas as observed on a real instance, and typed parsing.

Nothing in the product needs them (``describe`` is the source of truth at run time); tests use them
as realistic schemas and records. ``entities.py`` beside this file is generated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from returns.result import Failure, Result, Success

from gruponos.domain.errors import FieldProblem, RecordRejected, SchemaError
from gruponos.domain.schema import EntitySchema, schema_from_describe
from support.entities import CATALOG, ENTITY_MODELS, WmsRecord


def catalog_schema(entity: str) -> Result[EntitySchema, SchemaError]:
    """The schema of a known entity as observed on a real instance (``describe`` still wins)."""
    fields = CATALOG.get(entity)
    if fields is None:
        return Failure(
            SchemaError("schema.unknown_entity", "not in the catalog", {"entity": entity})
        )
    return schema_from_describe(entity, {"fields": fields, "parameters": list(fields)})


def parse_entity(entity: str, raw: Mapping[str, Any]) -> Result[WmsRecord, RecordRejected]:
    """Validate a raw record into its typed model (``OrderHeader`` ...), every problem reported.

    >>> parse_entity("allocation", {"id": 2, "mod_ts": "2020-11-20T11:57:14-03:00",
    ...     "alloc_qty": "540"}).unwrap().alloc_qty
    Decimal('540')
    """
    model = ENTITY_MODELS.get(entity)
    if model is None:
        return Failure(
            RecordRejected("record.unknown_entity", "no typed model", {"entity": entity})
        )
    try:
        return Success(model.model_validate(raw))
    except ValidationError as error:
        problems = tuple(
            FieldProblem(".".join(str(p) for p in e["loc"]) or "<record>", e["type"], e["msg"])
            for e in error.errors(include_url=False, include_input=False)
        )
        return Failure(
            RecordRejected(
                "record.invalid", f"{len(problems)} invalid field(s)", {"entity": entity}, problems
            )
        )
