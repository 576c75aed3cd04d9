"""Distributed full runs on the SQL sinks (SQLite, PostgreSQL): repeated runs never duplicate,
and the finaliser soft-deletes exactly what the source lost, whichever window held it."""

from __future__ import annotations

from typing import Any, cast

from gruponos.adapters.clock import SystemClock
from gruponos.adapters.sql import SqlBackend
from gruponos.adapters.sql.plans import SqlRunPlans
from gruponos.application.ports import RunRequest
from gruponos.application.scaleout import (
    DistributedOptions,
    DistributedRuns,
    Task,
    TaskOutcome,
    TaskResult,
)
from gruponos.application.sync import SyncOptions
from gruponos.domain.checkpoints import Checkpoint, StateKey, SyncMode
from gruponos.domain.runs import RunStatus, SyncReport
from support.distributed import ok, source
from support.sqlsink import BackendFactory, query


def _run(model: DistributedRuns, run_id: str) -> SyncReport:
    for task in cast(
        "tuple[Task, ...]", ok(model.plan(RunRequest(run_id, SyncMode.FULL, ("allocation",))))
    ):
        assert cast("TaskOutcome", ok(model.execute(task, "w1"))).result is TaskResult.DONE
    report = cast("SyncReport | None", ok(model.finalise(run_id)))
    assert report is not None
    return report


def _live(backend: SqlBackend) -> set[Any]:
    rows = query(backend, 'SELECT "ID" FROM "WMS_ALLOCATION" WHERE "GNOS_DELETED_AT" IS NULL')
    return {int(r[0]) for r in rows}


def test_repeated_distributed_runs_soft_delete_what_disappeared(
    open_backend: BackendFactory,
) -> None:
    wms = source(60, page_size=7)
    backend = open_backend()
    model = DistributedRuns(
        wms,
        backend.sink,
        backend.state,
        backend.runs,
        SqlRunPlans(backend.sink),
        SystemClock(),
        SyncOptions(batch_size=5, prefetch_pages=0, write_behind=False),
        DistributedOptions(window_ids=15, lease_seconds=60),
    )
    first = _run(model, "run-1")
    assert first.status is RunStatus.SUCCEEDED and first.entities[0].written == 60
    for rid in (2, 31, 59):  # three windows
        wms.delete("allocation", rid)
    second = _run(model, "run-2")
    assert second.entities[0].deleted == 3
    assert _live(backend) == set(wms.truth("allocation"))
    assert query(backend, 'SELECT COUNT(*) FROM "WMS_ALLOCATION"') == [(60,)]  # never duplicated
    stored = cast("SyncReport", ok(backend.runs.get_run("run-2")))
    assert stored.to_json() == second.to_json()  # recorded as returned (seconds rounded)
    full = cast("Checkpoint", ok(backend.state.load(StateKey("full", "allocation"))))
    assert full.complete and full.generation == "run-2"
