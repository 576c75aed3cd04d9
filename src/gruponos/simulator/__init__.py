"""A stand-in Oracle WMS Cloud server (lgfapi v10) for tests, demos and benchmarks.

>>> from gruponos.simulator import SimulatorConfig, WmsSimulator
>>> with WmsSimulator(SimulatorConfig(records=1000)) as sim:  # doctest: +SKIP
...     sim.base_url, sim.api_url, sim.token_url

See docs/simulator.md.
"""

from gruponos.simulator.config import ENTITIES, FaultKind, SimulatorConfig
from gruponos.simulator.server import WmsSimulator

__all__ = ["ENTITIES", "FaultKind", "SimulatorConfig", "WmsSimulator"]
