"""Singer messages: encoding to and decoding from JSON lines (orjson).

The spec (singer-io/getting-started, SPEC.md): every line on a tap's stdout is one JSON object with
a ``type`` of ``SCHEMA``, ``RECORD`` or ``STATE``. A ``SCHEMA`` precedes the records of its stream;
``RECORD`` carries ``stream``, ``record`` and optionally ``time_extracted`` (RFC 3339); ``STATE``
carries an opaque ``value`` that the tap gets back through ``--state`` on the next run.
``ACTIVATE_VERSION`` and ``BATCH`` exist in the Meltano SDK's dialect; a target may ignore them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class SchemaMessage:
    stream: str
    schema: Mapping[str, Any]
    key_properties: tuple[str, ...]
    bookmark_properties: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RecordMessage:
    stream: str
    record: Mapping[str, Any]
    time_extracted: datetime | None = None


@dataclass(frozen=True, slots=True)
class StateMessage:
    value: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class OtherMessage:
    """A valid message of a type this package does not act on (``ACTIVATE_VERSION``, ``BATCH``)."""

    type: str
    body: Mapping[str, Any] = field(default_factory=dict)


Message = SchemaMessage | RecordMessage | StateMessage | OtherMessage


class MessageError(ValueError):
    """A line that is not a valid Singer message; ``line`` is its 1-based number."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact: decimals travel as strings (format singer.decimal)
    if isinstance(value, date):  # datetimes are handled natively by orjson
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_APPEND_NEWLINE


def dumps(message: Mapping[str, Any]) -> bytes:
    """One message as a JSON line (with its newline); UTC datetimes end in ``Z``."""
    return orjson.dumps(message, default=_default, option=_OPTIONS)


def schema_line(
    stream: str,
    schema: Mapping[str, Any],
    key_properties: Sequence[str],
    bookmark_properties: Sequence[str] = (),
) -> bytes:
    message: dict[str, Any] = {
        "type": "SCHEMA",
        "stream": stream,
        "schema": schema,
        "key_properties": list(key_properties),
    }
    if bookmark_properties:
        message["bookmark_properties"] = list(bookmark_properties)
    return dumps(message)


def record_line(stream: str, record: Mapping[str, Any], time_extracted: datetime) -> bytes:
    return dumps(
        {"type": "RECORD", "stream": stream, "record": record, "time_extracted": time_extracted}
    )


def state_line(value: Mapping[str, Any]) -> bytes:
    return dumps({"type": "STATE", "value": value})


def target_state_line(value: Mapping[str, Any]) -> bytes:
    """What a *target* prints for a committed state: the bare value, one JSON per line.

    That is the Singer convention Meltano (and singer-python's ``emit_state``) rely on: the
    runner stores each line it reads from the target's stdout as the pipeline's state.
    """
    return dumps(value)


def _stream(body: Mapping[str, Any], number: int) -> str:
    stream = body.get("stream")
    if not isinstance(stream, str) or not stream:
        raise MessageError(number, "'stream' must be a non-empty string")
    return stream


def _names(value: Any, what: str, number: int) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MessageError(number, f"'{what}' must be a list of property names")
    return tuple(value)


def _time(value: Any, number: int) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise MessageError(number, "'time_extracted' must be an RFC 3339 timestamp")


def parse_line(line: bytes | str, number: int) -> Message | None:
    """Decode one line; ``None`` for a blank line; :class:`MessageError` when it is not valid."""
    if not line.strip():
        return None
    try:
        body = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise MessageError(number, f"not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise MessageError(number, "a message must be a JSON object")
    kind = body.get("type")
    if kind == "RECORD":
        record = body.get("record")
        if not isinstance(record, dict):
            raise MessageError(number, "RECORD needs a 'record' object")
        return RecordMessage(
            _stream(body, number), record, _time(body.get("time_extracted"), number)
        )
    if kind == "SCHEMA":
        schema = body.get("schema")
        if not isinstance(schema, dict):
            raise MessageError(number, "SCHEMA needs a 'schema' object")
        return SchemaMessage(
            _stream(body, number),
            schema,
            _names(body.get("key_properties"), "key_properties", number),
            _names(body.get("bookmark_properties"), "bookmark_properties", number),
        )
    if kind == "STATE":
        value = body.get("value")
        if not isinstance(value, dict):
            raise MessageError(number, "STATE needs a 'value' object")
        return StateMessage(value)
    if isinstance(kind, str) and kind:
        return OtherMessage(kind, body)
    raise MessageError(number, "a message needs a 'type'")
