"""Runs found dead are marked abandoned by the next run; live ones are left alone."""

from __future__ import annotations

from returns.pipeline import is_successful

from gruponos.adapters.memory import InMemoryRunHistory, InMemoryWms
from gruponos.application.abandoned import hold_run, run_lock_key
from gruponos.application.sync import SyncOptions
from gruponos.domain.checkpoints import SyncMode
from gruponos.domain.runs import EntityReport, RunStatus, SyncReport
from support.fakes import world
from support.records import allocation, allocation_schema


def _wms() -> InMemoryWms:
    wms = InMemoryWms({"allocation": allocation_schema()}, page_size=5)
    for i in range(1, 8):
        wms.insert(
            "allocation", i, **{k: v for k, v in allocation(i).items() if k not in ("id", "mod_ts")}
        )
    return wms


def _running(run_id: str, w_now: object) -> SyncReport:
    return SyncReport(
        run_id,
        SyncMode.FULL,
        w_now,  # type: ignore[arg-type]
        entities=(
            EntityReport("allocation", SyncMode.FULL, status=RunStatus.SUCCEEDED),
            EntityReport("order_hdr", SyncMode.FULL, status=RunStatus.RUNNING),
        ),
    )


def test_a_run_marks_dead_runs_abandoned_and_leaves_live_ones() -> None:
    w = world(_wms())
    history = InMemoryRunHistory(w.db)
    started = w.clock.now()
    for run_id in ("dead-1", "alive-1"):
        history.record(_running(run_id, started))
    alive = hold_run(w.state, "alive-1")  # that process still holds its lock
    assert is_successful(alive)

    result = w.use_case(SyncOptions(batch_size=3)).run(SyncMode.FULL, ["allocation"])
    assert is_successful(result)

    dead = w.db.runs["dead-1"]
    assert dead.status is RunStatus.ABANDONED
    assert dead.finished_at == w.clock.now()
    assert dead.error is not None and "run-1" in dead.error
    assert [e.status for e in dead.entities] == [RunStatus.SUCCEEDED, RunStatus.ABANDONED]
    assert w.db.runs["alive-1"].status is RunStatus.RUNNING
    assert w.db.runs["run-1"].status is RunStatus.SUCCEEDED
    warnings = [e.data["message"] for e in w.observer.events if e.kind == "warning"]
    assert warnings == ["run dead-1 was abandoned"]
    # the finished run let go of its own lock: nobody holds it now
    assert is_successful(w.state.lock(run_lock_key("run-1"), "someone"))


def test_a_running_run_holds_its_own_lock_and_is_not_abandoned_by_another() -> None:
    w = world(_wms())
    seen: list[bool] = []

    class Probe:
        def on_event(self, event: object) -> None:
            if getattr(event, "kind", "") == "page_read" and not seen:
                seen.append(is_successful(w.state.lock(run_lock_key("run-1"), "other")))

    w.observer = Probe()  # type: ignore[assignment]
    assert is_successful(w.use_case(SyncOptions(batch_size=3)).run(SyncMode.FULL, ["allocation"]))
    assert seen == [False]


def test_a_dry_run_neither_holds_a_lock_nor_marks_anything() -> None:
    w = world(_wms())
    history = InMemoryRunHistory(w.db)
    history.record(_running("dead-1", w.clock.now()))
    options = SyncOptions(batch_size=3, dry_run=True)
    assert is_successful(w.use_case(options).run(SyncMode.FULL, ["allocation"]))
    assert w.db.runs["dead-1"].status is RunStatus.RUNNING
