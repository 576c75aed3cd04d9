"""The Celery tasks of a distributed run over the in-memory run model: every message the tasks
send is kept by a broker of the test's own (a ``Celery`` whose ``send_task`` records), and the
test delivers them -- in order, twice, or not at all -- the way a broker may."""

from __future__ import annotations

from collections import deque
from datetime import timedelta
from typing import Any

from celery import Celery

from gruponos.adapters.executors.celery_app import (
    COORDINATE,
    FINALISE,
    TASK,
    celery_app,
    request_from_json,
    request_to_json,
)
from gruponos.adapters.executors.celery_executor import CeleryExecutor
from gruponos.application.ports import RunRequest
from gruponos.domain.checkpoints import SyncMode
from gruponos.domain.runs import RunStatus, SyncReport
from gruponos.domain.scaleout import Task, TaskStatus
from gruponos.entrypoints.celery_worker import (
    InFlight,
    Reaper,
    WorkerRuntime,
    register_tasks,
)
from support.distributed import LEASE, Cluster, cluster, ok, source

FULL = RunRequest("run-1", SyncMode.FULL, ("allocation",), triggered_by="test")


class RecordingCelery(Celery):  # type: ignore[misc]  # Celery has no type information
    """A Celery app whose messages stay in :attr:`sent`, for the test to deliver."""

    def __init__(self) -> None:
        super().__init__("test", broker="memory://", set_as_current=False)
        self.sent: deque[tuple[str, tuple[Any, ...]]] = deque()

    def send_task(self, name: str, args: tuple[Any, ...] = (), **_: Any) -> None:
        self.sent.append((name, tuple(args)))


class OneRuntime:
    """The runtime of every thread (in-memory adapters need no reconnection)."""

    def __init__(self, c: Cluster) -> None:
        self.runtime = WorkerRuntime(c.runs_model, c.runs, c.clock)
        self.discarded = 0

    def __call__(self) -> WorkerRuntime:
        return self.runtime

    def discard(self) -> None:
        self.discarded += 1


def _worker(c: Cluster) -> tuple[RecordingCelery, InFlight]:
    app = RecordingCelery()
    in_flight = InFlight()
    register_tasks(app, OneRuntime(c), in_flight)
    return app, in_flight


def _deliver(app: RecordingCelery, limit: int = 1000) -> list[str]:
    """Deliver every message (and those they send) in order; the task names delivered."""
    delivered: list[str] = []
    while app.sent and len(delivered) < limit:
        name, args = app.sent.popleft()
        app.tasks[name](*args)
        delivered.append(name)
    return delivered


def _report(c: Cluster, run_id: str = "run-1") -> SyncReport:
    report = ok(c.runs.get_run(run_id))
    assert isinstance(report, SyncReport)
    return report


def test_a_run_request_round_trips_through_the_message_json() -> None:
    request = RunRequest("r", SyncMode.INCREMENTAL, ("a", "b"), dry_run=True, triggered_by="x")
    assert request_from_json(request_to_json(request)) == request


def test_the_app_acknowledges_late_and_takes_one_message_at_a_time() -> None:
    app = celery_app("redis://127.0.0.1:6379/0", "q1", 900.0)
    conf = app.conf
    assert (conf.task_acks_late, conf.task_reject_on_worker_lost) == (True, True)
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["visibility_timeout"] == 900.0
    assert (conf.task_serializer, conf.accept_content) == ("json", ["json"])
    assert conf.task_default_queue == "q1"


def test_coordinator_then_tasks_load_everything_and_the_last_task_finalises() -> None:
    c = cluster(source(95), window_ids=10)
    app, _ = _worker(c)
    app.send_task(COORDINATE, (request_to_json(FULL),))
    delivered = _deliver(app)
    assert delivered.count(TASK) == 10
    assert _report(c).status is RunStatus.SUCCEEDED
    assert _report(c).totals["written"] == 95
    assert c.live() == {i: c.wms.truth("allocation")[i] for i in range(1, 96)}


def test_every_message_delivered_twice_writes_nothing_twice_and_changes_no_result() -> None:
    once = cluster(source(95), window_ids=10)
    app, _ = _worker(once)
    app.send_task(COORDINATE, (request_to_json(FULL),))
    _deliver(app)

    twice = cluster(source(95), window_ids=10)
    app2, _ = _worker(twice)
    app2.send_task(COORDINATE, (request_to_json(FULL),))
    while app2.sent:
        name, args = app2.sent.popleft()
        app2.tasks[name](*args)
        if name == TASK:
            app2.tasks[name](*args)  # the broker delivers the window again
    assert twice.live() == once.live()
    assert _report(twice).totals == _report(once).totals
    assert twice.plans.commits == once.plans.commits  # not one batch committed twice


