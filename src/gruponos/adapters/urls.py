"""URLs without I/O or drivers: passwords masked in any text, and what a database URL must hold.

:func:`redact` is the one function every message, report, log line and configuration dump goes
through before it is shown: whatever carries a URL with a password (a setting's bad value, a
driver's error, a path that was meant as a URL) shows ``user:***@host`` instead. It is light
(``re`` and ``urllib`` only), so settings and the command line use it without loading a sink.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from urllib.parse import urlsplit

#: The one table of database URL schemes: scheme -> the sink it opens (``sqlite``, ``postgres``,
#: ``oracle``); ``postgres`` and ``postgresql`` are the same sink.
SQL_SCHEMES: Mapping[str, str] = MappingProxyType(
    {"sqlite": "sqlite", "postgresql": "postgres", "postgres": "postgres", "oracle": "oracle"}
)
SQL_URL_FORMS = (
    "sqlite:///path.db, postgresql://user@host:port/db or oracle://user@host:port/service"
)

# scheme ":" then up to two slashes (a Path collapses "//" to "/"), "user:" and the password up to
# the last "@" before the host. Quotes and whitespace end a URL inside a message.
_USERINFO = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*:/{0,2}[^\s/:@'\"]*:)(?P<password>[^\s/'\"]+)@"
)


def redact(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``.

    >>> redact("got 'oracle+oracledb://etl:hunter2@db/svc'")
    "got 'oracle+oracledb://etl:***@db/svc'"
    """
    return _USERINFO.sub(r"\g<head>***@", text)


def mask_url(url: str) -> str:
    """One URL as it may be shown: its password, if any, replaced by ``***``."""
    return redact(url)


def sink_kind(url: str) -> str | None:
    """The sink a database URL opens (``sqlite``, ``postgres``, ``oracle``), by its scheme.

    >>> sink_kind("postgresql://etl@db/dwh"), sink_kind("mysql://db/x")
    ('postgres', None)
    """
    return SQL_SCHEMES.get(url.partition(":")[0].lower())


def sql_url_problem(url: str) -> str | None:
    """Why ``url`` is not a complete database URL (``None`` when it is).

    ``sqlite:///relative.db``, ``sqlite:////absolute.db`` and ``sqlite:///:memory:`` name a file;
    ``postgresql://`` and ``oracle://`` need a host and a database (or service) name; an Oracle
    URL without a service and a port names a TNS alias instead (``oracle://user@mydb_high``).
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError as exc:
        return f"not a database URL: {exc}"
    scheme = parts.scheme.lower()
    if scheme not in SQL_SCHEMES or "://" not in url:
        return f"unknown database URL scheme {parts.scheme!r}: use {SQL_URL_FORMS}"
    if scheme == "sqlite":
        if parts.netloc or not parts.path.startswith("/") or parts.path == "/":
            return "write sqlite:///relative.db, sqlite:////absolute.db or sqlite:///:memory:"
        return None
    tns_alias = scheme == "oracle" and parts.port is None and not parts.path.strip("/")
    if not parts.hostname or not (parts.path.strip("/") or tns_alias):
        return "the URL needs a host and a database"
    return None
