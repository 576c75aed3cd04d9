"""The port contract suite's adapters: every implementation of a port behind one fixture.

Each test in ``tests/contract`` states a behaviour of a port (``RecordSink``, ``StateStore``,
``RunHistory``, ``QuarantineStore``, ``BatchCommit``) once and runs it against every adapter of
that port: the
in-memory fakes, SQLite, PostgreSQL (a fresh schema per test), Oracle through the recording driver
of ``support.oracle_fake``, and, for state, the file store and the Meltano store (over a stand-in
``meltano`` CLI, ``support.meltano_fake``). A fake that passes the suite behaves like the real
adapters as far as the ports can tell.

The recording driver executes only the statements it models (see ``support.oracle_fake``): an
Oracle test of a behaviour it does not model is skipped, naming what is missing (``GAPS``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.memory import (
    InMemoryDatabase,
    InMemoryRunHistory,
    InMemorySink,
    InMemorySinkState,
    InMemoryStateStore,
)
from gruponos.adapters.memory.quarantine import InMemoryQuarantine
from gruponos.adapters.sql import SqlBackend, open_sql_backend
from gruponos.adapters.state import FileStateStore
from gruponos.adapters.state.meltano import MeltanoStateStore
from gruponos.application.commit import SaveAfterCommit
from gruponos.application.ports import (
    BatchCommit,
    QuarantineStore,
    RecordSink,
    RunHistory,
    StateStore,
)
from gruponos.domain.checkpoints import Checkpoint, Position, SyncMode
from support.meltano_fake import FakeMeltano
from support.oracle_fake import FakeOracle, oracle_dialect
from support.sqlsink import T0, pg_schema

#: What the Oracle recording driver does not execute, by behaviour (it answers with no rows).
GAPS = {
    "soft delete": "the recording driver does not execute the soft delete's UPDATE",
    "existing ids": "the recording driver answers no SELECT of ids by IN-list",
    "reset": "the recording driver does not execute DELETE FROM GNOS_STATE",
    "run history": "the recording driver does not model GNOS_RUNS",
    "quarantine store": 'the recording driver does not model SELECT "SEQ" ... or DELETE of quarantine rows',
}


class Clock:
    """A settable clock for the sink's load times (``GNOS_LOADED_AT``)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Sinks:
    """One adapter family: its record sink, in-sink state store, run history and quarantine,
    sharing one storage, and the sink's own commit of a batch with its checkpoint; ``second``
    opens another session on the same storage."""

    name: str
    sink: RecordSink
    state: StateStore
    runs: RunHistory
    quarantine: QuarantineStore
    clock: Clock
    second: Callable[[], Sinks]
    commit: BatchCommit
    gaps: dict[str, str] = field(default_factory=dict)

    def needs(self, behaviour: str) -> None:
        """Skip, saying why, when this adapter cannot show ``behaviour``."""
        if behaviour in self.gaps:
            pytest.skip(f"{self.name}: {self.gaps[behaviour]}")


def _memory(db: InMemoryDatabase, clock: Clock) -> Sinks:
    sink = InMemorySink(db, clock=clock)
    return Sinks(
        "memory",
        sink,
        InMemorySinkState(db),
        InMemoryRunHistory(db),
        InMemoryQuarantine(db),
        clock,
        lambda: _memory(db, clock),
        commit=sink,
    )


def _sql(name: str, backend: SqlBackend, clock: Clock, second: Callable[[], Sinks]) -> Sinks:
    gaps = GAPS if name == "oracle-recording" else {}
    return Sinks(
        name,
        backend.sink,
        backend.state,
        backend.runs,
        backend.quarantine,
        clock,
        second,
        commit=backend.sink,
        gaps=gaps,
    )


SINKS = [
    "memory",
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    "oracle-recording",
]


@contextmanager
def open_sinks(kind: str, tmp_path: Path) -> Iterator[Sinks]:
    """The adapter family ``kind`` on fresh storage, closed afterwards."""
    clock = Clock()
    opened: list[SqlBackend] = []

    def on_url(name: str, url: str) -> Sinks:
        backend = unsafe_perform_io(open_sql_backend(url, clock=clock).unwrap())
        opened.append(backend)
        return _sql(name, backend, clock, lambda: on_url(name, url))

    def on_server(server: FakeOracle) -> Sinks:
        dialect = oracle_dialect(server)
        backend = SqlBackend(dialect, dialect.connect(), where="oracle recording", clock=clock)
        opened.append(backend)
        return _sql("oracle-recording", backend, clock, lambda: on_server(server))

    def close_all() -> None:
        for backend in opened:
            backend.close()

    with ExitStack() as stack:
        stack.callback(close_all)
        if kind == "memory":
            yield _memory(InMemoryDatabase(), clock)
        elif kind == "sqlite":
            yield on_url("sqlite", f"sqlite:///{tmp_path / 'contract.db'}")
        elif kind == "postgres":
            url = stack.enter_context(pg_schema())
            yield on_url("postgres", url)
        else:
            yield on_server(FakeOracle())


