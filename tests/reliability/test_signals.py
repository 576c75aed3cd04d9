"""SIGTERM (what Kubernetes, systemd and schedulers send to stop a process) at seeded random
moments of a full sync into PostgreSQL while the source changes.

Every stopped run must end ``interrupted`` with exit 143 (128 + SIGTERM), its report and the run
history saying so; the next run must resume the same pass from the committed checkpoint; and
once the source is quiet, the table must equal the source: no loss, no duplicate.
A second signal aborts at once, still losing nothing.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections.abc import Iterator

import pytest

from gruponos.simulator import WmsSimulator
from reliability.rig import (
    COLLECTOR,
    ENTITIES,
    Watched,
    check_checkpoints,
    check_equal,
    checkpoints,
    connect,
    env_for,
    quiet,
    run_child,
    simulator,
)

pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

RECORDS = 600
PAGE = 25
BATCHES = len(ENTITIES) * RECORDS // PAGE  # committed batches of a whole pass, roughly
POINTS = 20


@pytest.fixture
def changing_sim() -> Iterator[WmsSimulator]:
    with simulator(records=RECORDS, seed=31, change_rate=0.5, change_seed=17) as sim:
        yield sim


def _history(url: str, run_id: str) -> str:
    with connect(url) as conn:
        row = conn.execute('SELECT "STATUS" FROM "GNOS_RUNS" WHERE "RUN_ID" = %s', (run_id,))
        (status,) = row.fetchone()
    return str(status)


def test_sigterm_at_20_random_moments_interrupts_and_the_next_run_resumes(
    pg_url: str, changing_sim: WmsSimulator
) -> None:
    scenario = COLLECTOR.scenario("signals")
    rng = random.Random("sigterm")
    env = env_for(
        changing_sim,
        pg_url,
        GRUPONOS_WMS__PAGE_SIZE=str(PAGE),
        GRUPONOS_SYNC__BATCH_SIZE=str(PAGE),
        GRUPONOS_SYNC__READ_PARALLELISM="1",
    )
    unfinished: dict[str, str] = {}  # entity -> the generation of its interrupted pass
    interrupted = 0
    for _ in range(POINTS):
        child = Watched(env, "sync", "full", "--json")
        batches = rng.randrange(1, BATCHES // POINTS + 2)
        if child.wait_for("sync.batch_written", batches):
            time.sleep(rng.uniform(0.0, 0.03))
            os.kill(child.proc.pid, signal.SIGTERM)
        outcome = child.finish()
        scenario.runs += 1
        stored = checkpoints(pg_url)
        # a pass left unfinished is resumed by the next run, never restarted
        for entity, generation in list(unfinished.items()):
            assert stored[("full", entity)]["generation"] == generation, entity
            if stored[("full", entity)]["complete"]:
                del unfinished[entity]
        if outcome.code == 0:  # the signal came after the last batch: the pass completed
            continue
        interrupted += 1
        assert outcome.code == 143, outcome.output
        assert outcome.traceback is None, outcome.traceback
        report = outcome.json()
        assert report["status"] == "interrupted", report
        assert _history(pg_url, report["run_id"]) == "interrupted"
        assert child.count("sync.stopping") == 1
        stopped = [e for e in report["entities"] if e["status"] == "interrupted"]
        assert stopped, report
        for entity in stopped:  # the committed checkpoint is the one the report gives
            if entity["read"] == 0:  # stopped before its first page: nothing to commit
                continue
            doc = stored[("full", entity["entity"])]
            if entity["checkpoint"] is not None:
                assert doc == entity["checkpoint"], entity["entity"]
                if not doc["complete"]:
                    unfinished[entity["entity"]] = doc["generation"]
    assert interrupted >= POINTS // 2, f"only {interrupted} runs were interrupted"

    quiet(changing_sim)
    # The first full run completes the interrupted pass (a row it saw before the source deleted
    # it stays until a pass that does not see it); the second is a whole pass over the quiet
    # source, which soft-deletes what is gone.
    for _ in range(2):
        final = run_child(env, "sync", "full", "--json")
        assert final.code == 0, final.output
    final = run_child(env, "sync", "incremental", "--json")
    assert final.code == 0, final.output
    problems = check_equal(changing_sim, pg_url, scenario) + check_checkpoints(
        changing_sim, pg_url, scenario
    )
    assert not problems, problems


def test_a_second_sigterm_aborts_at_once_and_loses_nothing(
    pg_url: str, changing_sim: WmsSimulator
) -> None:
    scenario = COLLECTOR.scenario("signals")
    env = env_for(
        changing_sim, pg_url, GRUPONOS_WMS__PAGE_SIZE=str(PAGE), GRUPONOS_SYNC__BATCH_SIZE="200"
    )
    child = Watched(env, "sync", "full", "--json")
    assert child.wait_for("sync.batch_written", 2)
    os.kill(child.proc.pid, signal.SIGTERM)
    assert child.wait_for("sync.stopping")
    os.kill(child.proc.pid, signal.SIGTERM)
    outcome = child.finish()
    scenario.runs += 1
    # 143 from gruponos, or -15 when the second signal struck as the process was exiting (a
    # shell shows both as 143)
    assert outcome.code in (0, 143, -15), outcome.output
    if outcome.code == 143 and outcome.stdout:
        assert json.loads(outcome.stdout)["status"] == "interrupted"
    quiet(changing_sim)
    for mode in ("full", "incremental"):
        again = run_child(env, "sync", mode, "--json")
        assert again.code == 0, again.output
    problems = check_equal(changing_sim, pg_url, scenario)
    assert not problems, problems


def test_a_killed_run_is_found_abandoned_by_the_next_run(
    pg_url: str, changing_sim: WmsSimulator
) -> None:
    scenario = COLLECTOR.scenario("signals")
    env = env_for(changing_sim, pg_url, GRUPONOS_WMS__PAGE_SIZE=str(PAGE))
    child = Watched(env, "sync", "full", "--json")
    assert child.wait_for("sync.batch_written", 2)
    run_id = json.loads(next(line for line in child.lines if '"run_id"' in line))["run_id"]
    assert child.kill()
    scenario.runs += 1
    scenario.kills += 1
    assert _history(pg_url, run_id) == "running"  # nobody said anything yet

    quiet(changing_sim)
    again = run_child(env, "sync", "incremental", "--json")
    assert again.code == 0, again.output
    shown = run_child(env, "runs", "show", run_id, "--json")
    report = shown.json()
    assert report["status"] == "abandoned", report
    assert again.json()["run_id"] in report["error"]
    assert report["finished_at"] is not None
