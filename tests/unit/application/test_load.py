"""The load behind target-gruponos, through the in-memory sink: batches, rejects, states."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from returns.io import IOResult, IOSuccess
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.memory import InMemoryDatabase, InMemorySink, ManualClock
from gruponos.application.errors import SinkError
from gruponos.application.load import LoadOptions, LoadStreams, TargetReport
from gruponos.domain.schema import FieldType, SourceField, build_schema
from support.records import allocation, allocation_schema


@dataclass
class RecordingStates:
    """Implements ``CommittedStates``: each state with what the sink held when it went out."""

    db: InMemoryDatabase
    emitted: list[tuple[Mapping[str, Any], set[int]]] = field(default_factory=list)

    def emit(self, state: Mapping[str, Any]) -> IOResult[None, SinkError]:
        committed = set(self.db.tables.get("allocation", {}))
        committed |= {int(r.record_id or 0) for _, r in self.db.quarantine}
        self.emitted.append((state, committed))
        return IOSuccess(None)


def _load(
    db: InMemoryDatabase, *, batch_size: int = 3, fail_on_write: int | None = None, **options: Any
) -> tuple[LoadStreams, RecordingStates]:
    states = RecordingStates(db)
    load = LoadStreams(
        InMemorySink(db, fail_on_write=fail_on_write),
        states,
        ManualClock(datetime(2030, 1, 1, tzinfo=UTC)),
        LoadOptions(run_id="load-1", batch_size=batch_size, forwarded_stream="_fwd", **options),
    )
    unsafe_perform_io(load.declare("allocation", allocation_schema()).unwrap())
    return load, states


def _ts(second: int) -> str:
    return (datetime(2020, 11, 20, 11, tzinfo=UTC) + timedelta(seconds=second)).isoformat()


def _record(load: LoadStreams, record_id: int, **fields: Any) -> IOResult[None, Any]:
    raw = allocation(record_id, _ts(record_id), **fields)
    return load.record("allocation", raw, lambda: json.dumps(raw, sort_keys=True))


def _finish(load: LoadStreams) -> TargetReport:
    return unsafe_perform_io(load.finish().unwrap())


def test_batches_commit_every_batch_size_and_states_follow_the_commits() -> None:
    db = InMemoryDatabase()
    load, states = _load(db, batch_size=3)
    unsafe_perform_io(load.state({"n": 0}).unwrap())  # nothing buffered: out at once
    for i in (1, 2):
        _record(load, i)
    load.state({"n": 2})
    assert [s for s, _ in states.emitted] == [{"n": 0}]  # 1 and 2 are not committed yet
    _record(load, 3)  # the third fills the batch: written, then the state goes out
    assert states.emitted[-1] == ({"n": 2}, {1, 2, 3})
    _record(load, 4)
    load.state({"n": 4})
    report = _finish(load)
    assert states.emitted[-1] == ({"n": 4}, {1, 2, 3, 4})
    (totals,) = report.streams
    assert (totals.received, totals.written, totals.batches) == (4, 4, 2)
    assert report.states_emitted == 3


def test_invalid_records_are_quarantined_and_count_towards_the_ratio() -> None:
    db = InMemoryDatabase()
    load, _ = _load(db)
    _record(load, 1)
    _record(load, 2, alloc_qty="lots")
    report = _finish(load)
    ((run_id, rejected),) = db.quarantine
    assert (run_id, rejected.record_id) == ("load-1", "2")
    assert json.loads(rejected.payload)["alloc_qty"] == "lots"
    assert "alloc_qty" in rejected.reason
    assert report.reject_ratio == 0.5


def test_forwarded_rejects_land_in_their_stream_but_not_in_the_ratio() -> None:
    db = InMemoryDatabase()
    load, _ = _load(db)
    load.accept_forwarded()
    _record(load, 1)
    unsafe_perform_io(load.forward("allocation", "7", "upstream said no", '{"id": 7}').unwrap())
    report = _finish(load)
    assert [(r.entity, r.record_id, r.reason) for _, r in db.quarantine] == [
        ("allocation", "7", "upstream said no")
    ]
    assert report.reject_ratio == 0.0
    totals = {s.stream: s for s in report.streams}
    assert (totals["allocation"].quarantined, totals["_fwd"].quarantined) == (0, 1)
    assert totals["_fwd"].received == 1
    assert report.to_json()["streams"]["_fwd"]["quarantined"] == 1


def test_a_new_schema_writes_what_was_buffered_under_the_old_one_first() -> None:
    db = InMemoryDatabase()
    load, _ = _load(db, batch_size=100)
    _record(load, 1)
    wider = build_schema(
        "allocation", [*allocation_schema().fields, SourceField("extra_txt", FieldType.VARCHAR)]
    ).unwrap()
    unsafe_perform_io(load.declare("allocation", wider).unwrap())
    assert set(db.tables["allocation"]) == {1}
    assert db.schemas["allocation"] == wider
    unsafe_perform_io(load.declare("allocation", wider).unwrap())  # same schema: nothing to do
    assert db.commits == 1


def test_overwrite_soft_deletes_what_the_load_did_not_receive() -> None:
    db = InMemoryDatabase()
    first, _ = _load(db)
    for i in (1, 2, 3):
        _record(first, i)
    _finish(first)
    load, _ = _load(db, overwrite=True)
    _record(load, 2)
    report = _finish(load)
    assert sorted(db.live("allocation")) == [2]
    assert report.streams[0].deleted == 2


def test_a_failed_write_stops_and_its_state_never_goes_out() -> None:
    db = InMemoryDatabase()
    load, states = _load(db, batch_size=2, fail_on_write=1)
    _record(load, 1)
    load.state({"n": 1})
    failed = _record(load, 2)
    assert unsafe_perform_io(failed.failure()).code == "sink.write_failed"
    assert states.emitted == []


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.one_of(st.integers(1, 30), st.just("state"), st.just("bad"))),
    batch_size=st.integers(1, 6),
)
def test_every_state_goes_out_after_the_records_before_it_are_committed(
    steps: list[int | str], batch_size: int
) -> None:
    db = InMemoryDatabase()
    load, states = _load(db, batch_size=batch_size)
    received: set[int] = set()
    expected: list[set[int]] = []
    bad_ids = iter(range(1000, 2000))
    for step in steps:
        if step == "state":
            expected.append(set(received))
            unsafe_perform_io(load.state({"n": len(expected)}).unwrap())
        elif step == "bad":
            bad = next(bad_ids)
            received.add(bad)
            unsafe_perform_io(_record(load, bad, alloc_qty="lots").unwrap())
        else:
            assert isinstance(step, int)
            received.add(step)
            unsafe_perform_io(_record(load, step).unwrap())
    _finish(load)
    # A state waiting for a commit is replaced by a newer one; the last always goes out.
    numbers = [s["n"] for s, _ in states.emitted]
    assert numbers == sorted(set(numbers))
    assert numbers[-1:] == ([len(expected)] if expected else [])
    for state, committed in states.emitted:
        assert expected[state["n"] - 1] <= committed
    assert set(db.tables["allocation"]) | {int(r.record_id or 0) for _, r in db.quarantine} == (
        received
    )
