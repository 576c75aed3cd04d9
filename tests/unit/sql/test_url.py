"""Database URLs: parsing, the dialect chosen, and passwords never shown."""

from __future__ import annotations

import pytest
from returns.io import IOFailure
from returns.result import Failure, Success
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.sql import open_sql_backend
from gruponos.adapters.sql.url import mask_url, parse_sql_url


def test_sqlite_paths() -> None:
    assert parse_sql_url("sqlite:///data/wms.db").unwrap().database == "data/wms.db"
    assert parse_sql_url("sqlite:////var/lib/wms.db").unwrap().database == "/var/lib/wms.db"
    assert parse_sql_url("sqlite:///:memory:").unwrap().database == ":memory:"


def test_postgres_password_moves_out_of_the_url() -> None:
    url = parse_sql_url("postgresql://etl:s3cr%40t@db.example:5433/wms?sslmode=require")
    parsed = url.unwrap()
    assert parsed.password == "s3cr@t"
    assert parsed.without_password == "postgresql://etl@db.example:5433/wms?sslmode=require"
    assert parsed.shown == "postgresql://etl:***@db.example:5433/wms?sslmode=require"
    assert "s3cr" not in repr(parsed)
    override = parse_sql_url("postgres://etl:old@h/db", password="new").unwrap()
    assert (override.scheme, override.password) == ("postgres", "new")  # one sink, two spellings


def test_oracle_url() -> None:
    parsed = parse_sql_url("oracle://gruponos@db:1521/FREEPDB1", password="pw").unwrap()
    assert (parsed.user, parsed.host, parsed.port, parsed.database) == (
        "gruponos",
        "db",
        1521,
        "FREEPDB1",
    )


@pytest.mark.parametrize(
    # oracle://u@h names a TNS alias; with a port it is a host that lacks its service
    "url",
    ["mysql://u@h/db", "sqlite://relative.db", "postgresql://u@/db", "oracle://u@h:1521", "x"],
)
def test_bad_urls_fail_clearly(url: str) -> None:
    result = parse_sql_url(url)
    assert isinstance(result, Failure)
    assert result.failure().code == "sink.bad_url"


def test_mask_url() -> None:
    assert mask_url("oracle://u:pw@h:1521/s") == "oracle://u:***@h:1521/s"
    assert mask_url("sqlite:///x.db") == "sqlite:///x.db"


def test_connect_failure_does_not_leak_the_password() -> None:
    result = open_sql_backend(
        "postgresql://nobody:hunter2@127.0.0.1:1/db?connect_timeout=1", password="hunter2"
    )
    assert isinstance(result, IOFailure)
    error = unsafe_perform_io(result.failure())
    assert error.code == "sink.connect_failed"
    assert "hunter2" not in str(error)
    assert error.context["url"] == "postgresql://nobody:***@127.0.0.1:1/db?connect_timeout=1"


def test_unknown_scheme_from_the_factory() -> None:
    result = open_sql_backend("mongodb://h/db")
    assert isinstance(result, IOFailure)
    assert "unknown database URL scheme" in unsafe_perform_io(result.failure()).message


def test_parse_results_are_results() -> None:
    assert isinstance(parse_sql_url("sqlite:///:memory:"), Success)
