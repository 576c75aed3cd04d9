"""Two syncs of the same pipeline at once: the second one refuses each entity the first holds with
``state.locked`` (naming the holder) or waits; nothing is lost or duplicated."""

from __future__ import annotations

import pytest

from gruponos.simulator import FaultKind
from reliability.rig import (
    COLLECTOR,
    Outcome,
    Watched,
    check_equal,
    cli,
    env_for,
    quiet,
    simulator,
)

pytestmark = pytest.mark.reliability


def _locked_entities(outcome: Outcome) -> list[str]:
    assert outcome.traceback is None, outcome.traceback
    if outcome.code == 0:  # it waited for the lock
        return []
    assert outcome.code == 1, outcome.output[-3000:]
    failed = [e for e in outcome.json()["entities"] if e["status"] == "failed"]
    for entity in failed:
        assert entity["error"].startswith("[state.locked] the run lock is held by"), entity
    return [e["entity"] for e in failed]


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_a_second_run_of_the_same_pipeline_refuses_or_waits(mode: str, target_url: str) -> None:
    scenario = COLLECTOR.scenario("concurrency")
    # every page is slow (0.1 s), so the first run holds its lock long enough
    sim = simulator(
        records=200, fault_rate=1.0, fault_kinds=frozenset({FaultKind.SLOW}), slow_seconds=0.1
    )
    with sim:
        env = env_for(sim, target_url)
        first = Watched(env, "sync", mode, "--json")
        assert first.wait_for("sync.batch_written")
        second = cli(env, "sync", mode, "--json")
        refused = _locked_entities(second)
        outcome = first.finish()
        refused += _locked_entities(outcome)
        scenario.runs += 2
        assert refused, "one of two concurrent runs must have found the lock held"
        scenario.error_codes["state.locked"] += len(refused)
        scenario.faults_injected += sum(sim.faults.injected.values())
        quiet(sim)
        final = cli(env, "sync", mode, "--json")
        scenario.runs += 1
        assert final.code == 0, final.output[-3000:]
        assert not (problems := check_equal(sim, target_url, scenario)), problems
