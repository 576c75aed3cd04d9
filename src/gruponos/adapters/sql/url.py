"""Database URLs: which dialect, where, and the URL as it may be shown (password masked).

- ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, ``sqlite:///:memory:``
  (three slashes then the path, as SQLAlchemy spells them);
- ``postgresql://user[:password]@host:port/db[?libpq-params]`` (``postgres://`` too);
- ``oracle://user[:password]@host:port/service_name``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote as url_quote
from urllib.parse import unquote, urlsplit, urlunsplit

from returns.result import Failure, Result, Success

from gruponos.application.errors import SinkError

SCHEMES = ("sqlite", "postgresql", "postgres", "oracle")


@dataclass(frozen=True, slots=True)
class SqlUrl:
    """A parsed database URL. ``shown`` is safe to log; ``password`` never appears in it."""

    scheme: str
    shown: str
    user: str | None = None
    password: str | None = None
    host: str | None = None
    port: int | None = None
    database: str = ""
    without_password: str = ""

    def __repr__(self) -> str:
        return f"SqlUrl({self.shown!r})"


def mask_url(url: str) -> str:
    """The URL with its password, if any, replaced by ``***``."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)
        user = netloc[0].split(":", 1)[0]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))
    except ValueError:
        return "<unparseable url>"


def parse_sql_url(url: str, password: str | None = None) -> Result[SqlUrl, SinkError]:
    """Parse ``url``; ``password`` (e.g. from a secret) wins over one in the URL."""
    shown = mask_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return Failure(SinkError("sink.bad_url", f"not a database URL: {exc}", {"url": shown}))
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        message = (
            f"unknown database URL scheme {parts.scheme!r}: use sqlite:///path.db, "
            "postgresql://user@host:port/db or oracle://user@host:port/service"
        )
        return Failure(SinkError("sink.bad_url", message, {"url": shown}))
    if scheme == "sqlite":
        if parts.netloc or not parts.path.startswith("/") or parts.path == "/":
            message = "write sqlite:///relative.db, sqlite:////absolute.db or sqlite:///:memory:"
            return Failure(SinkError("sink.bad_url", message, {"url": shown}))
        return Success(SqlUrl("sqlite", shown, database=unquote(parts.path[1:])))
    if not parts.hostname or not parts.path.strip("/"):
        return Failure(
            SinkError("sink.bad_url", "the URL needs a host and a database", {"url": shown})
        )
    user = unquote(parts.username) if parts.username else None
    secret = (
        password if password is not None else (unquote(parts.password) if parts.password else None)
    )
    netloc = (f"{url_quote(user, safe='')}@" if user else "") + parts.hostname
    if port:
        netloc += f":{port}"
    return Success(
        SqlUrl(
            "postgresql" if scheme == "postgres" else scheme,
            shown,
            user=user,
            password=secret,
            host=parts.hostname,
            port=port,
            database=unquote(parts.path.strip("/")),
            without_password=urlunsplit(parts._replace(netloc=netloc)),
        )
    )
