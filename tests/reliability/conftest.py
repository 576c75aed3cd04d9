"""Fixtures of the reliability suite: targets (SQLite file, PostgreSQL schema), the per-test
secret scan, and the figures written to ``.reliability-results.json`` at the end of the run."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from reliability.rig import COLLECTOR, RESULTS_FILE, leaks_of, write_results
from support.sqlsink import PG_DSN, pg_available, pg_url

__all__ = ["pg_url"]

_STARTED = time.monotonic()


class _CollectingHandler(logging.Handler):
    """Every log record emitted in this process (gruponos' own loggers included)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            COLLECTOR.add_text(f"log {record.name}", self.format(record))
        except Exception:  # noqa: BLE001 - a log handler must never raise
            self.handleError(record)


_HANDLER = _CollectingHandler()


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger().addHandler(_HANDLER)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    logging.getLogger().removeHandler(_HANDLER)
    if not COLLECTOR.scenarios:
        return
    leaks = COLLECTOR.leaks_in(COLLECTOR.texts)
    outcome = "passed" if exitstatus == 0 and not leaks else "failed"
    command = " ".join(["pytest", *sys.argv[1:]])
    write_results(
        session.config.rootpath / RESULTS_FILE, command, time.monotonic() - _STARTED, outcome
    )
    if leaks:
        sys.stderr.write(f"\nreliability: secrets leaked: {leaks[:10]}\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def no_secret_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Whatever gruponos printed or logged during the test contains no configured secret and no
    issued token."""
    start = len(COLLECTOR.texts)
    yield
    leaks = leaks_of(start)
    scenario = COLLECTOR.scenario("secret_scan")
    scenario.leaks += len(leaks)
    assert not leaks, f"secrets in gruponos' output: {leaks}"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'target.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh target: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'target.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def new_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Make fresh targets: SQLite files, or PostgreSQL schemas (dropped afterwards)."""
    made: list[str] = []

    def make() -> str:
        name = f"rel_{uuid.uuid4().hex[:12]}"
        made.append(name)
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / name}.db"
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA {name}")
        sep = "&" if "?" in PG_DSN else "?"
        return f"{PG_DSN}{sep}options={quote(f'-csearch_path={name}')}"

    if request.param == "postgres" and not pg_available():
        pytest.skip(f"PostgreSQL is not reachable at {PG_DSN}")
    yield make
    if request.param == "postgres":
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            for name in made:
                admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
