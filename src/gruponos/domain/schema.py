"""Entity schemas (from the API's ``describe``) and the table columns they flatten into."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from returns.result import Failure, Result, Success

from gruponos.domain.errors import SchemaError
from gruponos.domain.naming import sql_identifier

PRIMARY_KEY = "id"
REPLICATION_KEY = "mod_ts"


class FieldType(StrEnum):
    """Field types as the API's ``describe`` reports them (plus ``set`` and ``json``)."""

    PK = "pk"
    RELATION = "relation"
    VARCHAR = "varchar"
    DECIMAL = "decimal"
    DATETIME = "datetime"
    DATE = "date"
    BOOLEAN = "boolean"
    INTEGER = "integer"
    SET = "set"  # ``*_set`` link objects: never loaded, children are their own entities
    JSON = "json"  # lists and unknown structures: stored as JSON text


class ColumnType(StrEnum):
    """Logical column types; each sink dialect maps them to its own SQL types."""

    INTEGER = "integer"
    DECIMAL = "decimal"
    TEXT = "text"
    TIMESTAMP = "timestamp"  # a UTC instant
    DATE = "date"
    BOOLEAN = "boolean"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class SourceField:
    """One field of an entity as the API describes it.

    ``required`` is what describe says a *create* must carry. Records read back can still hold
    null there (older records, conditional fields), so it never rejects a record: a null in such a
    field is counted in the run report's data-quality section. Only ``id`` and ``mod_ts`` are
    :attr:`mandatory` for the pipeline.
    """

    name: str
    type: FieldType
    max_length: int | None = None
    required: bool = False

    @property
    def mandatory(self) -> bool:
        """The pipeline cannot load a record without this field (its key and its version)."""
        return self.name in (PRIMARY_KEY, REPLICATION_KEY)


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: ``name`` is the SQL identifier, ``source`` the API field it comes from."""

    name: str
    type: ColumnType
    source: str
    max_length: int | None = None
    nullable: bool = True


_COLUMN_TYPE = {
    FieldType.PK: ColumnType.INTEGER,
    FieldType.VARCHAR: ColumnType.TEXT,
    FieldType.DECIMAL: ColumnType.DECIMAL,
    FieldType.DATETIME: ColumnType.TIMESTAMP,
    FieldType.DATE: ColumnType.DATE,
    FieldType.BOOLEAN: ColumnType.BOOLEAN,
    FieldType.INTEGER: ColumnType.INTEGER,
    FieldType.JSON: ColumnType.JSON,
}

RELATION_KEY_MAX_LENGTH = 255


def relation_base(field_name: str) -> str:
    """``order_dtl_id`` -> ``order_dtl``; a name without ``_id`` is its own base."""
    return field_name[:-3] if field_name.endswith("_id") else field_name


@dataclass(frozen=True, slots=True)
class EntitySchema:
    """The fields of one entity, in a stable order, with their flattened columns.

    Build one with :func:`build_schema`, which validates it.
    """

    entity: str
    fields: tuple[SourceField, ...]
    columns: tuple[Column, ...]
    filterable: frozenset[str] = frozenset()
    #: What describe said that was read with a fallback (e.g. an unknown ``required`` value).
    notes: tuple[str, ...] = ()

    @property
    def field_names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields)

    def column(self, name: str) -> Column:
        """The column named ``name`` (an SQL identifier); ``KeyError`` if absent."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


def _columns_of(field: SourceField) -> list[Column]:
    if field.type is FieldType.SET:
        return []
    if field.type is FieldType.RELATION:
        base = relation_base(field.name)
        return [
            Column(sql_identifier(field.name), ColumnType.INTEGER, field.name),
            Column(
                sql_identifier(f"{base}_key"),
                ColumnType.TEXT,
                field.name,
                max_length=RELATION_KEY_MAX_LENGTH,
            ),
        ]
    nullable = field.name != PRIMARY_KEY
    return [
        Column(
            sql_identifier(field.name),
            _COLUMN_TYPE[field.type],
            field.name,
            max_length=field.max_length if field.type is FieldType.VARCHAR else None,
            nullable=nullable,
        )
    ]


