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

from gruponos.adapters.urls import mask_url, sink_kind, sql_url_problem
from gruponos.application.errors import SinkError

__all__ = ["SqlUrl", "mask_url", "parse_sql_url"]


@dataclass(frozen=True, slots=True)
class SqlUrl:
    """A parsed database URL. ``shown`` is safe to log; ``password`` never appears in it.

    ``scheme`` is the sink the URL opens: ``sqlite``, ``postgres`` or ``oracle``."""

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


def parse_sql_url(url: str, password: str | None = None) -> Result[SqlUrl, SinkError]:
    """Parse ``url``; ``password`` (e.g. from a secret) wins over one in the URL."""
    shown = mask_url(url)
    problem = sql_url_problem(url)
    if problem is not None:
        return Failure(SinkError("sink.bad_url", problem, {"url": shown}))
    parts = urlsplit(url)
    port = parts.port
    scheme = sink_kind(url) or ""  # sql_url_problem made sure the scheme is known
    if scheme == "sqlite":
        return Success(SqlUrl("sqlite", shown, database=unquote(parts.path[1:])))
    user = unquote(parts.username) if parts.username else None
    secret = (
        password if password is not None else (unquote(parts.password) if parts.password else None)
    )
    host = parts.hostname or ""  # sql_url_problem made sure there is one
    netloc = (f"{url_quote(user, safe='')}@" if user else "") + host
    if port:
        netloc += f":{port}"
    return Success(
        SqlUrl(
            scheme,
            shown,
            user=user,
            password=secret,
            host=host,
            port=port,
            database=unquote(parts.path.strip("/")),
            without_password=urlunsplit(parts._replace(netloc=netloc)),
        )
    )
