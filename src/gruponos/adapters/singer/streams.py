"""WMS entity schemas as Singer streams: JSON schemas, catalog entries and records.

Decisions (docs/meltano.md):

- A stream's properties are the **flattened columns** (docs/data-semantics.md), named by the
  lower-case SQL identifier: ``order_dtl_id`` -> ``order_dtl_id`` (integer) and
  ``order_dtl_key`` (text); a reserved word gets its trailing ``_`` (``date_``). The target
  maps a property back with :func:`~gruponos.domain.naming.sql_identifier`, so both paths land
  in the same column.
- Decimals are **strings** with ``"format": "singer.decimal"`` (the convention of the
  PipelineWise/Meltano Singer libraries): exact, never a binary float.
- Timestamps are ``"format": "date-time"`` UTC instants (``...Z``); dates ``"format": "date"``;
  lists and unknown structures are JSON text with ``"contentMediaType": "application/json"``.
- Key property ``id``; replication key ``mod_ts``; both are never null.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson

from gruponos.domain.records import NormalizedRecord
from gruponos.domain.schema import PRIMARY_KEY, REPLICATION_KEY, Column, ColumnType, EntitySchema

JSON_MEDIA_TYPE = "application/json"
DECIMAL_FORMATS = frozenset({"singer.decimal", "decimal"})

#: The tap's stream of rejected records (see :func:`quarantine_json_schema`).
QUARANTINE_STREAM = "_gruponos_quarantine"
#: One row per rejected version of a record: its stream and the SHA-256 of its payload. A re-read
#: of the same version (the incremental overlap, a retried run) lands on the same row; another
#: version of the record gets its own. Not the id: it can be missing (it may be what is bad).
QUARANTINE_KEY = ("stream", "fingerprint")


def property_name(column: Column) -> str:
    """The Singer property of a column: its SQL identifier in lower case."""
    return column.name.lower()


def column_json_schema(column: Column) -> dict[str, Any]:
    """The JSON schema of one column's values (nullable unless the column is not)."""
    base: dict[str, Any]
    match column.type:
        case ColumnType.INTEGER:
            base = {"type": "integer"}
        case ColumnType.DECIMAL:
            base = {"type": "string", "format": "singer.decimal"}
        case ColumnType.TEXT:
            base = {"type": "string"}
            if column.max_length is not None:
                base["maxLength"] = column.max_length
        case ColumnType.TIMESTAMP:
            base = {"type": "string", "format": "date-time"}
        case ColumnType.DATE:
            base = {"type": "string", "format": "date"}
        case ColumnType.BOOLEAN:
            base = {"type": "boolean"}
        case ColumnType.JSON:  # pragma: no branch - exhaustive over ColumnType
            base = {"type": "string", "contentMediaType": JSON_MEDIA_TYPE}
    if column.nullable and column.source != REPLICATION_KEY:
        base["type"] = [base["type"], "null"]
    return base


def stream_json_schema(
    schema: EntitySchema, excluded: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The stream's JSON schema; ``excluded`` properties (deselected in a catalog) are left out."""
    properties = {
        property_name(c): column_json_schema(c)
        for c in schema.columns
        if property_name(c) not in excluded
    }
    return {
        "type": "object",
        "properties": properties,
        "required": [PRIMARY_KEY, REPLICATION_KEY],
    }


def catalog_entry(schema: EntitySchema, *, incremental: bool) -> dict[str, Any]:
    """A catalog stream with standard Singer metadata (selected by default)."""
    json_schema = stream_json_schema(schema)
    metadata: list[dict[str, Any]] = [
        {
            "breadcrumb": [],
            "metadata": {
                "inclusion": "available",
                "selected-by-default": True,
                "table-key-properties": [PRIMARY_KEY],
                "valid-replication-keys": [REPLICATION_KEY],
                "forced-replication-method": "INCREMENTAL" if incremental else "FULL_TABLE",
            },
        }
    ]
    for name in json_schema["properties"]:
        automatic = name in (PRIMARY_KEY, REPLICATION_KEY)
        metadata.append(
            {
                "breadcrumb": ["properties", name],
                "metadata": {
                    "inclusion": "automatic" if automatic else "available",
                    "selected-by-default": True,
                },
            }
        )
    return {
        "tap_stream_id": schema.entity,
        "stream": schema.entity,
        "schema": json_schema,
        "key_properties": [PRIMARY_KEY],
        "replication_key": REPLICATION_KEY if incremental else None,
        "replication_method": "INCREMENTAL" if incremental else "FULL_TABLE",
        "metadata": metadata,
    }


def quarantine_json_schema() -> dict[str, Any]:
    """The JSON schema of :data:`QUARANTINE_STREAM`: a rejected record's stream, id (as text,
    when it had one), the reasons, its payload as the WMS sent it (JSON text, keys sorted), the
    payload's SHA-256 (hex) and when the tap rejected it."""
    text = {"type": "string"}
    return {
        "type": "object",
        "properties": {
            "stream": text,
            "fingerprint": text,
            "id": {"type": ["string", "null"]},
            "reason": text,
            "payload": {"type": "string", "contentMediaType": JSON_MEDIA_TYPE},
            "rejected_at": {"type": "string", "format": "date-time"},
        },
        "required": ["stream", "fingerprint", "reason", "payload", "rejected_at"],
    }


def quarantine_record(
    stream: str, record_id: Any, reason: str, payload: Any, at: datetime
) -> dict[str, Any]:
    """A record of :data:`QUARANTINE_STREAM` for a rejected WMS record ``payload``."""
    text = _json_text(payload)
    return {
        "stream": stream,
        "fingerprint": hashlib.sha256(text).hexdigest(),
        "id": None if record_id is None else str(record_id),
        "reason": reason,
        "payload": text.decode(),
        "rejected_at": at,
    }


def quarantine_catalog_entry() -> dict[str, Any]:
    """The catalog entry of :data:`QUARANTINE_STREAM` (selected by default; every property is
    ``automatic``: a rejection is kept whole)."""
    schema = quarantine_json_schema()
    metadata: list[dict[str, Any]] = [
        {
            "breadcrumb": [],
            "metadata": {
                "inclusion": "available",
                "selected-by-default": True,
                "table-key-properties": list(QUARANTINE_KEY),
                "forced-replication-method": "FULL_TABLE",
            },
        },
        *(
            {"breadcrumb": ["properties", name], "metadata": {"inclusion": "automatic"}}
            for name in schema["properties"]
        ),
    ]
    return {
        "tap_stream_id": QUARANTINE_STREAM,
        "stream": QUARANTINE_STREAM,
        "schema": schema,
        "key_properties": list(QUARANTINE_KEY),
        "replication_key": None,
        "replication_method": "FULL_TABLE",
        "metadata": metadata,
    }


def _json_text(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)
    except orjson.JSONEncodeError:  # an integer over 64 bits: the standard library takes it
        return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False).encode()


