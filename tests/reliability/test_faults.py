"""Faults of every kind the simulator injects, at 1 %, 10 % and 30 % of list requests (plus one
forced fault at the start of every run, so even the 1 % runs meet their kind): every run either
completes with target == source or fails with a typed error, and a re-run then completes."""

from __future__ import annotations

import re
import zlib

import pytest

from gruponos.simulator import FaultKind, WmsSimulator
from reliability.rig import (
    COLLECTOR,
    ENTITIES,
    Scenario,
    check_checkpoints,
    check_equal,
    cli,
    env_for,
    injected,
    quiet,
    simulator,
)

pytestmark = pytest.mark.reliability

RATES = (0.01, 0.10, 0.30)
#: a slow answer takes 0.5 s; the client gives up after 0.3 s and retries
SLOW_SECONDS = 0.5
TIMEOUT = "0.3"
TYPED_ERROR = re.compile(r"^\[((?:wms|sink|state)\.[a-z_]+)\] \S")


def _sync_until_done(
    sim: WmsSimulator, env: dict[str, str], mode: str, scenario: Scenario, *, reruns: int = 2
) -> None:
    """Run ``mode``; after a failure (which must be typed and clear) re-run, faults still on, up to
    ``reruns`` times, then once more after the outage (no faults): that run must complete."""
    for attempt in range(reruns + 2):
        if attempt == reruns + 1:
            quiet(sim)
        outcome = cli(env, "sync", mode, "--json")
        scenario.runs += 1
        assert outcome.traceback is None, outcome.traceback
        if outcome.code == 0:
            assert outcome.json()["status"] == "succeeded"
            return
        assert outcome.code == 1, outcome.output
        scenario.failed_runs += 1
        report = outcome.json()
        assert report["status"] == "failed", report
        errors = [e["error"] for e in report["entities"] if e["status"] == "failed"]
        assert errors, report
        for error in errors:
            # each failed entity names a typed error: "[wms.retries_exhausted] the WMS request..."
            typed = TYPED_ERROR.match(error)
            assert typed, error
            scenario.error_codes[typed.group(1)] += 1
    pytest.fail(f"{mode} did not complete after the outage ended")


def _fault_run(sim: WmsSimulator, url: str, kind: FaultKind | None, scenario: Scenario) -> None:
    oauth2 = kind is None or kind is FaultKind.TOKEN_EXPIRED
    env = env_for(
        sim, url, oauth2=oauth2, GRUPONOS_WMS__TIMEOUT_SECONDS=TIMEOUT, GRUPONOS_WMS__PAGE_SIZE="50"
    )
    before = injected(sim)
    if kind is not None:
        sim.force_fault(kind, 1)
    _sync_until_done(sim, env, "full", scenario)
    assert not (problems := check_equal(sim, url, scenario)), problems
    assert not (ahead := check_checkpoints(sim, url, scenario)), ahead

    # the source changes; an incremental run under the same faults catches up
    sim.faults._rate = sim.config.fault_rate
    for entity in ENTITIES:
        sim.touch(entity, 20)
        sim.insert(entity, 10)
    if kind is not None:
        sim.force_fault(kind, 1)
    _sync_until_done(sim, env, "incremental", scenario)
    assert not (problems := check_equal(sim, url, scenario)), problems
    assert not (ahead := check_checkpoints(sim, url, scenario)), ahead
    scenario.faults_injected += injected(sim) - before


@pytest.mark.parametrize("rate", RATES, ids=lambda r: f"{r:.0%}")
@pytest.mark.parametrize("kind", list(FaultKind), ids=lambda k: k.value)
def test_each_fault_kind_sqlite(kind: FaultKind, rate: float, sqlite_url: str) -> None:
    scenario = COLLECTOR.scenario(f"faults_{kind.value}")
    seed = zlib.crc32(f"{kind.value}/{rate}".encode()) % 10_000
    sim = simulator(
        records=250,
        fault_rate=rate,
        fault_kinds=frozenset({kind}),
        fault_seed=seed,
        slow_seconds=SLOW_SECONDS,
    )
    with sim:
        _fault_run(sim, sqlite_url, kind, scenario)


@pytest.mark.postgres
@pytest.mark.parametrize("rate", RATES, ids=lambda r: f"{r:.0%}")
def test_every_fault_kind_mixed_postgres(rate: float, pg_url: str) -> None:
    scenario = COLLECTOR.scenario("faults_mixed_postgres")
    sim = simulator(
        records=250, fault_rate=rate, fault_seed=int(rate * 1000), slow_seconds=SLOW_SECONDS
    )
    with sim:
        _fault_run(sim, pg_url, None, scenario)
