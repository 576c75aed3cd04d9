"""Parsing response bodies: the page envelope, and WMS error bodies into ``WmsError`` context."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from gruponos.application.errors import WmsError
from gruponos.domain.pages import JsonRecords

#: Non-retryable statuses and their error codes (404 only where it is not an empty result).
STATUS_CODES = {
    400: "wms.bad_request",
    401: "wms.unauthorized",
    403: "wms.forbidden",
    404: "wms.not_found",
}
_MAX_MESSAGE = 300


class MalformedBody(Exception):  # noqa: N818 - a parse outcome, caught right away
    """The body is not the JSON the API promises (truncated, HTML from a gateway, wrong shape)."""


@dataclass(frozen=True, slots=True)
class PageEnvelope:
    records: Sequence[Mapping[str, Any]]
    next_page: str | None
    result_count: int | None


def parse_json(content: bytes) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"invalid JSON at byte {exc.pos} of {len(content)}") from None


def parse_envelope(body: Any) -> PageEnvelope:
    """Validate ``{"results": [objects], "next_page": str|null, ...}``."""
    if not isinstance(body, dict):
        raise MalformedBody("the page is not a JSON object")
    records = body.get("results")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise MalformedBody("'results' is not a list of objects")
    next_page = body.get("next_page")
    if next_page is not None and (not isinstance(next_page, str) or not next_page):
        raise MalformedBody("'next_page' is not a URL or null")
    count = body.get("result_count")
    return PageEnvelope(
        records,
        next_page,
        count if isinstance(count, int) and not isinstance(count, bool) else None,
    )


class _RawEnvelope(msgspec.Struct, gc=False):
    """A page body with its ``results`` left as JSON text (other members are skipped)."""

    results: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    next_page: Any = None
    result_count: Any = None


_RAW_ENVELOPE = msgspec.json.Decoder(_RawEnvelope)


@dataclass(frozen=True, slots=True)
class RawPage:
    """A syntactically valid page body; ``envelope`` is ``None`` when it is not a JSON object."""

    envelope: _RawEnvelope | None


def parse_page_json(content: bytes) -> RawPage:
    """Check a page body's JSON syntax without building its records (retried when broken)."""
    try:
        return RawPage(_RAW_ENVELOPE.decode(content))
    except msgspec.ValidationError:  # valid JSON, but not an object: a shape problem
        return RawPage(None)
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"invalid JSON in {len(content)} bytes: {exc}") from None


def page_envelope(body: RawPage) -> PageEnvelope:
    """:func:`parse_envelope` for a :class:`RawPage`: the records stay JSON text
    (:class:`~gruponos.domain.pages.JsonRecords`). ``results`` must be a JSON array; an item
    that is not an object is the normalizer's to reject (it is quarantined, the rest loads)."""
    envelope = body.envelope
    if envelope is None:
        raise MalformedBody("the page is not a JSON object")
    results = envelope.results
    raw = b"" if isinstance(results, msgspec.UnsetType) else bytes(results)
    if raw[:1] != b"[":  # msgspec gives the value without leading whitespace
        raise MalformedBody("'results' is not a list of objects")
    next_page = envelope.next_page
    if next_page is not None and (not isinstance(next_page, str) or not next_page):
        raise MalformedBody("'next_page' is not a URL or null")
    count_field = envelope.result_count
    return PageEnvelope(
        JsonRecords(raw),
        next_page,
        count_field if isinstance(count_field, int) and not isinstance(count_field, bool) else None,
    )


def wms_error_details(content: bytes) -> dict[str, str]:
    """``code``, ``message`` and ``reference`` of a WMS error body, when it is one."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(body, dict):
        return {}
    details: dict[str, str] = {}
    for key, name in (("code", "wms_code"), ("message", "wms_message"), ("reference", "reference")):
        value = body.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            details[name] = str(value)[:_MAX_MESSAGE]
    return details


def http_error(
    status: int, content: bytes, *, url: str, entity: str | None, attempts: int
) -> WmsError:
    """A typed error for a non-retryable HTTP status (or the last one after retries)."""
    code = STATUS_CODES.get(status, "wms.http_error")
    context: dict[str, Any] = {"url": url, **wms_error_details(content)}
    if entity is not None:
        context["entity"] = entity
    message = context.get("wms_message") or f"the WMS answered HTTP {status}"
    return WmsError(code, str(message), context, status=status, attempts=attempts)
