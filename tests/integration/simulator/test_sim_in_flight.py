"""The simulator's own count of requests in flight (what tests of a client-side cap assert on)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from gruponos.simulator import FaultKind, SimulatorConfig, WmsSimulator
from gruponos.simulator.testing import DEFAULT_AUTH
from support.waiting import wait_for


def test_in_flight_and_its_peak_are_counted_per_run_of_the_server() -> None:
    # every data request is slowed by 2 s, so the five below are in flight at the same time
    config = SimulatorConfig(
        records=50, fault_rate=1.0, fault_kinds=frozenset({FaultKind.SLOW}), slow_seconds=2.0
    )
    sim = WmsSimulator(config)
    with sim, ThreadPoolExecutor(5) as pool:
        assert (sim.in_flight, sim.max_in_flight) == (0, 0)

        def get(_: int) -> int:
            with httpx.Client(auth=DEFAULT_AUTH, timeout=30) as client:
                return client.get(f"{sim.api_url}/entity/allocation/").status_code

        answers = pool.map(get, range(5))
        assert wait_for(lambda: sim.in_flight == 5), sim.in_flight
        assert list(answers) == [200] * 5
        assert wait_for(lambda: sim.in_flight == 0)
        assert sim.max_in_flight == 5
    sim.start()  # a new run of the server starts from zero
    try:
        assert (sim.in_flight, sim.max_in_flight) == (0, 0)
    finally:
        sim.stop()
