"""The ``RunHistory`` contract, once for every adapter: see ``conftest.py``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from returns.io import IOResult, IOSuccess
from returns.unsafe import unsafe_perform_io

from gruponos.application.ports import RunQuery
from gruponos.domain.checkpoints import Checkpoint, Position, SyncMode
from gruponos.domain.runs import EntityReport, RunStatus, SyncReport
from support.sqlsink import T0

from .conftest import Sinks


def ok(result: IOResult[Any, Any]) -> Any:
    assert isinstance(result, IOSuccess), result
    return unsafe_perform_io(result.unwrap())


def at(second: int) -> Any:
    return T0 + timedelta(seconds=second)


def test_run_history_records_updates_and_lists_newest_first(sinks: Sinks) -> None:
    sinks.needs("run history")
    runs = sinks.runs
    assert ok(runs.get_run("nope")) is None
    assert ok(runs.list_runs(5)) == ()
    started = SyncReport("run-a", SyncMode.FULL, at(1))
    ok(runs.record(started))
    assert ok(runs.get_run("run-a")) == started
    entity = EntityReport(
        "order_hdr",
        SyncMode.INCREMENTAL,
        read=7,
        written=5,
        stale=1,
        quarantined=1,
        pages=2,
        batches=2,
        seconds=1.5,
        status=RunStatus.SUCCEEDED,
        checkpoint=Checkpoint(SyncMode.INCREMENTAL, Position(at(1), 7)),
    )
    failed = EntityReport("allocation", SyncMode.FULL, status=RunStatus.FAILED, error="boom")
    done = started.settled((entity, failed), at(9))
    ok(runs.record(done))  # the same run again: updated, not added
    assert ok(runs.get_run("run-a")) == done
    assert ok(runs.list_runs(5)) == (done,)
    ok(runs.record(SyncReport("run-b", SyncMode.INCREMENTAL, at(5))))
    ok(runs.record(SyncReport("run-c", SyncMode.INCREMENTAL, at(5), status=RunStatus.FAILED)))
    # newest first; among equal starts, the greater run id first
    assert [r.run_id for r in ok(runs.list_runs(10))] == ["run-c", "run-b", "run-a"]
    assert [r.run_id for r in ok(runs.list_runs(2))] == ["run-c", "run-b"]


def test_running_lists_the_runs_recorded_as_running(sinks: Sinks) -> None:
    sinks.needs("run history")
    runs = sinks.runs
    assert ok(runs.running()) == ()
    alive = SyncReport("run-a", SyncMode.FULL, at(1))  # a new run is recorded running
    assert alive.status is RunStatus.RUNNING
    ok(runs.record(alive))
    ok(runs.record(SyncReport("run-b", SyncMode.INCREMENTAL, at(2))))
    ok(runs.record(SyncReport("run-c", SyncMode.INCREMENTAL, at(3), status=RunStatus.FAILED)))
    assert sorted(r.run_id for r in ok(runs.running())) == ["run-a", "run-b"]
    ok(runs.record(alive.settled((), at(4))))  # run-a ends
    ok(runs.record(SyncReport("run-b", SyncMode.INCREMENTAL, at(2), status=RunStatus.ABANDONED)))
    assert ok(runs.running()) == ()


def test_find_runs_filters_and_pages_by_cursor(sinks: Sinks) -> None:
    sinks.needs("run history")
    runs = sinks.runs
    recorded = [
        SyncReport("run-1", SyncMode.FULL, at(1), status=RunStatus.SUCCEEDED, triggered_by="x"),
        SyncReport("run-2", SyncMode.INCREMENTAL, at(2), status=RunStatus.FAILED),
        SyncReport("run-3", SyncMode.INCREMENTAL, at(3), status=RunStatus.SUCCEEDED),
        SyncReport("run-4", SyncMode.INCREMENTAL, at(3), status=RunStatus.SUCCEEDED),
        SyncReport("run-5", SyncMode.FULL, at(4), status=RunStatus.CANCELLED),
    ]
    for report in recorded:
        ok(runs.record(report))
    assert ok(runs.get_run("run-1")).triggered_by == "x"

    def ids(**query: Any) -> list[str]:
        return [r.run_id for r in ok(runs.find_runs(RunQuery(**query)))]

    assert ids() == ["run-5", "run-4", "run-3", "run-2", "run-1"]
    assert ids(mode=SyncMode.FULL) == ["run-5", "run-1"]
    assert ids(status=RunStatus.SUCCEEDED) == ["run-4", "run-3", "run-1"]
    assert ids(mode=SyncMode.INCREMENTAL, status=RunStatus.SUCCEEDED, limit=1) == ["run-4"]
    # the cursor is the last run of a page: ties on started_at are broken by the run id
    assert ids(after=(at(3), "run-4"), limit=2) == ["run-3", "run-2"]
    assert ids(after=(at(3), "run-3"), status=RunStatus.SUCCEEDED) == ["run-1"]
    assert ids(after=(at(1), "run-1")) == []
    pages: list[str] = []
    after = None
    while True:
        page = ok(runs.find_runs(RunQuery(limit=2, after=after)))
        if not page:
            break
        pages += [r.run_id for r in page]
        after = (page[-1].started_at, page[-1].run_id)
    assert pages == ids()
