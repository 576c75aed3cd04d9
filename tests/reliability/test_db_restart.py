"""PostgreSQL restarted in the middle of a run: the run fails with a typed error (no traceback) or
reconnects; a re-run completes and the target equals the source."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from gruponos.simulator import FaultKind
from reliability.rig import (
    COLLECTOR,
    Watched,
    check_equal,
    env_for,
    quiet,
    run_child,
    simulator,
)
from support.sqlsink import pg_available

pytestmark = [pytest.mark.reliability, pytest.mark.postgres]


def _restart_postgres() -> None:
    versions = sorted(p.name for p in Path("/etc/postgresql").glob("*"))
    if not versions or shutil.which("pg_ctlcluster") is None:
        pytest.skip("pg_ctlcluster is not available: cannot restart the local PostgreSQL")
    subprocess.run(  # noqa: S603 - fixed arguments
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[0], "main", "restart"],  # noqa: S607
        check=True,
        capture_output=True,
        timeout=60,
    )
    deadline = time.monotonic() + 30
    while not pg_available():
        assert time.monotonic() < deadline, "PostgreSQL did not come back"
        time.sleep(0.2)


def test_postgres_restart_mid_run_fails_clearly_and_a_rerun_completes(pg_url: str) -> None:
    scenario = COLLECTOR.scenario("db_restart")
    sim = simulator(
        records=300, fault_rate=1.0, fault_kinds=frozenset({FaultKind.SLOW}), slow_seconds=0.1
    )
    with sim:
        env = env_for(sim, pg_url)
        run = Watched(env, "sync", "full", "--json")
        assert run.wait_for("sync.batch_written", 2)
        _restart_postgres()
        outcome = run.finish()
        scenario.runs += 1
        quiet(sim)
        rerun = run_child(env, "sync", "full", "--json")
        scenario.runs += 1
        assert rerun.code == 0, rerun.stderr[-3000:]
        assert not (problems := check_equal(sim, pg_url, scenario)), problems

        assert outcome.code in (0, 1), outcome.output[-3000:]
        if outcome.code == 1:
            scenario.failed_runs += 1
        assert outcome.traceback is None, outcome.traceback
        if outcome.code == 1 and outcome.stdout.strip():
            errors = [e["error"] for e in outcome.json()["entities"] if e["error"]]
            # the database's own errors: the sink's, the checkpoints', and the run plans' (every
            # local run asks them whether a distributed run holds its entity)
            assert errors and all(e.startswith(("[sink.", "[state.", "[plan.")) for e in errors), (
                errors
            )
        elif outcome.code == 1:  # not even the report could be written: one clear line
            assert outcome.error_code() is not None, outcome.stderr[-3000:]
