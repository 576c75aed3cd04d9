"""The source changes while gruponos reads it (the simulator's change mode, ~3 inserts, updates or
deletes per list request): after a final incremental run every live record is in the target in
its latest version, and after a full sync the target equals the source exactly (deletes too)."""

from __future__ import annotations

import pytest

from reliability.rig import (
    COLLECTOR,
    ENTITIES,
    check_equal,
    cli,
    env_for,
    quiet,
    simulator,
    snapshot,
)

pytestmark = pytest.mark.reliability


def test_changes_during_the_sync_are_all_caught_up(target_url: str) -> None:
    scenario = COLLECTOR.scenario("changes")
    sim = simulator(records=300, change_rate=3.0, change_seed=13)
    with sim:
        env = env_for(sim, target_url)
        for mode in ("full", "incremental", "incremental", "full", "incremental"):
            outcome = cli(env, "sync", mode, "--json")
            scenario.runs += 1
            assert outcome.code == 0, outcome.output[-3000:]
        changes = sum(len(sim.deleted_ids(e)) for e in ENTITIES)
        assert changes > 0
        quiet(sim)

        outcome = cli(env, "sync", "incremental", "--json")
        scenario.runs += 1
        assert outcome.code == 0, outcome.output[-3000:]
        for entity in ENTITIES:
            truth, target = sim.truth(entity), snapshot(target_url, entity)
            lost = [i for i, ts in truth.items() if target.get(i) != ts]
            scenario.records_checked += len(truth)
            scenario.losses += len(lost)
            assert not lost, f"{entity}: {len(lost)} live records missing or stale: {lost[:5]}"
            # rows deleted since the last full sync stay until the next full sync
            assert set(target) - set(truth) <= sim.deleted_ids(entity)

        outcome = cli(env, "sync", "full", "--json")
        scenario.runs += 1
        assert outcome.code == 0, outcome.output[-3000:]
        assert not (problems := check_equal(sim, target_url, scenario)), problems
        verified = cli(env, "verify", "--json")
        scenario.runs += 1
        assert verified.code == 0, verified.stdout
