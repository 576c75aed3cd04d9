"""How ``target-gruponos`` loads any Singer stream into the SQL sink's table model.

The sink keys every table by an integer ``ID`` and orders versions by a ``MOD_TS`` instant
(monotonic upsert). A stream maps onto that as follows (docs/meltano.md):

- **native** (``key_properties == ["id"]``, ``id`` an integer): ``id`` is ``ID``.
- **any other key** (strings, composites, another name): ``ID`` is a stable 63-bit hash of the
  key values (SHA-256 of their JSON); the key properties stay in their own columns. A property
  named ``id`` that is not the integer key is stored as ``src_id``.
- ``MOD_TS`` is the replication key (``bookmark_properties[0]``) when it is a ``date-time``; else
  a ``date-time`` property named ``mod_ts``; else the record's ``time_extracted`` (or the time
  the target read it): last write wins. A ``mod_ts`` property that does not give ``MOD_TS`` is
  stored as ``src_mod_ts``.
- JSON-schema types become column types: ``integer`` -> integer, ``number`` or a string with
  format ``singer.decimal``/``decimal`` -> exact decimal, ``date-time`` -> UTC instant, ``date``
  -> date, ``boolean`` -> boolean, ``object``/``array``/mixed -> JSON text, other strings -> text
  (``maxLength`` kept). Records are then normalized by the same
  :class:`~gruponos.domain.normalize.RecordNormalizer` as WMS records.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from returns.result import Failure, Result

from gruponos.adapters.singer.streams import DECIMAL_FORMATS, JSON_MEDIA_TYPE
from gruponos.domain.errors import SchemaError
from gruponos.domain.schema import (
    PRIMARY_KEY,
    REPLICATION_KEY,
    EntitySchema,
    FieldType,
    SourceField,
    build_schema,
)

RENAMED_ID = "src_id"
RENAMED_MOD_TS = "src_mod_ts"
_HASH_MASK = (1 << 63) - 1


def key_hash(values: Sequence[Any]) -> int:
    """A stable positive 63-bit integer for a key (fits BIGINT and NUMBER)."""
    digest = hashlib.sha256(orjson.dumps(list(values), option=orjson.OPT_SORT_KEYS)).digest()
    return int.from_bytes(digest[:8], "big") & _HASH_MASK


def _types(spec: Mapping[str, Any]) -> set[str]:
    raw = spec.get("type")
    if isinstance(raw, str):
        return {raw} - {"null"}
    if isinstance(raw, list):
        return {t for t in raw if isinstance(t, str)} - {"null"}
    for combinator in ("anyOf", "oneOf"):
        options = spec.get(combinator)
        if isinstance(options, list):
            found: set[str] = set()
            for option in options:
                if isinstance(option, Mapping):
                    found |= _types(option)
            return found
    return set()


def field_type(spec: Mapping[str, Any]) -> tuple[FieldType, int | None]:
    """The field type of a property's JSON schema, and the text length limit if any."""
    types = _types(spec)
    fmt = spec.get("format")
    if types == {"integer"}:
        return FieldType.INTEGER, None
    if types in ({"number"}, {"integer", "number"}):
        return FieldType.DECIMAL, None
    if types == {"boolean"}:
        return FieldType.BOOLEAN, None
    if types == {"string"}:
        if fmt == "date-time":
            return FieldType.DATETIME, None
        if fmt == "date":
            return FieldType.DATE, None
        if fmt in DECIMAL_FORMATS:
            return FieldType.DECIMAL, None
        if spec.get("contentMediaType") == JSON_MEDIA_TYPE:
            return FieldType.JSON, None
        limit = spec.get("maxLength")
        return FieldType.VARCHAR, limit if isinstance(limit, int) and limit > 0 else None
    return FieldType.JSON, None


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """One stream's table schema and how to turn its records into the normalizer's input."""

    stream: str
    schema: EntitySchema
    key_properties: tuple[str, ...]
    native_key: bool
    mod_ts_source: str | None  # the property that gives MOD_TS; None: time_extracted
    renames: Mapping[str, str]
    json_text: frozenset[str]  # properties sent as JSON text (parsed before normalizing)

    def prepare(self, record: Mapping[str, Any], extracted: datetime) -> dict[str, Any]:
        """The record as the normalizer expects it: ``id`` and ``mod_ts`` set, names mapped."""
        out: dict[str, Any] = {self.renames.get(k, k): v for k, v in record.items()}
        for name in self.json_text:
            value = out.get(name)
            if isinstance(value, str):
                # Not JSON after all: kept as text, which the normalizer stores as a JSON string.
                with contextlib.suppress(orjson.JSONDecodeError):
                    out[name] = orjson.loads(value)
        if not self.native_key:
            keys = [record.get(k) for k in self.key_properties]
            out[PRIMARY_KEY] = None if any(v is None for v in keys) else key_hash(keys)
        if self.mod_ts_source is None:
            out[REPLICATION_KEY] = extracted.isoformat()
        elif self.mod_ts_source != REPLICATION_KEY:
            out[REPLICATION_KEY] = record.get(self.mod_ts_source)
        return out


def plan_stream(
    stream: str,
    json_schema: Mapping[str, Any],
    key_properties: Sequence[str],
    bookmark_properties: Sequence[str] = (),
) -> Result[StreamPlan, SchemaError]:
    """Map a SCHEMA message to a table schema; key properties are required."""
    context = {"entity": stream}
    properties = json_schema.get("properties")
    if not isinstance(properties, Mapping):
        return Failure(SchemaError("singer.bad_schema", "the schema has no properties", context))
    if not key_properties:
        return Failure(
            SchemaError("singer.no_key", "the stream declares no key_properties", context)
        )
    missing = [k for k in key_properties if k not in properties]
    if missing:
        return Failure(
            SchemaError("singer.bad_key", f"key properties not in the schema: {missing}", context)
        )
    types = {
        name: field_type(spec if isinstance(spec, Mapping) else {})
        for name, spec in properties.items()
    }
    native = tuple(key_properties) == (PRIMARY_KEY,) and types[PRIMARY_KEY][0] is FieldType.INTEGER
    # MOD_TS: the declared replication key if it is an instant, else the stream's own
    # ``mod_ts`` instant (a full-table WMS stream declares none), else time_extracted.
    candidates = [*bookmark_properties[:1], REPLICATION_KEY]
    mod_ts_source = next(
        (c for c in candidates if c in types and types[c][0] is FieldType.DATETIME), None
    )
    renames: dict[str, str] = {}
    if not native and PRIMARY_KEY in properties:
        renames[PRIMARY_KEY] = RENAMED_ID
    if mod_ts_source != REPLICATION_KEY and REPLICATION_KEY in properties:
        renames[REPLICATION_KEY] = RENAMED_MOD_TS
    fields = [
        SourceField(renames.get(name, name), ftype, max_length=limit)
        for name, (ftype, limit) in types.items()
    ]
    names = {f.name for f in fields}
    if PRIMARY_KEY not in names:
        fields.append(SourceField(PRIMARY_KEY, FieldType.PK))
    if REPLICATION_KEY not in names:
        fields.append(SourceField(REPLICATION_KEY, FieldType.DATETIME))
    json_text: frozenset[str] = frozenset(
        renames.get(n) or n
        for n, spec in properties.items()
        if isinstance(spec, Mapping) and spec.get("contentMediaType") == JSON_MEDIA_TYPE
    )
    return build_schema(stream, fields).map(
        lambda schema: StreamPlan(
            stream,
            schema,
            tuple(key_properties),
            native,
            mod_ts_source,
            renames,
            json_text,
        )
    )
