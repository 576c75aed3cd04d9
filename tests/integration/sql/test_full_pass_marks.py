"""A full pass marks every row it meets with its generation, also rows it does not replace (the
stored version is newer), so soft deletes never hit them; and it skips the separate ``mark_seen``
when the upsert itself replaced every row (PostgreSQL and SQLite count what they replaced)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.io import IOFailure, IOResult
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.sql import SqlBackend, open_sql_backend
from gruponos.adapters.sql.ddl import TableSpec
from gruponos.domain.batches import Batch, WriteOutcome
from support.sqlsink import T0, BackendFactory, pg_schema, query, record, schema

_entities = itertools.count()

T = TypeVar("T")


def ok(result: IOResult[T, Any]) -> T:
    assert not isinstance(result, IOFailure), result
    return unsafe_perform_io(result.unwrap())


def marks(backend: SqlBackend, entity: str) -> dict[int, tuple[Any, Any, Any]]:
    """``{id: (MOD_TS second, GNOS_SEEN_GEN, deleted?)}``."""
    table = backend.sink.table_name(entity)
    rows = query(
        backend, f'SELECT "ID", "STATUS_ID", "GNOS_SEEN_GEN", "GNOS_DELETED_AT" FROM "{table}"'
    )
    return {rid: (second, gen, deleted is not None) for rid, second, gen, deleted in rows}


def test_a_full_pass_meeting_a_newer_stored_version_marks_it_seen(
    open_backend: BackendFactory,
) -> None:
    backend = open_backend()
    ok(backend.sink.prepare(schema("mark_stale")))

    def full_pass(generation: str, *versions: tuple[int, int]) -> WriteOutcome:
        records = tuple(record(i, s) for i, s in versions)
        outcome = ok(backend.sink.write(Batch("mark_stale", "r", records, generation=generation)))
        ok(backend.sink.soft_delete_unseen("mark_stale", generation, T0 + timedelta(days=1)))
        return outcome

    assert full_pass("g1", (1, 10), (2, 10), (3, 10)) == WriteOutcome(written=3)
    assert full_pass("g2", (1, 10), (2, 10)) == WriteOutcome(written=2)  # 3 is deleted
    assert marks(backend, "mark_stale")[3] == (10, "g1", True)
    # An incremental run stored newer versions; the next full pass reads older ones of 1 and 3.
    assert full_pass("g3", (1, 5), (2, 11), (3, 4)) == WriteOutcome(written=1, stale=2)
    assert marks(backend, "mark_stale") == {
        1: (10, "g3", False),  # not replaced, still marked: not soft-deleted
        2: (11, "g3", False),
        3: (10, "g3", False),  # met again in an older version: live again, data kept
    }


def test_no_separate_mark_seen_when_the_upsert_replaced_every_row(
    open_backend: BackendFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = open_backend()
    ok(backend.sink.prepare(schema("mark_skip")))
    dialect = backend.db.dialect
    calls: list[list[int]] = []
    real = dialect.mark_seen

    def recording(cur: Any, spec: TableSpec, ids: Sequence[int], generation: str) -> None:
        calls.append(list(ids))
        real(cur, spec, ids, generation)

    monkeypatch.setattr(dialect, "mark_seen", recording)
    for generation, versions in [("g1", [(1, 1), (2, 1)]), ("g2", [(1, 2), (2, 0)])]:
        records = tuple(record(i, s) for i, s in versions)
        ok(backend.sink.write(Batch("mark_skip", "r", records, generation=generation)))
    assert calls == [[1, 2]]  # only the second pass met a newer stored version (of 2)
    assert {i: m[1] for i, m in marks(backend, "mark_skip").items()} == {1: "g2", 2: "g2"}


# -- property: after each full-pass batch, every row it met carries its generation and is live --

passes = st.lists(
    st.lists(st.tuples(st.integers(1, 6), st.integers(0, 9)), min_size=1, max_size=8),
    min_size=1,
    max_size=6,
)


def check_passes(backend: SqlBackend, plan: list[list[tuple[int, int]]]) -> None:
    entity = f"mark_prop_{next(_entities)}"
    ok(backend.sink.prepare(schema(entity)))
    newest: dict[int, int] = {}
    for number, versions in enumerate(plan):
        generation = f"g{number}"
        records = tuple(record(i, s) for i, s in versions)
        ok(backend.sink.write(Batch(entity, "r", records, generation=generation)))
        ok(backend.sink.soft_delete_unseen(entity, generation, T0 + timedelta(days=number)))
        for i, s in versions:
            newest[i] = max(s, newest.get(i, s))
        met = {i for i, _ in versions}
        expected = {
            i: (s, generation if i in met else None, i not in met) for i, s in newest.items()
        }
        got = {
            i: (s, g if i in met else None, d) for i, (s, g, d) in marks(backend, entity).items()
        }
        assert got == expected


@settings(max_examples=100, deadline=None)
@given(plan=passes)
def test_sqlite_full_passes_mark_every_row_they_meet(plan: list[list[tuple[int, int]]]) -> None:
    backend = ok(open_sql_backend("sqlite:///:memory:"))
    try:
        check_passes(backend, plan)
    finally:
        backend.close()


@pytest.fixture(scope="module")
def pg_backend() -> Iterator[SqlBackend]:
    with pg_schema() as url:
        backend = ok(open_sql_backend(url))
        try:
            yield backend
        finally:
            backend.close()


@pytest.mark.postgres
@settings(max_examples=60, deadline=None)
@given(plan=passes)
def test_postgres_full_passes_mark_every_row_they_meet(
    pg_backend: SqlBackend, plan: list[list[tuple[int, int]]]
) -> None:
    check_passes(pg_backend, plan)