def test_a_task_stopped_by_a_warm_shutdown_sends_itself_again_and_nothing_is_lost() -> None:
    c = cluster(source(40), window_ids=10)
    app, in_flight = _worker(c)
    app.send_task(COORDINATE, (request_to_json(FULL),))
    app.tasks[COORDINATE](*app.sent.popleft()[1])
    in_flight.stop_all("SIGTERM")  # every task this worker starts from now on stops at once
    first = app.sent.popleft()
    app.tasks[TASK](*first[1])
    assert first in app.sent  # sent again, for another worker
    assert _report(c).status is RunStatus.RUNNING
    survivor, _ = _worker(c)  # another worker process takes the rest
    survivor.sent.extend(app.sent)
    _deliver(survivor)
    assert _report(c).status is RunStatus.SUCCEEDED
    assert len(c.live()) == 40


def test_the_reaper_sends_a_dead_workers_task_again_once_per_lease() -> None:
    c = cluster(source(30), window_ids=10)
    app, _ = _worker(c)
    app.send_task(COORDINATE, (request_to_json(FULL),))
    app.tasks[COORDINATE](*app.sent.popleft()[1])
    lost = Task.from_json(app.sent.popleft()[1][0])  # the message of a worker killed -9 ...
    now = c.clock.now()
    ok(
        c.plans.claim(
            "run-1", "allocation", lost.index, "dead", now, now + timedelta(seconds=LEASE)
        )
    )
    _deliver(app)  # ... the other windows finish; the run waits for the lost one
    assert _report(c).status is RunStatus.RUNNING
    reaper = Reaper(app, OneRuntime(c), 1.0, LEASE)
    assert reaper.sweep() == 0  # the dead worker's lease is still live
    c.clock.advance(LEASE + 1)
    assert reaper.sweep() == 1
    assert reaper.sweep() == 0  # not again before another lease has passed
    _deliver(app)
    assert _report(c).status is RunStatus.SUCCEEDED
    assert len(c.live()) == 30


def test_the_reaper_finalises_a_run_whose_finaliser_died() -> None:
    c = cluster(source(20), window_ids=10)
    app, _ = _worker(c)
    for task in ok(c.runs_model.plan(FULL)):  # type: ignore[attr-defined]
        ok(c.runs_model.execute(task, "w1"))
    assert _report(c).status is RunStatus.RUNNING  # every task done, nobody finalised
    Reaper(app, OneRuntime(c), 1.0, LEASE).sweep()
    assert _report(c).status is RunStatus.SUCCEEDED


def test_a_run_the_plan_refuses_is_recorded_failed_at_once_not_retried() -> None:
    c = cluster(source(20), window_ids=10)
    app, _ = _worker(c)
    dry = RunRequest("run-dry", SyncMode.FULL, ("allocation",), dry_run=True)
    app.tasks[COORDINATE](request_to_json(dry))
    report = _report(c, "run-dry")
    assert report.status is RunStatus.FAILED
    assert report.error is not None
    assert "dry run" in report.error
    assert not app.sent


def test_the_executor_sends_the_coordinator_cancels_through_the_plan_and_lists_the_history() -> (
    None
):
    c = cluster(source(30), window_ids=10)
    app, _ = _worker(c)
    executor = CeleryExecutor(app, c.runs_model, c.runs, c.clock)
    assert executor.submit(FULL)
    assert app.sent[0][0] == COORDINATE
    _, args = app.sent.popleft()
    app.tasks[COORDINATE](*args)
    assert [r.run_id for r in executor.active()] == ["run-1"]
    assert executor.cancel("run-1", "asked")
    _deliver(app)  # the queued windows find the run cancelled
    assert _report(c).status is RunStatus.CANCELLED
    assert all(t.status is TaskStatus.CANCELLED for t in ok(c.plans.tasks("run-1")))  # type: ignore[attr-defined]
    assert executor.active() == ()
    executor.close()
    assert not executor.submit(RunRequest("run-2", SyncMode.FULL, ("allocation",)))
    assert FINALISE in {name for name, _ in app.sent} or not app.sent


def test_active_runs_are_open_plans_and_fresh_queued_rows_never_a_dead_running_row() -> None:
    c = cluster(source(20), window_ids=10)
    app, _ = _worker(c)
    executor = CeleryExecutor(app, c.runs_model, c.runs, c.clock, timedelta(minutes=10))
    now = c.clock.now()
    dead = SyncReport("dead-local", SyncMode.FULL, started_at=now)  # a CLI run killed -9
    ok(c.runs.record(dead))
    queued = SyncReport("just-sent", SyncMode.FULL, started_at=now, status=RunStatus.QUEUED)
    ok(c.runs.record(queued))
    ok(c.runs_model.plan(FULL))
    assert {r.run_id for r in executor.active()} == {"run-1", "just-sent"}
    c.clock.advance(11 * 60)  # the coordinator of "just-sent" never came: it stops counting
    assert {r.run_id for r in executor.active()} == {"run-1"}