class Selection:
    """Which streams and properties a catalog selects.

    A stream is selected when its root metadata says ``selected: true``, or when it says nothing
    and it is ``selected-by-default``. A property is left out only when explicitly
    ``selected: false`` and not ``inclusion: automatic`` (key and replication key stay).
    """

    def __init__(self, streams: Mapping[str, frozenset[str]]) -> None:
        #: stream -> deselected properties
        self.streams = dict(streams)

    @classmethod
    def everything(cls, entities: Iterable[str]) -> Selection:
        """What runs without a catalog: every entity whole, and the quarantine stream."""
        return cls({**{e: frozenset[str]() for e in entities}, QUARANTINE_STREAM: frozenset()})

    @property
    def entities(self) -> tuple[str, ...]:
        """The selected WMS entities, in catalog order (the quarantine stream left out)."""
        return tuple(s for s in self.streams if s != QUARANTINE_STREAM)

    @property
    def quarantine(self) -> bool:
        """Whether the quarantine stream is selected."""
        return QUARANTINE_STREAM in self.streams

    def excluded(self, stream: str) -> frozenset[str]:
        """The properties of ``stream`` the catalog deselected."""
        return self.streams.get(stream, frozenset())

    @classmethod
    def from_catalog(cls, catalog: Mapping[str, Any]) -> Selection:
        streams: dict[str, frozenset[str]] = {}
        entries = catalog.get("streams")
        if not isinstance(entries, list):
            raise ValueError("the catalog has no 'streams' list")
        for entry in entries:
            if not isinstance(entry, Mapping):
                raise ValueError("a catalog stream is not an object")
            name = entry.get("tap_stream_id") or entry.get("stream")
            if not isinstance(name, str):
                raise ValueError("a catalog stream has no tap_stream_id")
            root: Mapping[str, Any] = {}
            excluded: set[str] = set()
            for item in _metadata(entry):
                breadcrumb = item.get("breadcrumb") or []
                meta = item.get("metadata") or {}
                if not breadcrumb:
                    root = meta
                elif (
                    len(breadcrumb) == 2
                    and meta.get("selected") is False
                    and meta.get("inclusion") != "automatic"
                ):
                    excluded.add(str(breadcrumb[1]))
            selected = root.get("selected", root.get("selected-by-default", False))
            if selected is True:
                streams[name] = frozenset(excluded - {PRIMARY_KEY, REPLICATION_KEY})
        return cls(streams)


def _metadata(entry: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    items = entry.get("metadata") or []
    if not isinstance(items, list):
        raise ValueError("catalog metadata must be a list")
    return [item for item in items if isinstance(item, Mapping)]


class RecordEncoder:
    """Turns normalized records of one entity into Singer record objects.

    Values stay as the normalizer made them (``Decimal``, aware ``datetime``, ``date``); the
    message encoder writes decimals as strings and instants as UTC ``...Z``.
    """

    def __init__(self, schema: EntitySchema, excluded: frozenset[str] = frozenset()) -> None:
        self._pairs = tuple(
            (c.name, property_name(c)) for c in schema.columns if property_name(c) not in excluded
        )

    @property
    def properties(self) -> tuple[str, ...]:
        return tuple(p for _, p in self._pairs)

    def encode(self, record: NormalizedRecord) -> dict[str, Any]:
        values = record.values
        out: dict[str, Any] = {prop: values.get(column) for column, prop in self._pairs}
        if record.extra:
            # Fields the describe did not list: passed through (the schema allows additional
            # properties) so that nothing the API sent is dropped; the target keeps them as JSON.
            for name, value in record.extra.items():
                out.setdefault(name, value)
        return out
