"""Distributed runs under any interleaving of workers: task executions started at any time
(duplicate deliveries included), their batches committed in any order, workers killed mid-window
or stopped (SIGTERM), leases expiring under live workers. Each worker is a thread whose every
commit waits for the generated schedule's permission, so the interleaving is the schedule's,
not the machine's.

- after the schedule and a drain (every task executed until done), the sink equals the source:
  nothing lost, nothing invented, and every record read and written exactly once: no window
  was written by two workers, a zombie's late batch never landed, no crashed batch counted;
- a live lease is never taken: a worker loses its lease only after it expired;
- after every step, no task's committed position is ahead of the committed data: every source
  id a window covers up to its ``last_id`` is in the sink.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import cast

from hypothesis import given, settings
from hypothesis import strategies as st
from returns.io import IOResult

from gruponos.adapters.memory import InMemorySink
from gruponos.application.errors import PortError
from gruponos.application.lifecycle import StopSignal
from gruponos.application.ports import RunRequest, TaskCommit
from gruponos.application.scaleout import Task, TaskOutcome, TaskResult
from gruponos.domain.batches import Batch, WriteOutcome
from gruponos.domain.checkpoints import SyncMode
from gruponos.domain.runs import RunStatus, SyncReport
from gruponos.domain.scaleout import TaskState
from support.distributed import LEASE, Cluster, CrashingPlans, Killed, cluster, ok, source

REQUEST = RunRequest("run-1", SyncMode.FULL, ("allocation",))
WAIT = 10.0  # seconds a step may take before the test fails (a deadlock, not a slow machine)


@dataclass
class _Worker:
    owner: str
    stop: StopSignal = field(default_factory=StopSignal)
    permits: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    waiting: threading.Event = field(default_factory=threading.Event)
    kill: bool = False
    commits: int = 0
    thread: threading.Thread | None = None
    outcome: TaskOutcome | None = None
    expiries: int = 0  # leases expired before it started


class GatedPlans(CrashingPlans):
    """Each worker's commit waits for a permit from the schedule (or dies when told to)."""

    def __init__(self, sink: InMemorySink) -> None:
        super().__init__(sink)
        self.workers: dict[str, _Worker] = {}
        self.open_gates = False

    def commit(
        self, batch: Batch, task: TaskState, owner: str, progress: TaskCommit
    ) -> IOResult[WriteOutcome, PortError]:
        worker = self.workers.get(owner)
        if worker is not None and not self.open_gates:
            worker.waiting.set()
            worker.permits.acquire()
            worker.waiting.clear()
            if worker.kill:
                raise Killed(owner)
        try:
            return super().commit(batch, task, owner, progress)
        finally:
            if worker is not None:
                worker.commits += 1


def _gated_cluster(n: int, page_size: int, window_ids: int, batch_size: int) -> Cluster:
    wms = source(n, page_size=page_size)
    return cluster(wms, window_ids=window_ids, batch_size=batch_size, plans_of=GatedPlans)


def _settle(worker: _Worker) -> None:
    """Wait until the worker waits at its next commit, or has ended."""
    deadline = time.monotonic() + WAIT
    while not worker.waiting.is_set() and worker.thread is not None and worker.thread.is_alive():
        assert time.monotonic() < deadline, f"{worker.owner} neither committed nor ended"
        worker.waiting.wait(0.01)


def _start(c: Cluster, plans: GatedPlans, task: Task, owner: str, expiries: int) -> None:
    worker = _Worker(owner, expiries=expiries)
    plans.workers[owner] = worker

    def run() -> None:
        try:
            result = c.runs_model.execute(task, owner, worker.stop)
        except Killed:
            return
        worker.outcome = cast("TaskOutcome", ok(result))

    worker.thread = threading.Thread(target=run, name=owner, daemon=True)
    worker.thread.start()
    _settle(worker)


def _let_commit(worker: _Worker, *, kill: bool = False) -> None:
    if not worker.waiting.is_set():
        return
    worker.kill = kill
    worker.waiting.clear()
    worker.permits.release()
    _settle(worker)


def _covered_not_ahead(c: Cluster) -> None:
    rows = cast("tuple[TaskState, ...]", ok(c.plans.tasks("run-1")))
    live = set(c.db.live("allocation"))
    truth = set(c.wms.truth("allocation"))
    assert live <= truth  # nothing invented
    for row in rows:
        if row.last_id is None:
            continue
        covered = {
            i
            for i in truth
            if (row.after_id is None or i > row.after_id)
            and i <= row.last_id
            and (row.until_id is None or i < row.until_id)
        }
        assert covered <= live, (row, sorted(covered - live))


step = st.one_of(
    st.tuples(st.just("start"), st.integers(0, 50)),
    st.tuples(st.just("commit"), st.integers(0, 50)),
    st.tuples(st.just("commit"), st.integers(0, 50)),
    st.tuples(st.just("commit"), st.integers(0, 50)),
    st.tuples(st.just("kill"), st.integers(0, 50)),
    st.tuples(st.just("stop"), st.integers(0, 50)),
    st.tuples(st.just("expire"), st.just(0)),
)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 40),
    window_ids=st.integers(3, 25),
    batch_size=st.integers(1, 6),
    page_size=st.integers(1, 8),
    schedule=st.lists(step, max_size=30),
)
def test_any_interleaving_of_workers_loses_and_duplicates_nothing(
    n: int, window_ids: int, batch_size: int, page_size: int, schedule: list[tuple[str, int]]
) -> None:
    c = _gated_cluster(n, page_size, window_ids, batch_size)
    plans = cast("GatedPlans", c.plans)
    tasks = cast("tuple[Task, ...]", ok(c.runs_model.plan(REQUEST)))
    expiries = 0
    try:
        for number, (kind, pick) in enumerate(schedule):
            alive = [w for w in plans.workers.values() if w.waiting.is_set()]
            if kind == "start":
                _start(c, plans, tasks[pick % len(tasks)], f"w{number}", expiries)
            elif kind == "expire":
                c.clock.advance(LEASE + 1)
                expiries += 1
            elif alive and kind in ("commit", "kill"):
                _let_commit(alive[pick % len(alive)], kill=kind == "kill")
            elif alive and kind == "stop":
                alive[pick % len(alive)].stop.request(RunStatus.INTERRUPTED, "SIGTERM")
            _covered_not_ahead(c)
    finally:
        # Drain: every gate opens; the workers still running finish (or find their lease lost).
        plans.open_gates = True
        for worker in plans.workers.values():
            worker.permits.release()
        for worker in plans.workers.values():
            assert worker.thread is not None
            worker.thread.join(WAIT)
            assert not worker.thread.is_alive()
    for worker in plans.workers.values():
        if worker.outcome is not None and worker.outcome.result is TaskResult.LEASE_LOST:
            # A live worker loses its lease only to a taker after the lease expired.
            assert expiries > worker.expiries, worker.owner
    c.clock.advance(LEASE + 1)
    for task in cast("tuple[Task, ...]", ok(c.runs_model.stale(c.clock.now()))):
        outcome = cast("TaskOutcome", ok(c.runs_model.execute(task, "drain")))
        assert outcome.result is TaskResult.DONE
    _covered_not_ahead(c)
    report = cast("SyncReport | None", ok(c.runs_model.finalise("run-1")))
    assert report is not None and report.status is RunStatus.SUCCEEDED
    assert c.live() == c.wms.truth("allocation")
    entity = report.entities[0]
    assert (entity.read, entity.written, entity.stale, entity.quarantined) == (n, n, 0, 0)
