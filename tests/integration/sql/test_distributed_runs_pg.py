"""Distributed runs on the real PostgreSQL: lease contention between sessions, and a whole run
executed in-process by worker threads (each with its own database session and HTTP client) over
the simulator, with a worker killed mid-window, a duplicate delivery and a reaper."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from typing import Any, cast

import pytest
from returns.io import IOResult
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.clock import SystemClock
from gruponos.adapters.sql import SqlBackend, open_sql_backend
from gruponos.adapters.sql.core import SqlSink
from gruponos.adapters.sql.plans import SqlRunPlans
from gruponos.adapters.wms_http import HttpxWmsSource, WmsClientConfig
from gruponos.adapters.wms_http.config import BasicAuthConfig
from gruponos.application.errors import PortError
from gruponos.application.ports import RunRequest, TaskCommit
from gruponos.application.scaleout import (
    DistributedOptions,
    DistributedRuns,
    Task,
    TaskOutcome,
    TaskResult,
)
from gruponos.application.sync import SyncOptions
from gruponos.domain.batches import Batch, WriteOutcome
from gruponos.domain.checkpoints import SyncMode
from gruponos.domain.runs import RunStatus, SyncReport
from gruponos.domain.scaleout import RunPlan, TaskCounts, TaskState
from gruponos.simulator import SimulatorConfig, WmsSimulator
from support.distributed import Killed, ok
from support.sqlsink import T0, query, record, schema

pytestmark = pytest.mark.postgres

LEASE = timedelta(seconds=60)
WAIT = 60.0


@pytest.fixture
def backends(pg_url: str) -> Iterator[Any]:
    """``backends()`` opens one more session on the test's schema (closed afterwards)."""
    opened: list[SqlBackend] = []

    def open_one() -> SqlBackend:
        backend = unsafe_perform_io(open_sql_backend(pg_url).unwrap())
        opened.append(backend)
        return backend

    yield open_one
    for backend in opened:
        backend.close()


