"""The run service over in-memory fakes, the in-process executor, and cron's next run."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from returns.io import IOResult, IOSuccess
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.executors.local import LocalExecutor
from gruponos.adapters.memory.sink import InMemoryDatabase, InMemoryRunHistory, InMemorySinkState
from gruponos.application.errors import SyncError
from gruponos.application.lifecycle import StopSignal
from gruponos.application.ports import RunRequest
from gruponos.application.runs import RunService
from gruponos.domain.checkpoints import StateKey, SyncMode
from gruponos.domain.runs import RunStatus, SyncReport
from gruponos.domain.schedule import next_run, parse_cron

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FixedClock:
    def now(self) -> datetime:
        return T0

    def sleep(self, seconds: float) -> None:
        """Never sleeps."""


def _service(executor: LocalExecutor, db: InMemoryDatabase) -> RunService:
    ids = iter(f"run-{i}" for i in range(100))
    return RunService(
        InMemoryRunHistory(db),
        InMemorySinkState(db),
        executor,
        FixedClock(),
        lambda: next(ids),
        {SyncMode.FULL: "full", SyncMode.INCREMENTAL: "incremental"},
    )


def test_the_executor_runs_bounded_and_a_cancel_stops_the_run_it_holds() -> None:
    release, done = threading.Event(), threading.Event()
    seen: dict[str, RunStatus | None] = {}

    def launch(request: RunRequest, stop: StopSignal) -> IOResult[SyncReport, SyncError]:
        stop.wait(5) if request.run_id == "run-0" else release.wait(5)
        seen[request.run_id] = stop.status
        if request.run_id == "run-1":
            done.set()
        return IOSuccess(SyncReport(request.run_id, request.mode, T0))

    executor = LocalExecutor(launch, workers=1, queue=1)
    db = InMemoryDatabase()
    service = _service(executor, db)
    first = unsafe_perform_io(service.start(SyncMode.FULL, ("order_hdr",)).unwrap())
    queued = service.start(SyncMode.INCREMENTAL, ("order_hdr",))
    full = service.start(SyncMode.FULL, ("allocation",))  # 1 running + 1 queued: full
    assert unsafe_perform_io(full.failure()).code == "run.executor_full"
    assert db.runs["run-2"].status is RunStatus.FAILED
    # the same pipeline over the same entity is refused while the first is active
    conflict = service.start(SyncMode.FULL, ("order_hdr", "allocation"))
    assert unsafe_perform_io(conflict.failure()).code == "run.conflict"
    assert db.runs[first.request.run_id].status is RunStatus.QUEUED
    assert unsafe_perform_io(service.cancel("run-0", "test").unwrap()).run_id == "run-0"
    release.set()
    assert done.wait(5)
    executor.close()
    assert seen == {"run-0": RunStatus.CANCELLED, "run-1": None}
    assert unsafe_perform_io(queued.unwrap()).created
    assert executor.active() == ()
    assert not executor.submit(RunRequest("late", SyncMode.FULL, ("order_hdr",)))


def test_a_lock_held_in_the_state_store_refuses_the_run() -> None:
    db = InMemoryDatabase()
    executor = LocalExecutor(lambda r, s: IOSuccess(SyncReport(r.run_id, r.mode, T0)))
    service = _service(executor, db)
    held = unsafe_perform_io(
        InMemorySinkState(db).lock(StateKey("incremental", "order_dtl"), "cli").unwrap()
    )
    refused = service.start(SyncMode.INCREMENTAL, ("order_hdr", "order_dtl"))
    assert unsafe_perform_io(refused.failure()).context["entity"] == "order_dtl"
    assert db.runs == {}  # nothing recorded for a refused run
    held.release()
    assert unsafe_perform_io(service.start(SyncMode.INCREMENTAL, ("order_dtl",)).unwrap()).created
    executor.close()


def _matches(expression: str, moment: datetime) -> bool:
    minutes, hours, days, months, weekdays = parse_cron(expression)
    fields = expression.split()
    by_day, by_weekday = moment.day in days, (moment.isoweekday() % 7) in weekdays
    day = by_day and by_weekday if "*" in (fields[2], fields[4]) else by_day or by_weekday
    return moment.minute in minutes and moment.hour in hours and moment.month in months and day


_FIELD = st.sampled_from(["*", "*/7", "5", "1-3", "0,30", "10-50/20"])


@settings(max_examples=200, deadline=None)
@given(
    minute=_FIELD,
    hour=st.sampled_from(["*", "2", "*/6", "9-17"]),
    day=st.sampled_from(["*", "1", "15", "1-7"]),
    weekday=st.sampled_from(["*", "0", "1-5", "6"]),
    after=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1)),
)
def test_next_run_is_the_first_matching_minute_after(
    minute: str, hour: str, day: str, weekday: str, after: datetime
) -> None:
    expression = f"{minute} {hour} {day} * {weekday}"
    after = after.replace(tzinfo=UTC)
    found = next_run(expression, after)
    assert found is not None and found > after and _matches(expression, found)
    # no minute in between matches (checked minute by minute up to a day before it)
    probe = max(after.replace(second=0, microsecond=0), found - timedelta(days=1))
    while (probe := probe + timedelta(minutes=1)) < found:
        assert not _matches(expression, probe)
