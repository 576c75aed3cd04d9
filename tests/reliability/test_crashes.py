"""kill -9 of ``gruponos sync`` (a child process) at seeded random points of full and incremental
runs into SQLite and PostgreSQL, then a re-run: target == source, no duplicate ids, and, right after
the kill, no checkpoint ahead of committed data.

A kill point is "after the N-th committed batch (seen in the child's JSON logs) plus 0-40 ms",
N drawn from the whole run, so kills land before the first batch, between batches, inside a batch
(the next one is being read or written) and at the end. Every third point also kills the re-run
once before the final re-run (a crash while resuming)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator

import pytest

from gruponos.simulator import WmsSimulator
from reliability.rig import (
    COLLECTOR,
    ENTITIES,
    Scenario,
    Watched,
    check_checkpoints,
    check_equal,
    env_for,
    run_child,
    simulator,
)

pytestmark = pytest.mark.reliability

RECORDS = 400
PAGE = 50
#: committed batches of a whole run: 3 entities x RECORDS / PAGE
BATCHES = len(ENTITIES) * RECORDS // PAGE
POINTS_PER_CASE = 6  # x 2 modes x 2 databases = 24 kill points


@pytest.fixture(scope="module")
def crash_sim() -> Iterator[WmsSimulator]:
    with simulator(records=RECORDS, seed=21) as sim:
        yield sim


def _kill_at(
    env: dict[str, str], mode: str, batches: int, extra: float, scenario: Scenario
) -> bool:
    child = Watched(env, "sync", mode, "--json")
    if batches:
        child.wait_for("sync.batch_written", batches)
    else:
        child.wait_for("sync.run_started")
    time.sleep(extra)
    killed = child.kill()
    scenario.runs += 1
    scenario.kills += killed
    return killed


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_kill_9_at_random_points_then_rerun(
    mode: str,
    new_target: Callable[[], str],
    crash_sim: WmsSimulator,
    request: pytest.FixtureRequest,
) -> None:
    scenario = COLLECTOR.scenario("crashes")
    rng = random.Random(f"{request.node.name}")
    killed_in_run = 0
    for point in range(POINTS_PER_CASE):
        # each point loads a fresh target, so every kill hits a run from scratch
        url = new_target()
        point_env = env_for(
            crash_sim, url, GRUPONOS_WMS__PAGE_SIZE=str(PAGE), GRUPONOS_SYNC__BATCH_SIZE=str(PAGE)
        )
        n = rng.randrange(BATCHES + 1)
        extra = rng.uniform(0.0, 0.04)
        killed_in_run += _kill_at(point_env, mode, n, extra, scenario)
        _assert_not_ahead(crash_sim, url, scenario)
        if point % 3 == 2:  # crash again while resuming
            _kill_at(point_env, mode, rng.randrange(1, BATCHES // 2), 0.0, scenario)
            _assert_not_ahead(crash_sim, url, scenario)
        outcome = run_child(point_env, "sync", mode, "--json")
        scenario.runs += 1
        assert outcome.code == 0, outcome.stderr[-3000:]
        assert outcome.traceback is None
        problems = check_equal(crash_sim, url, scenario)
        assert not problems, f"kill after batch {n} (+{extra:.3f} s): {problems}"
    assert killed_in_run >= POINTS_PER_CASE // 2, "most kills must hit a running sync"


def _assert_not_ahead(sim: WmsSimulator, url: str, scenario: Scenario) -> None:
    ahead = check_checkpoints(sim, url, scenario)
    assert not ahead, ahead
