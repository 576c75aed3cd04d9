"""``gruponos scheduler`` as real processes, with per-second schedules (six-field crons), against
the simulator over HTTP: both pipelines fire, a run that outlasts its interval is never
overlapped, catch-up on start, and two schedulers on one PostgreSQL fire each time once.

Every wait is on a condition with a deadline (the run history, a log line, an HTTP answer).
Marked ``slow`` (tens of seconds): ``nox -s scheduler`` runs them.
"""

from __future__ import annotations

import itertools
import json
import signal
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from returns.unsafe import unsafe_perform_io

from e2e.harness import GRUPONOS, child_env, wms_env
from gruponos.adapters.sql import open_sql_backend
from gruponos.domain.checkpoints import SyncMode
from gruponos.domain.runs import RunStatus, SyncReport
from gruponos.simulator import WmsSimulator
from gruponos.simulator.config import SimulatorConfig

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for(what: str, check: Callable[[], Any], deadline: float = 60.0) -> Any:
    """``check()``'s first truthy answer, polled until ``deadline`` seconds have passed."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        answer = check()
        if answer:
            return answer
        time.sleep(0.1)  # polling a condition, not timing the test
    pytest.fail(f"gave up waiting for {what} after {deadline:.0f} s")


def runs_of(sink_url: str) -> list[SyncReport]:
    backend = unsafe_perform_io(open_sql_backend(sink_url).unwrap())
    try:
        return list(unsafe_perform_io(backend.runs.list_runs(10_000).unwrap()))
    finally:
        backend.close()


def scheduled(runs: list[SyncReport], mode: SyncMode) -> list[SyncReport]:
    return [
        r
        for r in runs
        if r.mode is mode and r.triggered_by and r.triggered_by.startswith("scheduler@")
    ]


class Scheduler:
    """A ``gruponos scheduler`` process, its log in a file."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.log = log
        self.port = int(env["GRUPONOS_SCHEDULE__HEALTH_PORT"])
        self._out = log.open("w")
        self.process = subprocess.Popen(  # noqa: S603 - our own entry point
            [
                GRUPONOS,
                "--env-file",
                "/nonexistent/.env",
                "--log-format",
                "json",
                "scheduler",
                *args,
            ],
            env=child_env(env),
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def events(self, name: str) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("event") == name:
                found.append(event)
        return found

    def started(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"the scheduler exited {self.process.returncode}: {self.log.read_text()}")
        return bool(self.events("scheduler.started"))

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=60)
        finally:
            self._out.close()
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._out.close()


@contextmanager
def simulator(**config: Any) -> Iterator[WmsSimulator]:
    with WmsSimulator(SimulatorConfig(**{"records": 300, **config})) as sim:
        yield sim


def scheduler_env(sim: WmsSimulator, sink_url: str, **extra: str) -> dict[str, str]:
    return wms_env(
        sim,
        sink_url,
        GRUPONOS_ENTITIES="order_hdr",
        GRUPONOS_SCHEDULE__HEALTH_PORT=str(free_port()),
        GRUPONOS_SCHEDULE__MISFIRE_GRACE_SECONDS="5",
        GRUPONOS_LOG__LEVEL="info",
        **extra,
    )


@contextmanager
def running(env: dict[str, str], log: Path, *args: str) -> Iterator[Scheduler]:
    daemon = Scheduler(env, log, *args)
    try:
        wait_for("the scheduler to start", daemon.started)
        yield daemon
    finally:
        daemon.kill()


def test_both_pipelines_fire_and_sigterm_stops_the_scheduler_cleanly(tmp_path: Path) -> None:
    sink = f"sqlite:///{tmp_path / 'sink.db'}"
    with simulator() as sim:
        env = scheduler_env(
            sim,
            sink,
            GRUPONOS_SCHEDULE__FULL="*/3 * * * * *",
            GRUPONOS_SCHEDULE__INCREMENTAL="*/2 * * * * *",
            GRUPONOS_SCHEDULE__CATCH_UP="false",
        )
        with running(env, tmp_path / "scheduler.log") as daemon:
            status, body = daemon.get("/healthz")
            assert status == 200
            health = json.loads(body)
            assert health["status"] == "ok"
            assert set(health["next_fire"]) == {"full", "incremental"}

            def both_fired() -> bool:
                runs = [r for r in runs_of(sink) if r.status is RunStatus.SUCCEEDED]
                return all(len(scheduled(runs, mode)) >= 2 for mode in SyncMode)

            wait_for("two successful runs of each pipeline", both_fired)
            status, metrics = daemon.get("/metrics")
            assert status == 200
            assert b'gruponos_schedule_fires_total{outcome="started",pipeline="full"}' in metrics
            assert daemon.stop() == 0
        assert daemon.events("scheduler.stopped")
    runs = runs_of(sink)
    # every scheduled run names its fire, and no fire ran twice
    fired = Counter((r.mode, r.triggered_by) for r in runs)
    assert max(fired.values()) == 1
    assert all(r.status is not RunStatus.RUNNING for r in runs)  # none left behind


