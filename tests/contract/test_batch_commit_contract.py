"""The ``BatchCommit`` contract, once for every way a sync commits a batch with its checkpoint:
the sink's own transaction (memory, SQLite, PostgreSQL, Oracle through the recording driver) and
the save after the sink's commit around a store kept apart (memory, file, Meltano). See
``conftest.py``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from returns.io import IOFailure, IOResult, IOSuccess
from returns.unsafe import unsafe_perform_io

from gruponos.domain.batches import Batch, Rejected, WriteOutcome
from gruponos.domain.checkpoints import Checkpoint, FullWindow, Position, StateKey, SyncMode
from gruponos.domain.records import NormalizedRecord
from support.sqlsink import T0, record, schema

from .conftest import Commits

ENTITY = "order_hdr"
INCREMENTAL = StateKey("incremental", ENTITY)
FULL = StateKey("full", ENTITY)


def ok(result: IOResult[Any, Any]) -> Any:
    assert isinstance(result, IOSuccess), result
    return unsafe_perform_io(result.unwrap())


def at(second: int) -> Any:
    return T0 + timedelta(seconds=second)


def position(second: int, rid: int) -> Checkpoint:
    return Checkpoint(SyncMode.INCREMENTAL, Position(at(second), rid))


def batch(*records: NormalizedRecord, entity: str = ENTITY, **options: Any) -> Batch:
    return Batch(entity, "run-1", records, **options)


def stored(commits: Commits, key: StateKey) -> Checkpoint | None:
    """The checkpoint as a new session of the state store reads it (durable, not cached)."""
    found: Checkpoint | None = ok(commits.reopened_state().load(key))
    return found


def test_a_commit_makes_the_batch_and_its_checkpoint_durable_together(commits: Commits) -> None:
    ok(commits.sink.prepare(schema()))
    rejected = Rejected(ENTITY, "9", '{"id": 9}', "mod_ts: not a timestamp")
    first = batch(record(1, 1), record(2, 2), rejected=(rejected,))
    assert ok(commits.commit.commit(first, INCREMENTAL, position(2, 2))) == WriteOutcome(
        written=2, quarantined=1
    )
    assert stored(commits, INCREMENTAL) == commits.kept(position(2, 2))
    later = batch(record(3, 3), record(1, 0))  # an older version of 1: stale, not written
    assert ok(commits.commit.commit(later, INCREMENTAL, position(3, 3))) == WriteOutcome(
        written=1, stale=1
    )
    assert stored(commits, INCREMENTAL) == commits.kept(position(3, 3))
    assert ok(commits.sink.snapshot(ENTITY)) == {1: at(1), 2: at(2), 3: at(3)}


def test_a_full_pass_checkpoint_commits_with_the_rows_it_marks_seen(commits: Commits) -> None:
    ok(commits.sink.prepare(schema()))
    checkpoint = Checkpoint(
        SyncMode.FULL,
        generation="gen-1",
        last_id=2,
        windows=(FullWindow(after_id=2, until_id=10),),
    )
    rows = batch(record(1, 1), record(2, 1), generation="gen-1")
    assert ok(commits.commit.commit(rows, FULL, checkpoint)) == WriteOutcome(written=2)
    assert stored(commits, FULL) == checkpoint
    assert stored(commits, INCREMENTAL) is None  # other keys untouched


def test_a_failed_commit_leaves_the_checkpoint_where_it_was(commits: Commits) -> None:
    ok(commits.sink.prepare(schema()))
    ok(commits.commit.commit(batch(record(1, 1)), INCREMENTAL, position(1, 1)))
    refused = commits.commit.commit(
        batch(record(5, 5), entity="never_prepared"), INCREMENTAL, position(5, 5)
    )
    assert isinstance(refused, IOFailure)
    assert unsafe_perform_io(refused.failure()).code == "sink.not_prepared"
    assert stored(commits, INCREMENTAL) == commits.kept(position(1, 1))  # never ahead
    assert ok(commits.sink.snapshot(ENTITY)) == {1: at(1)}
