"""Two first runs at once against a fresh database: preparing the same tables concurrently (the
metadata tables, the entity table, columns added by schema evolution) succeeds for both, each on
its own connection, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from returns.io import IOResult, IOSuccess
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.sql import SqlBackend, ddl, open_sql_backend
from gruponos.domain.checkpoints import StateKey
from gruponos.domain.schema import FieldType, SourceField
from support.oracle_fake import FakeOracle, oracle_dialect
from support.sqlsink import pg_schema, schema

ROUNDS = 12
CONTENDERS = 3
EVOLVED = schema(
    "order_hdr",
    SourceField("lot_nbr", FieldType.VARCHAR, max_length=30),
    SourceField("ship_ts", FieldType.DATETIME),
)


def race(backends: list[SqlBackend], step: Callable[[SqlBackend], IOResult[Any, Any]]) -> list[Any]:
    """``step`` on every backend at the same instant, one thread each; the results in order."""
    barrier = threading.Barrier(len(backends))
    results: list[Any] = [None] * len(backends)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = step(backends[index])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(backends))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@contextmanager
def fresh_databases(kind: str, tmp_path: Path) -> Iterator[Iterator[str]]:
    """URLs of fresh, empty databases: one SQLite file or PostgreSQL schema per round."""
    with ExitStack() as stack:

        def urls() -> Iterator[str]:
            for n in range(ROUNDS):
                if kind == "sqlite":
                    yield f"sqlite:///{tmp_path / f'race-{n}.db'}"
                else:
                    yield stack.enter_context(pg_schema())

        yield urls()


def contenders(url: str, stack: ExitStack) -> list[SqlBackend]:
    return [
        stack.enter_context(unsafe_perform_io(open_sql_backend(url).unwrap()))
        for _ in range(CONTENDERS)
    ]


STEPS: dict[str, Callable[[SqlBackend], IOResult[Any, Any]]] = {
    "metadata tables (first state read)": lambda b: b.state.load(StateKey("full", "order_hdr")),
    "entity table": lambda b: b.sink.prepare(schema()),
    "added columns": lambda b: b.sink.prepare(EVOLVED),
}


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_first_runs_prepare_the_same_fresh_database_at_once(kind: str, tmp_path: Path) -> None:
    failures: list[str] = []
    with fresh_databases(kind, tmp_path) as urls:
        for url in urls:
            with ExitStack() as stack:
                backends = contenders(url, stack)
                for label, step in STEPS.items():
                    for result in race(backends, step):
                        if not isinstance(result, IOSuccess):
                            failures.append(f"{label}: {result}")
                described = unsafe_perform_io(backends[0].sink.describe_table("order_hdr").unwrap())
                assert {"LOT_NBR", "SHIP_TS"} <= {name for name, _ in described}
    per_step = {label: sum(f.startswith(label) for f in failures) for label in STEPS}
    assert not failures, f"failed preparations per step: {per_step}; first: {failures[0]}"


def test_oracle_metadata_table_created_by_another_session_first_counts_as_done() -> None:
    """The recording driver cannot race, so the race is staged: another session creates
    GNOS_RUNS between this session's look and its CREATE TABLE, which fails with ORA-00955."""
    server = FakeOracle()
    dialect = oracle_dialect(server)
    backend = SqlBackend(dialect, dialect.connect(), where="oracle fake")
    create_runs = ddl.metadata_tables(dialect)[ddl.RUNS_TABLE]
    server.inject(
        955,
        f'CREATE TABLE "{ddl.RUNS_TABLE}"',
        lambda: server.connect().cursor().execute(create_runs),
    )
    result = backend.state.load(StateKey("full", "order_hdr"))
    assert isinstance(result, IOSuccess), result
    assert unsafe_perform_io(backend.runs.list_runs(5).unwrap()) == ()  # the table is usable