def build_schema(
    entity: str,
    fields: list[SourceField] | tuple[SourceField, ...],
    filterable: frozenset[str] = frozenset(),
    notes: tuple[str, ...] = (),
) -> Result[EntitySchema, SchemaError]:
    """Validate fields and flatten them into columns.

    The schema must have ``id`` and ``mod_ts``; two fields may not map to the same column.
    ``id`` is always the integer primary key and ``mod_ts`` always a timestamp, whatever the
    describe output says about them.
    """
    by_name: dict[str, SourceField] = {}
    for field in fields:
        if field.name in by_name:
            return Failure(
                SchemaError("schema.duplicate_field", "a field appears twice", _ctx(entity, field))
            )
        by_name[field.name] = field
    for required, ftype in ((PRIMARY_KEY, FieldType.PK), (REPLICATION_KEY, FieldType.DATETIME)):
        if required not in by_name:
            return Failure(
                SchemaError(
                    "schema.missing_key",
                    f"the entity has no {required!r} field",
                    {"entity": entity, "field": required},
                )
            )
        by_name[required] = SourceField(required, ftype, required=True)
    ordered = sorted(by_name.values(), key=_field_order)
    columns: list[Column] = []
    seen: dict[str, str] = {}
    for field in ordered:
        for column in _columns_of(field):
            if column.name in seen:
                return Failure(
                    SchemaError(
                        "schema.column_collision",
                        f"fields {seen[column.name]!r} and {field.name!r} both map to "
                        f"column {column.name}",
                        _ctx(entity, field),
                    )
                )
            seen[column.name] = field.name
            columns.append(column)
    return Success(
        EntitySchema(entity, tuple(ordered), tuple(columns), frozenset(filterable), notes)
    )


def _field_order(field: SourceField) -> tuple[int, str]:
    # id and mod_ts first so tables read naturally; the rest alphabetically for stable DDL.
    rank = {PRIMARY_KEY: 0, REPLICATION_KEY: 1}.get(field.name, 2)
    return rank, field.name


def _ctx(entity: str, field: SourceField) -> dict[str, Any]:
    return {"entity": entity, "field": field.name}


_DESCRIBE_TYPES = {t.value: t for t in FieldType}

#: describe's ``required`` as Oracle documents it: a one-letter string.
_REQUIRED_LETTERS = {"Y": True, "X": True, "N": False, "C": False}


def parse_required(value: Any) -> bool | None:
    """describe's ``required``: ``Y``/``X`` required, ``N`` not, ``C`` conditional (not
    required), in any case; JSON booleans too; absent or null is "not required".

    ``None`` for anything else (the caller reads it as "not required" and says so).

    >>> [parse_required(v) for v in ("Y", "x", "N", "c", True, False, None, "maybe")]
    [True, True, False, False, True, False, False, None]
    """
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return _REQUIRED_LETTERS.get(value.strip().upper())
    return None


def schema_from_describe(
    entity: str, describe: Mapping[str, Any]
) -> Result[EntitySchema, SchemaError]:
    """Build a schema from the body of ``GET .../entity/<name>/describe/``.

    Unknown types become JSON columns rather than failing: nothing the API sends is dropped.
    """
    raw_fields = describe.get("fields")
    if not isinstance(raw_fields, Mapping):
        return Failure(
            SchemaError(
                "schema.bad_describe", "describe has no 'fields' object", {"entity": entity}
            )
        )
    fields: list[SourceField] = []
    notes: list[str] = []
    for name, spec in raw_fields.items():
        if not isinstance(name, str) or not isinstance(spec, Mapping):
            return Failure(
                SchemaError(
                    "schema.bad_describe", "a field spec is not an object", {"entity": entity}
                )
            )
        ftype = _DESCRIBE_TYPES.get(str(spec.get("type", "")).lower(), FieldType.JSON)
        if name.endswith("_set") and ftype in (FieldType.JSON, FieldType.RELATION):
            ftype = FieldType.SET
        max_length = spec.get("max_length")
        required = parse_required(spec.get("required"))
        if required is None:
            notes.append(
                f"{entity}.{name}: describe's required is {_shown(spec.get('required'))}, "
                "not Y, X, N or C: read as not required"
            )
        fields.append(
            SourceField(
                name,
                ftype,
                max_length=max_length if isinstance(max_length, int) and max_length > 0 else None,
                required=bool(required),
            )
        )
    params = describe.get("parameters", [])
    filterable = (
        frozenset(p for p in params if isinstance(p, str))
        if isinstance(params, list)
        else frozenset()
    )
    return build_schema(entity, fields, filterable, tuple(notes))


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
