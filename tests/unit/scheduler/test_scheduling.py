"""The scheduler's rules over fakes: claims, busy pipelines, catch-up, the latest fire, crons."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from returns.io import IOFailure, IOResult, IOSuccess
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.executors.local import LocalExecutor
from gruponos.adapters.memory.fires import InMemoryFireClaims
from gruponos.adapters.memory.sink import InMemoryDatabase, InMemoryRunHistory, InMemorySinkState
from gruponos.adapters.scheduler.cron import CronSchedule
from gruponos.application.errors import SinkError, SyncError
from gruponos.application.lifecycle import StopSignal
from gruponos.application.ports import RunRequest
from gruponos.application.runs import RunService
from gruponos.application.scheduling import (
    Fire,
    FireOutcome,
    FireSchedule,
    ScheduledPipeline,
    catch_up_due,
    latest_fire,
    triggered_by,
)
from gruponos.domain.checkpoints import StateKey, SyncMode
from gruponos.domain.runs import RunStatus, SyncReport
from gruponos.domain.schedule import schedule_fields
from gruponos.settings.operations import ScheduleSettings

T0 = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)  # a Thursday
FULL = ScheduledPipeline(SyncMode.FULL, "full-sync", "0 2 * * 0")
INCREMENTAL = ScheduledPipeline(SyncMode.INCREMENTAL, "incremental-sync", "0 */2 * * *")


class FixedClock:
    def now(self) -> datetime:
        return T0

    def sleep(self, seconds: float) -> None:
        """Never sleeps."""


class Rig:
    """A run service on the in-process executor whose runs wait for ``release``."""

    def __init__(self, claims: InMemoryFireClaims | None = None) -> None:
        self.db = InMemoryDatabase()
        self.history = InMemoryRunHistory(self.db)
        self.release = threading.Event()
        self.claims = claims or InMemoryFireClaims()
        ids = iter(f"run-{i}" for i in range(100))
        self.executor = LocalExecutor(self._launch, workers=2, queue=2)
        self.state = InMemorySinkState(self.db)
        self.service = RunService(
            self.history,
            self.state,
            self.executor,
            FixedClock(),
            lambda: next(ids),
            {SyncMode.FULL: "full-sync", SyncMode.INCREMENTAL: "incremental-sync"},
        )

    def schedule(self, owner: str = "replica-1") -> FireSchedule:
        return FireSchedule(
            self.claims, self.service, self.history, ("order_hdr",), owner, FixedClock()
        )

    def _launch(self, request: RunRequest, stop: StopSignal) -> IOResult[SyncReport, SyncError]:
        stop.wait(5) if not self.release.is_set() else None
        report = SyncReport(
            request.run_id,
            request.mode,
            T0,
            finished_at=T0,
            status=RunStatus.SUCCEEDED,
            triggered_by=request.triggered_by,
        )
        self.history.record(report)
        return IOSuccess(report)

    def close(self) -> None:
        self.release.set()
        self.executor.close()


@pytest.fixture
def rig() -> Iterator[Rig]:
    made = Rig()
    yield made
    made.close()


def settled(result: IOResult[Fire, Fire]) -> Fire:
    """The fire, started or not."""
    return unsafe_perform_io(result.unwrap() if is_successful(result) else result.failure())


def test_a_fire_claims_then_starts_one_run_named_after_the_fire(rig: Rig) -> None:
    fire = settled(rig.schedule().fire(INCREMENTAL, T0))
    assert fire.outcome is FireOutcome.STARTED
    assert fire.run_id is not None
    assert rig.claims.owners == {("incremental-sync", T0): "replica-1"}
    queued = rig.db.runs[fire.run_id]
    assert queued.mode is SyncMode.INCREMENTAL
    assert queued.triggered_by == triggered_by(T0) == "scheduler@2026-12-03T18:00:00+00:00"


def test_a_fire_claimed_by_another_replica_starts_nothing(rig: Rig) -> None:
    rig.claims.claim("incremental-sync", T0, "replica-2")
    fire = settled(rig.schedule().fire(INCREMENTAL, T0))
    assert fire.outcome is FireOutcome.CLAIMED_ELSEWHERE
    assert rig.db.runs == {}


def test_two_replicas_sharing_the_claims_fire_each_time_once() -> None:
    claims = InMemoryFireClaims()
    one, two = Rig(claims), Rig(claims)
    times = [T0 + timedelta(hours=2 * n) for n in range(3)]
    try:
        outcomes = {
            (at, owner): settled(rig.schedule(owner).fire(INCREMENTAL, at)).outcome
            for at in times
            for rig, owner in ((one, "a"), (two, "b"))
        }
    finally:
        one.close()
        two.close()
    for at in times:  # one replica handles the fire (started, or busy), the other skips it
        handled = [o for (t, _), o in outcomes.items() if t == at]
        assert len(handled) == 2
        assert handled.count(FireOutcome.CLAIMED_ELSEWHERE) == 1
    assert outcomes[T0, "a"] is FireOutcome.STARTED
    assert len(claims.owners) == 3


def test_a_fire_while_the_pipeline_still_runs_is_skipped_as_busy(rig: Rig) -> None:
    first = settled(rig.schedule().fire(INCREMENTAL, T0))
    second = settled(rig.schedule().fire(INCREMENTAL, T0 + timedelta(hours=2)))
    assert first.outcome is FireOutcome.STARTED
    assert second.outcome is FireOutcome.BUSY
    assert second.detail == f"run {first.run_id} of the pipeline is queued"
    # the other pipeline is not held back by it
    assert settled(rig.schedule().fire(FULL, T0)).outcome is FireOutcome.STARTED


def test_a_run_holding_the_run_lock_elsewhere_makes_the_fire_busy(rig: Rig) -> None:
    lease = unsafe_perform_io(
        rig.state.lock(StateKey("incremental-sync", "order_hdr"), "cli").unwrap()
    )
    fire = settled(rig.schedule().fire(INCREMENTAL, T0))
    lease.release()
    assert fire.outcome is FireOutcome.BUSY
    assert fire.detail.endswith("[run.conflict]")
    assert rig.db.runs == {}


@pytest.mark.parametrize("status", [RunStatus.QUEUED, RunStatus.RUNNING])
def test_a_run_another_replica_queued_or_just_started_makes_the_fire_busy(
    rig: Rig, status: RunStatus
) -> None:
    # recorded by another process: not in this executor, and not holding its run lock yet
    rig.history.record(
        SyncReport("theirs", SyncMode.INCREMENTAL, T0 - timedelta(minutes=9), status=status)
    )
    fire = settled(rig.schedule().fire(INCREMENTAL, T0))
    assert fire.outcome is FireOutcome.BUSY
    assert fire.detail == f"run theirs of the pipeline is {status.value}"
    assert rig.db.runs.keys() == {"theirs"}


def test_a_queued_row_older_than_ten_minutes_is_a_leftover_and_does_not_block(rig: Rig) -> None:
    old = SyncReport(
        "dead", SyncMode.INCREMENTAL, T0 - timedelta(minutes=11), status=RunStatus.QUEUED
    )
    rig.history.record(old)
    assert settled(rig.schedule().fire(INCREMENTAL, T0)).outcome is FireOutcome.STARTED


class BrokenClaims:
    def claim(self, pipeline: str, fire_time: datetime, owner: str) -> IOResult[bool, SinkError]:
        return IOFailure(SinkError("schedule.claim_failed", "database is down", {}))


def test_a_claim_that_fails_starts_nothing_and_says_why(rig: Rig) -> None:
    schedule = FireSchedule(
        BrokenClaims(), rig.service, rig.history, ("order_hdr",), "r", FixedClock()
    )
    fire = settled(schedule.fire(INCREMENTAL, T0))
    assert fire.outcome is FireOutcome.FAILED
    assert fire.detail == "cannot claim the fire: database is down [schedule.claim_failed]"
    assert rig.db.runs == {}


def _succeeded(rig: Rig, mode: SyncMode, started: datetime) -> None:
    rig.history.record(
        SyncReport(f"old-{started.isoformat()}", mode, started, status=RunStatus.SUCCEEDED)
    )


def test_catch_up_fires_the_missed_fire_of_a_pipeline_overdue(rig: Rig) -> None:
    period, missed = timedelta(hours=2), T0 - timedelta(minutes=10)
    _succeeded(rig, SyncMode.INCREMENTAL, T0 - timedelta(hours=2, minutes=1))
    fire = settled(rig.schedule().catch_up(INCREMENTAL, T0, period, missed))
    assert (fire.outcome, fire.catch_up, fire.fire_time) == (FireOutcome.STARTED, True, missed)


def test_catch_up_leaves_a_pipeline_that_succeeded_within_its_period(rig: Rig) -> None:
    _succeeded(rig, SyncMode.INCREMENTAL, T0 - timedelta(hours=1, minutes=59))
    _succeeded(rig, SyncMode.FULL, T0 - timedelta(hours=3))  # another pipeline's success
    not_due = settled(rig.schedule().catch_up(INCREMENTAL, T0, timedelta(hours=2), T0))
    assert not_due.outcome is FireOutcome.NOT_DUE
    assert rig.db.runs.keys() == {
        f"old-{(T0 - timedelta(hours=1, minutes=59)).isoformat()}",
        f"old-{(T0 - timedelta(hours=3)).isoformat()}",
    }


def test_catch_up_fires_a_pipeline_that_never_succeeded_once_across_replicas() -> None:
    claims = InMemoryFireClaims()
    one, two = Rig(claims), Rig(claims)
    try:
        fires = [
            settled(
                rig.schedule(name).catch_up(FULL, T0, timedelta(days=7), T0 - timedelta(days=4))
            )
            for rig, name in ((one, "a"), (two, "b"))
        ]
    finally:
        one.close()
        two.close()
    assert [f.outcome for f in fires] == [
        FireOutcome.STARTED,
        FireOutcome.CLAIMED_ELSEWHERE,
    ]


@pytest.mark.parametrize(
    ("last", "due"),
    [(None, True), (T0 - timedelta(hours=3), True), (T0 - timedelta(hours=2), False)],
)
def test_catch_up_is_due_when_the_last_success_is_older_than_the_period(
    last: datetime | None, due: bool
) -> None:
    assert catch_up_due(last, T0, timedelta(hours=2)) is due


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 2 * * 0", datetime(2026, 11, 29, 2, tzinfo=UTC)),  # the Sunday before
        ("0 */2 * * *", T0),  # exactly now
        ("5-59/7 * * * * *", T0 - timedelta(seconds=6)),  # 17:59:54 (5, 12, ..., 47, 54)
        ("30 17 * * *", datetime(2026, 12, 3, 17, 30, tzinfo=UTC)),
    ],
)
def test_the_latest_fire_at_or_before_now(cron: str, expected: datetime) -> None:
    schedule = CronSchedule(cron, "UTC")
    assert latest_fire(schedule.first_from, T0, timedelta(days=7)) == expected


def test_the_latest_fire_gives_up_beyond_the_look_back() -> None:
    schedule = CronSchedule("0 2 * * 0", "UTC")
    assert latest_fire(schedule.first_from, T0, timedelta(hours=1)) is None


def test_cron_weekdays_count_from_sunday_unlike_apscheduler_3s_from_crontab() -> None:
    schedule = CronSchedule("0 2 * * 0", "UTC")
    fires = schedule.next_fires(T0, 2)
    assert [f.strftime("%A %H:%M") for f in fires] == ["Sunday 02:00", "Sunday 02:00"]
    assert schedule.period(T0) == timedelta(days=7)
    assert CronSchedule("0 */2 * * *", "UTC").period(T0) == timedelta(hours=2)


def test_a_schedule_is_read_in_its_time_zone() -> None:
    fires = CronSchedule("0 2 * * *", "America/Mexico_City").next_fires(T0, 1)
    assert fires[0].astimezone(UTC) == datetime(2026, 12, 4, 8, tzinfo=UTC)  # UTC-6


@pytest.mark.parametrize(
    ("cron", "problem"),
    [
        ("0 2 * *", "a schedule has 5 fields"),
        ("0 2 1 * 1", "not both"),
        ("x 2 * * *", "'x' is not a number, a range or a step"),
        ("60 * * * * *", "'60' is out of 0-59"),
    ],
)
def test_a_bad_schedule_is_refused_saying_why(cron: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        schedule_fields(cron)
    with pytest.raises(ValueError, match=problem):
        ScheduleSettings(full=cron)


def test_six_fields_put_the_seconds_first() -> None:
    assert ScheduleSettings(incremental="*/2  * * * * *").incremental == "*/2 * * * * *"
    fires = CronSchedule("*/2 * * * * *", "UTC").next_fires(T0, 2)
    assert fires == [T0 + timedelta(seconds=2), T0 + timedelta(seconds=4)]