def test_two_sessions_racing_for_one_lease_never_both_get_it(backends: Any) -> None:
    sessions = [backends(), backends()]
    for backend in sessions:
        ok(backend.sink.prepare(schema()))
    stores = [SqlRunPlans(b.sink) for b in sessions]
    plan = RunPlan("run-1", SyncMode.FULL, ("order_hdr",), T0)
    ok(stores[0].create(plan, [TaskState("run-1", "order_hdr", 0, "window", lease_until=T0)]))
    rounds = 40
    barrier = threading.Barrier(2)
    wins: list[list[int]] = [[], []]

    def race(me: int) -> None:
        store = stores[me]
        for n in range(rounds):
            barrier.wait(WAIT)
            now = T0 + timedelta(seconds=n)
            taken = cast(
                "TaskState | None",
                ok(store.claim("run-1", "order_hdr", 0, f"w{me}", now, now + LEASE)),
            )
            barrier.wait(WAIT)  # both have tried before the winner lets go
            if taken is not None:
                wins[me].append(n)
                # the winner commits a batch under its lease, then lets go for the next round
                batch = Batch("order_hdr", "run-1", (record(n + 1, n),), generation="run-1")
                progress = TaskCommit(read=1, lease_until=now + LEASE, last_id=n + 1)
                ok(store.commit(batch, taken, f"w{me}", progress))
                ok(store.release(taken, f"w{me}", TaskCounts()))
            barrier.wait(WAIT)

    threads = [threading.Thread(target=race, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert sorted(wins[0] + wins[1]) == list(range(rounds))  # one winner per round, never two
    row = cast("tuple[TaskState, ...]", ok(stores[0].tasks("run-1")))[0]
    assert (row.counts.read, row.counts.batches, row.attempts, row.last_id) == (
        rounds,
        rounds,
        rounds,
        rounds,
    )


def test_a_zombie_session_commits_nothing_once_its_lease_was_taken_over(backends: Any) -> None:
    old, new = backends(), backends()
    for backend in (old, new):
        ok(backend.sink.prepare(schema()))
    plans_old, plans_new = SqlRunPlans(old.sink), SqlRunPlans(new.sink)
    plan = RunPlan("run-1", SyncMode.FULL, ("order_hdr",), T0)
    ok(plans_old.create(plan, [TaskState("run-1", "order_hdr", 0, "window", lease_until=T0)]))
    zombie = cast("TaskState", ok(plans_old.claim("run-1", "order_hdr", 0, "old", T0, T0 + LEASE)))
    later = T0 + 2 * LEASE
    ok(plans_new.claim("run-1", "order_hdr", 0, "new", later, later + LEASE))
    batch = Batch("order_hdr", "run-1", (record(1, 1),), generation="run-1")
    late = plans_old.commit(batch, zombie, "old", TaskCommit(1, later, last_id=1))
    assert not is_successful(late)
    assert query(new, 'SELECT COUNT(*) FROM "WMS_ORDER_HDR"') == [(0,)]


# -- a whole run, workers as threads ---------------------------------------------------------


class _KillingPlans(SqlRunPlans):
    """Kills its worker (raises) at the commit after ``commits`` of them."""

    def __init__(self, sink: SqlSink, commits: int) -> None:
        super().__init__(sink)
        self.left = commits

    def commit(
        self, batch: Batch, task: TaskState, owner: str, progress: TaskCommit
    ) -> IOResult[WriteOutcome, PortError]:
        if self.left == 0:
            raise Killed(owner)
        self.left -= 1
        return super().commit(batch, task, owner, progress)


def _model(
    sim: WmsSimulator, backend: SqlBackend, stack: ExitStack, plans: SqlRunPlans | None = None
) -> DistributedRuns:
    config = WmsClientConfig(
        base_url=sim.base_url,
        auth=BasicAuthConfig(sim.config.username, sim.config.password),
        page_size=100,
    )
    source = stack.enter_context(HttpxWmsSource(config, sleep=lambda _: None))
    return DistributedRuns(
        source,
        backend.sink,
        backend.state,
        backend.runs,
        plans or SqlRunPlans(backend.sink),
        SystemClock(),
        SyncOptions(batch_size=250, prefetch_pages=2),
        DistributedOptions(window_ids=300, lease_seconds=2.0),
    )


def test_a_distributed_run_by_worker_threads_equals_the_source(backends: Any) -> None:
    records = 2000
    config = SimulatorConfig(records=records, entity_records={"allocation": records})
    with WmsSimulator(config) as sim, ExitStack() as stack:
        main = backends()
        coordinator = _model(sim, main, stack)
        tasks = cast(
            "tuple[Task, ...]",
            ok(coordinator.plan(RunRequest("run-1", SyncMode.FULL, ("allocation",)))),
        )
        assert len(tasks) >= 4
        broker: queue.Queue[Task] = queue.Queue()
        for task in (*tasks, tasks[0]):  # the first one delivered twice
            broker.put(task)
        outcomes: list[TaskOutcome] = []
        reports: list[SyncReport] = []
        done = threading.Event()

        def work(model: DistributedRuns, owner: str) -> None:
            while not done.is_set():
                try:
                    task = broker.get(timeout=0.05)
                except queue.Empty:
                    continue
                try:
                    outcome = cast("TaskOutcome", ok(model.execute(task, owner)))
                except Killed:
                    return  # this worker is gone; its task waits for the reaper
                outcomes.append(outcome)
                if outcome.requeue:
                    broker.put(task)
                finished = cast("SyncReport | None", ok(model.finalise("run-1")))
                if finished is not None:
                    reports.append(finished)
                    done.set()

        # The doomed worker takes the first task and dies at its second commit, holding the
        # lease; the others start once it is gone.
        doomed = backends()
        killer = _KillingPlans(doomed.sink, 1)
        first = threading.Thread(target=work, args=(_model(sim, doomed, stack, killer), "doomed"))
        first.start()
        first.join(WAIT)
        assert killer.left == 0 and not first.is_alive()
        workers = [
            threading.Thread(target=work, args=(_model(sim, backends(), stack), f"w{i}"))
            for i in range(3)
        ]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + WAIT
        reaped: list[Task] = []
        while not done.wait(0.5):  # the reaper: re-enqueue what a dead worker left behind
            assert time.monotonic() < deadline, outcomes
            stale = cast("tuple[Task, ...]", ok(coordinator.stale(SystemClock().now())))
            for task in stale:
                reaped.append(task)
                broker.put(task)
        done.set()
        for worker in workers:
            worker.join(WAIT)
        (report,) = reports
        assert tasks[0] in reaped  # the killed worker's window came back through the reaper
        count = 'SELECT COUNT(*), COUNT(DISTINCT "ID") FROM "WMS_ALLOCATION" WHERE "GNOS_DELETED_AT" IS NULL'
        rows = query(main, count)
        # A duplicate delivery after the end: nothing is done, nothing written.
        loaded = 'SELECT MAX("GNOS_LOADED_AT"), COUNT(*) FROM "WMS_ALLOCATION"'
        before = query(main, loaded)
        again = cast("TaskOutcome", ok(coordinator.execute(tasks[0], "late")))
        assert again.result is TaskResult.ALREADY_DONE and again.records == 0
        assert query(main, loaded) == before
        entity = report.entities[0]
    assert report.status is RunStatus.SUCCEEDED
    assert rows == [(records, records)]
    assert (entity.read, entity.written, entity.stale) == (records, records, 0)
