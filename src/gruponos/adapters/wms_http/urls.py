"""Pure URL, query-parameter and timestamp building for lgfapi requests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import httpx

from gruponos.adapters.wms_http.config import PageMode
from gruponos.domain.checkpoints import IncrementalWindow, ReadWindow
from gruponos.domain.naming import is_entity_name

#: Query parameters whose values are never logged or put into errors.
_SECRET_PARAMS = frozenset(
    {"access_token", "token", "password", "client_secret", "code", "id_token", "refresh_token"}
)
_REQUIRED_FIELDS = ("id", "mod_ts")


def entity_list_url(api_root: str) -> str:
    return f"{api_root}entity/"


def entity_url(api_root: str, entity: str) -> str:
    return f"{api_root}entity/{_checked(entity)}/"


def describe_url(api_root: str, entity: str) -> str:
    return f"{api_root}entity/{_checked(entity)}/describe/"


def record_url(api_root: str, entity: str, record_id: int) -> str:
    return f"{api_root}entity/{_checked(entity)}/{int(record_id)}/"


def _checked(entity: str) -> str:
    if not is_entity_name(entity):
        msg = f"not an entity name: {entity!r}"
        raise ValueError(msg)
    return entity


def encode_timestamp(moment: datetime) -> str:
    """ISO-8601 with microseconds and an explicit offset, for ``mod_ts`` filters.

    The instant is never shifted: the datetime's own offset is kept when it is a whole number of
    minutes (what the API understands); an offset with seconds (historic LMT zones) is converted to
    UTC. A naive datetime raises ``ValueError``: the API would read it in the facility's zone.
    """
    offset = moment.utcoffset()
    if offset is None:
        msg = "naive datetime: a filter timestamp needs an explicit UTC offset"
        raise ValueError(msg)
    if offset % timedelta(minutes=1):
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds")


def window_params(
    window: ReadWindow,
    *,
    page_mode: PageMode,
    page_size: int,
    fields: tuple[str, ...] | None = None,
    extra_filters: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Query parameters of the first request of a read.

    Incremental: ``mod_ts__gte=<since>`` (omitted when ``since`` is None), ``ordering=mod_ts,id``.
    Full: ``id__gt=<after_id>`` and ``id__lt=<until_id>`` (each omitted when None), ``ordering=id``. ``fields`` always includes
    ``id`` and ``mod_ts``. Values are raw: httpx URL-encodes them (``+`` becomes ``%2B``).
    """
    params: dict[str, str] = dict(extra_filters or {})
    if isinstance(window, IncrementalWindow):
        if window.since is not None:
            params["mod_ts__gte"] = encode_timestamp(window.since)
        params["ordering"] = "mod_ts,id"
    else:
        if window.after_id is not None:
            params["id__gt"] = str(int(window.after_id))
        if window.until_id is not None:
            params["id__lt"] = str(int(window.until_id))
        params["ordering"] = "id"
    if fields is not None:
        wanted = [*_REQUIRED_FIELDS, *(f for f in fields if f not in _REQUIRED_FIELDS)]
        params["fields"] = ",".join(dict.fromkeys(wanted))
    params["page_mode"] = page_mode.value
    params["page_size"] = str(page_size)
    return params


def same_origin(url: str, base_url: str) -> bool:
    """Same scheme, host and port: ``next_page`` may not send our credentials elsewhere."""
    try:
        candidate = httpx.URL(url)
    except httpx.InvalidURL:
        return False
    base = httpx.URL(base_url)
    return (
        candidate.scheme == base.scheme
        and candidate.host == base.host
        and _port(candidate) == _port(base)
    )


def _port(url: httpx.URL) -> int | None:
    return url.port or {"http": 80, "https": 443}.get(url.scheme)


def canonical(url: str) -> str:
    """A normal form to detect a ``next_page`` that repeats a URL (parameter order ignored)."""
    parsed = httpx.URL(url)
    params = httpx.QueryParams(sorted(parsed.params.multi_items()))
    return str(parsed.copy_with(query=None, fragment=None).copy_merge_params(params))


def redact_url(url: str | httpx.URL) -> str:
    """The URL without user info and without values of secret-looking query parameters."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid url>"
    if parsed.userinfo:
        parsed = parsed.copy_with(username=None, password=None)
    if any(key.lower() in _SECRET_PARAMS for key in parsed.params):
        items = [
            (k, "REDACTED" if k.lower() in _SECRET_PARAMS else v)
            for k, v in parsed.params.multi_items()
        ]
        parsed = parsed.copy_with(params=items)
    return str(parsed)