def test_a_run_that_outlasts_its_interval_is_never_overlapped(tmp_path: Path) -> None:
    sink = f"sqlite:///{tmp_path / 'sink.db'}"
    # ~3 pages of 100 at 0.4 s each per read: a full run takes over a second, fired every second
    with simulator(latency_seconds=0.4) as sim:
        env = scheduler_env(
            sim,
            sink,
            GRUPONOS_SCHEDULE__FULL="* * * * * *",
            GRUPONOS_SCHEDULE__INCREMENTAL="0 0 1 1 *",  # not in this test
            GRUPONOS_SCHEDULE__CATCH_UP="false",
        )
        with running(env, tmp_path / "scheduler.log") as daemon:

            def three_full_runs() -> bool:
                done = [r for r in scheduled(runs_of(sink), SyncMode.FULL) if r.finished_at]
                return len(done) >= 3

            wait_for("three finished full runs", three_full_runs, deadline=90)
            busy = [e for e in daemon.events("schedule.fire") if e["outcome"] == "busy"]
            assert busy, "a fire during a run must be skipped as busy"
            _, metrics = daemon.get("/metrics")
            assert b'gruponos_schedule_fires_total{outcome="busy",pipeline="full"}' in metrics
            assert daemon.stop() == 0
    full = sorted(scheduled(runs_of(sink), SyncMode.FULL), key=lambda r: r.started_at)
    for before, after in itertools.pairwise(full):
        assert before.finished_at is not None
        assert before.finished_at <= after.started_at, (before, after)


def test_catch_up_on_start_runs_overdue_pipelines_once(tmp_path: Path) -> None:
    sink = f"sqlite:///{tmp_path / 'sink.db'}"
    with simulator() as sim:
        # far-away schedules: only the catch-up can start a run in this test
        env = scheduler_env(
            sim,
            sink,
            GRUPONOS_SCHEDULE__FULL="0 2 * * 0",
            GRUPONOS_SCHEDULE__INCREMENTAL="0 */2 * * *",
        )
        with running(env, tmp_path / "off.log", "--no-catch-up") as daemon:
            assert runs_of(sink) == []  # switched off: nothing ran at start
            assert daemon.stop() == 0
        with running(env, tmp_path / "first.log") as daemon:
            catch_ups = [e for e in daemon.events("schedule.fire") if e["catch_up"]]
            assert {e["pipeline"]: e["outcome"] for e in catch_ups} == {
                "full": "started",
                "incremental": "started",
            }

            def both_succeeded() -> bool:
                runs = runs_of(sink)
                return len(runs) == 2 and all(r.status is RunStatus.SUCCEEDED for r in runs)

            wait_for("both catch-up runs to succeed", both_succeeded)
            assert daemon.stop() == 0
        # a restart right after: both succeeded within their period, nothing is due
        with running(env, tmp_path / "second.log") as daemon:
            outcomes = {e["pipeline"]: e["outcome"] for e in daemon.events("schedule.fire")}
            assert outcomes == {"full": "not_due", "incremental": "not_due"}
            assert len(runs_of(sink)) == 2
            assert daemon.stop() == 0


@pytest.mark.postgres
def test_two_scheduler_processes_on_one_postgresql_fire_each_time_once(
    tmp_path: Path, pg_url: str
) -> None:
    with simulator() as sim:
        base = scheduler_env(
            sim,
            pg_url,
            GRUPONOS_SCHEDULE__FULL="*/3 * * * * *",
            GRUPONOS_SCHEDULE__INCREMENTAL="*/2 * * * * *",
        )
        other = {**base, "GRUPONOS_SCHEDULE__HEALTH_PORT": str(free_port())}
        with (
            running(base, tmp_path / "one.log") as one,
            running(other, tmp_path / "two.log") as two,
        ):

            def enough() -> bool:
                runs = [r for r in runs_of(pg_url) if r.finished_at]
                return all(len(scheduled(runs, mode)) >= 3 for mode in SyncMode)

            wait_for("three finished runs of each pipeline", enough, deadline=90)
            assert one.stop() == 0
            assert two.stop() == 0
            lost = [
                e
                for daemon in (one, two)
                for e in daemon.events("schedule.fire")
                if e["outcome"] == "claimed_elsewhere"
            ]
            assert lost, "the replicas must have competed for fires"
    runs = runs_of(pg_url)
    for mode in SyncMode:
        mine = scheduled(runs, mode)
        fired = Counter(r.triggered_by for r in mine)
        assert max(fired.values()) == 1, fired  # each fire ran once across both replicas
        ordered = sorted(mine, key=lambda r: r.started_at)
        for before, after in itertools.pairwise(ordered):
            assert before.finished_at is not None
            assert before.finished_at <= after.started_at, (before, after)


def test_sigterm_during_a_run_stops_firing_and_the_run_ends_interrupted_then_exit_0(
    tmp_path: Path,
) -> None:
    sink = f"sqlite:///{tmp_path / 'sink.db'}"
    with simulator(records=2000, latency_seconds=0.3) as sim:  # 20 pages: several seconds
        env = scheduler_env(
            sim,
            sink,
            GRUPONOS_SCHEDULE__FULL="* * * * * *",
            GRUPONOS_SCHEDULE__INCREMENTAL="0 0 1 1 *",
            GRUPONOS_SCHEDULE__CATCH_UP="false",
        )
        with running(env, tmp_path / "scheduler.log") as daemon:

            def a_run_going() -> bool:
                return any(r.status is RunStatus.RUNNING for r in runs_of(sink))

            wait_for("a full run to be running", a_run_going)
            assert daemon.stop() == 0
            stopping = daemon.events("scheduler.stopping")
            assert [e["signal"] for e in stopping] == ["SIGTERM"]
            log = daemon.log.read_text().splitlines()
            after = log[next(i for i, line in enumerate(log) if "scheduler.stopping" in line) :]
            assert not any('"schedule.fire"' in line for line in after)  # no fire after it
    runs = sorted(scheduled(runs_of(sink), SyncMode.FULL), key=lambda r: r.started_at)
    # the run going at the signal stopped after its batch in flight; none is left running
    assert runs[-1].status is RunStatus.INTERRUPTED
    assert runs[-1].error is None or "stopping" in runs[-1].error
    assert all(r.status is RunStatus.SUCCEEDED for r in runs[:-1])
