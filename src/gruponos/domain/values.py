"""Converters from the API's JSON values to typed column values, in pure functions.

Each raises :class:`InvalidValue` (a code and a message) for a value it does not take; the
normalizer turns that into a :class:`~gruponos.domain.errors.FieldProblem`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any


class InvalidValue(Exception):  # noqa: N818 - control flow inside the normalizer, never escapes it
    """Raised by a converter; turned into a FieldProblem by the normalizer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def to_int(value: Any) -> int:
    """An integer from a JSON number or an integral decimal string; ``bool`` is not an integer."""
    if isinstance(value, bool):
        raise InvalidValue("type", f"expected an integer, got boolean {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        dec = to_decimal(value)
        if dec == dec.to_integral_value():
            return int(dec)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise InvalidValue("type", f"expected an integer, got {show_value(value)}")


def to_decimal(value: Any) -> Decimal:
    """An exact decimal from a string (as the API sends) or a JSON number; no NaN or infinity."""
    if isinstance(value, bool):
        raise InvalidValue("type", f"expected a decimal, got boolean {value!r}")
    if isinstance(value, (int, str)):
        try:
            result = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise InvalidValue("decimal", f"not a decimal number: {show_value(value)}") from None
    elif isinstance(value, float):
        result = Decimal(repr(value))  # the shortest repr is what the sender meant
    else:
        raise InvalidValue("type", f"expected a decimal, got {show_value(value)}")
    if not result.is_finite():
        raise InvalidValue("decimal", f"not a finite decimal: {show_value(value)}")
    return result


_ISO_Z = re.compile(r"[zZ]$")


def to_utc_instant(value: Any, default_tz: tzinfo | None = None) -> datetime:
    """A UTC instant from an ISO-8601 timestamp with an offset (``...-03:00`` -> ``...Z``).

    A timestamp without an offset is only accepted when ``default_tz`` says how to read it.
    """
    if not isinstance(value, str):
        raise InvalidValue(
            "type", f"expected an ISO-8601 timestamp string, got {show_value(value)}"
        )
    try:
        parsed = datetime.fromisoformat(_ISO_Z.sub("+00:00", value.strip()))
    except ValueError:
        raise InvalidValue("timestamp", f"not an ISO-8601 timestamp: {show_value(value)}") from None
    if parsed.tzinfo is None:
        if default_tz is None:
            raise InvalidValue("timestamp", f"timestamp has no UTC offset: {show_value(value)}")
        parsed = parsed.replace(tzinfo=default_tz)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+02:00 is before the first UTC instant
        raise InvalidValue(
            "timestamp", f"outside the years 1-9999 in UTC: {show_value(value)}"
        ) from None


def to_date(value: Any) -> date:
    if not isinstance(value, str):
        raise InvalidValue("type", f"expected a YYYY-MM-DD date string, got {show_value(value)}")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidValue("date", f"not a YYYY-MM-DD date: {show_value(value)}") from None


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise InvalidValue("type", f"expected a boolean, got {show_value(value)}")


def to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return str(value)
    raise InvalidValue("type", f"expected text, got {show_value(value)}")


def to_json_text(value: Any) -> str:
    """Lists and objects as canonical JSON text (sorted keys, exact decimals kept as written)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def split_relation(value: Any) -> tuple[int | None, str | None]:
    """``{"id": 1, "key": "R", "url": ...}`` -> ``(1, "R")``; ``None`` -> ``(None, None)``."""
    if value is None:
        return None, None
    if isinstance(value, Mapping):
        rid = value.get("id")
        key = value.get("key")
        return (
            None if rid is None else to_int(rid),
            None if key is None else to_text(key) or None,  # empty text is NULL
        )
    if isinstance(value, int) and not isinstance(value, bool):
        return value, None
    raise InvalidValue(
        "relation", f"expected a relation object {{id, key, url}}, got {show_value(value)}"
    )


def show_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
