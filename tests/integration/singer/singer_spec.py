"""A minimal checker of the Singer message spec and of the JSON-schema subset our streams use.

Kept here rather than depending on ``jsonschema``: the tap only emits ``type`` (string or list),
``properties``, ``required``, ``maxLength`` and the formats ``date-time``, ``date`` and
``singer.decimal``, and the checker rejects any other keyword so it cannot silently pass.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}
_KNOWN = {"type", "format", "maxLength", "contentMediaType"}


def _is(value: Any, json_type: str) -> bool:
    if isinstance(value, bool) and json_type in ("integer", "number"):
        return False
    return isinstance(value, _JSON_TYPES[json_type])


def _format_ok(value: str, fmt: str) -> bool:
    try:
        if fmt == "date-time":
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed.tzinfo is not None
        if fmt == "date":
            date.fromisoformat(value)
        elif fmt == "singer.decimal":
            return Decimal(value).is_finite()
    except (ValueError, InvalidOperation):
        return False
    return True


def property_problems(name: str, value: Any, spec: dict[str, Any]) -> list[str]:
    unknown = set(spec) - _KNOWN
    if unknown:
        return [f"{name}: schema keywords this checker does not know: {unknown}"]
    types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    if not any(_is(value, t) for t in types):
        return [f"{name}: {value!r} is not of type {types}"]
    if isinstance(value, str):
        if "format" in spec and not _format_ok(value, spec["format"]):
            return [f"{name}: {value!r} is not a {spec['format']}"]
        if "maxLength" in spec and len(value) > spec["maxLength"]:
            return [f"{name}: longer than {spec['maxLength']}"]
        if spec.get("contentMediaType") == "application/json":
            orjson.loads(value)
    return []


def record_problems(record: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    problems = [f"missing required {r}" for r in schema.get("required", []) if r not in record]
    properties = schema["properties"]
    for name, value in record.items():
        if name in properties:
            problems += property_problems(name, value, properties[name])
    return problems


def check_stream(lines: list[bytes]) -> dict[str, Any]:
    """Check a tap's output; return what it saw (schemas, records per stream, states)."""
    schemas: dict[str, dict[str, Any]] = {}
    keys: dict[str, list[str]] = {}
    records: dict[str, list[dict[str, Any]]] = {}
    states: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        message = orjson.loads(line)
        kind = message["type"]
        if kind == "SCHEMA":
            assert isinstance(message["schema"]["properties"], dict)
            for key in message["key_properties"]:
                assert key in message["schema"]["properties"], f"line {number}: key {key}"
            schemas[message["stream"]] = message["schema"]
            keys[message["stream"]] = message["key_properties"]
        elif kind == "RECORD":
            stream = message["stream"]
            assert stream in schemas, f"line {number}: RECORD before SCHEMA for {stream}"
            extracted = datetime.fromisoformat(message["time_extracted"].replace("Z", "+00:00"))
            assert extracted.tzinfo is not None
            record = message["record"]
            for key in keys[stream]:
                assert record.get(key) is not None, f"line {number}: key {key} missing"
            problems = record_problems(record, schemas[stream])
            assert not problems, f"line {number}: {problems}"
            records.setdefault(stream, []).append(record)
        elif kind == "STATE":
            assert isinstance(message["value"], dict)
            states.append(message["value"])
        else:
            raise AssertionError(f"line {number}: unexpected message type {kind}")
    return {"schemas": schemas, "records": records, "states": states}