@pytest.fixture(params=SINKS)
def sinks(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Sinks]:
    with open_sinks(request.param, tmp_path) as made:
        yield made


@dataclass
class States:
    """A state store and a way to open a second one on the same storage."""

    name: str
    store: StateStore
    second: Callable[[], StateStore]
    #: A checkpoint as this store gives it back (the Singer bookmark keeps only ``mod_ts``).
    kept: Callable[[Checkpoint], Checkpoint] = lambda checkpoint: checkpoint
    gaps: dict[str, str] = field(default_factory=dict)

    def needs(self, behaviour: str) -> None:
        if behaviour in self.gaps:
            pytest.skip(f"{self.name}: {self.gaps[behaviour]}")


STATES = [
    "memory",
    "memory-in-sink",
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    "oracle-recording",
    "file",
    "meltano",
]


def _bookmark_only(checkpoint: Checkpoint) -> Checkpoint:
    """An incremental checkpoint as a Singer bookmark keeps it: its ``mod_ts`` only (resuming
    from id 0 at that instant re-reads a few rows, which the monotonic upsert absorbs)."""
    if checkpoint.mode is SyncMode.FULL or checkpoint.position is None:
        return checkpoint
    return Checkpoint(SyncMode.INCREMENTAL, position=Position(checkpoint.position.mod_ts, 0))


@pytest.fixture(params=STATES)
def states(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[States]:
    kind = request.param
    if kind == "memory":
        shared = InMemoryStateStore()  # a dict: every "session" is this one store
        yield States(kind, shared, lambda: shared)
    elif kind in SEPARATE_STATES:
        store = SEPARATE_STATES[kind](tmp_path)
        yield States(kind, store(), store, kept=_bookmark_only if kind == "meltano" else _same)
    else:
        with open_sinks(kind.removesuffix("-in-sink"), tmp_path) as made:
            yield States(kind, made.state, lambda: made.second().state, gaps=made.gaps)


def _same(checkpoint: Checkpoint) -> Checkpoint:
    return checkpoint


def _file_store(tmp_path: Path) -> Callable[[], StateStore]:
    path = tmp_path / "state" / "gruponos-state.json"
    return lambda: FileStateStore(path)


def _meltano_store(tmp_path: Path) -> Callable[[], StateStore]:
    fake = FakeMeltano()
    state_id = "dev:tap-gruponos-incremental-to-target-gruponos-local"
    return lambda: MeltanoStateStore(tmp_path, state_id, runner=fake)


#: The state stores kept apart from the sink: a new session (store) on the same storage each call.
SEPARATE_STATES: dict[str, Callable[[Path], Callable[[], StateStore]]] = {
    "file": _file_store,
    "meltano": _meltano_store,
}


@dataclass
class Commits:
    """A :class:`BatchCommit` with the sink it writes to and the state store its checkpoints
    are read back from (a new session on the same storage)."""

    name: str
    commit: BatchCommit
    sink: RecordSink
    reopened_state: Callable[[], StateStore]
    kept: Callable[[Checkpoint], Checkpoint] = _same


#: The sink's own commit on every sink, and the save-after-commit around a sink and a store kept
#: apart (as the container wires the file and Meltano stores).
COMMITS = [
    "memory",
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    "oracle-recording",
    "memory+memory-state",
    "sqlite+file",
    "memory+meltano",
]


@pytest.fixture(params=COMMITS)
def commits(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Commits]:
    kind: str = request.param
    sink_kind, _, state_kind = kind.partition("+")
    with open_sinks(sink_kind, tmp_path) as made:
        if not state_kind:
            yield Commits(kind, made.commit, made.sink, lambda: made.second().state)
        elif state_kind == "memory-state":
            shared = InMemoryStateStore()
            yield Commits(kind, SaveAfterCommit(made.sink, shared), made.sink, lambda: shared)
        else:
            store = SEPARATE_STATES[state_kind](tmp_path)
            kept = _bookmark_only if state_kind == "meltano" else _same
            yield Commits(kind, SaveAfterCommit(made.sink, store()), made.sink, store, kept)
