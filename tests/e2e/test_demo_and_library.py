"""The README's run command (``gruponos demo``) and the library API, end to end."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

import gruponos
from e2e.harness import run_process
from gruponos.application.ports import SyncEvent
from gruponos.simulator import FaultKind, SimulatorConfig, WmsSimulator

ROOT = Path(__file__).resolve().parents[2]


def test_demo_completes_and_prints_the_summary(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    started = time.monotonic()
    done = run_process(["demo", "--db", str(db)], {}, timeout=120)
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-2000:]
    for text in (
        "demo summary",
        "order_hdr",
        "incremental: read",
        "sample query",
        "orders by status",
        "demo finished in",
    ):
        assert text in done.stdout
    assert seconds < 60
    with sqlite3.connect(db) as conn:
        (orders,) = conn.execute('SELECT COUNT(*) FROM "WMS_ORDER_HDR"').fetchone()
    assert orders == 3010  # 3000 + 10 inserted (5 deleted stay until a full sync)


def test_the_library_example_runs(tmp_path: Path) -> None:
    done = subprocess.run(  # noqa: S603 - our own example
        [sys.executable, str(ROOT / "examples" / "library_sync.py"), str(tmp_path / "ex.db")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "full sync" in done.stdout and "succeeded" in done.stdout
    assert "in-memory sync example-run: succeeded, read 10" in done.stdout


class FailAfterFirstBatch:
    """An observer that breaks the WMS once, after the first committed batch of allocation."""

    def __init__(self, sim: WmsSimulator) -> None:
        self.sim = sim
        self.armed = True
        self.events: list[SyncEvent] = []

    def on_event(self, event: SyncEvent) -> None:
        self.events.append(event)
        if self.armed and event.kind == "batch_written":
            self.armed = False
            self.sim.force_fault(FaultKind.SERVER_ERROR, 2)  # = max_attempts: the read fails


def _retry(events: list[SyncEvent]) -> SyncEvent:
    return next(e for e in events if e.kind == "retrying_run")


def test_api_retries_resume_from_the_checkpoint(tmp_path: Path) -> None:
    with WmsSimulator(SimulatorConfig(records=500, seed=3)) as sim:
        settings = gruponos.load_settings(
            env_file=None,
            wms={
                "base_url": sim.base_url,
                "username": "wms_user",
                "password": "wms_password",
                "page_size": 100,
                "max_attempts": 2,
            },
            sink={"url": f"sqlite:///{tmp_path / 'api.db'}"},
            # One thread: the fault is forced right after the first commit, so no page may have
            # been fetched ahead of it (a reader thread could have fetched them all already).
            sync={"batch_size": 100, "prefetch_pages": 0, "write_behind": False},
        ).unwrap()
        observer = FailAfterFirstBatch(sim)
        result = gruponos.sync(
            gruponos.SyncMode.FULL,
            settings=settings,
            entities=["allocation"],
            retries=1,
            retry_delay=0.0,
            observer=observer,
        )
        truth = sim.truth("allocation")
    assert is_successful(result)
    report = unsafe_perform_io(result.unwrap())
    allocation = report.entities[0]
    assert allocation.status is gruponos.RunStatus.SUCCEEDED
    committed = [
        e.data["checkpoint"]["last_id"]
        for e in observer.events[: observer.events.index(_retry(observer.events))]
        if e.kind == "batch_written"
    ]
    # the second attempt resumed after what the first one committed, and read only the rest
    assert 0 < max(committed) < 500
    assert allocation.read == 500 - max(committed)
    assert allocation.checkpoint is not None and allocation.checkpoint.complete
    kinds = [e.kind for e in observer.events]
    assert kinds.count("run_started") == 2 and "retrying_run" in kinds
    with sqlite3.connect(tmp_path / "api.db") as conn:
        stored = {row[0] for row in conn.execute('SELECT "ID" FROM "WMS_ALLOCATION"')}
    assert stored == set(truth)


def test_api_reports_configuration_problems_as_a_failure() -> None:
    settings = gruponos.load_settings(env_file=None, wms={"base_url": None}).unwrap()
    result = gruponos.sync("full", settings=settings)
    assert not is_successful(result)
    assert unsafe_perform_io(result.failure()).code == "config.incomplete"
