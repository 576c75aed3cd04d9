"""The WMS simulator in a child process, driven over a pipe (so a benchmark measures only the tool).

with SimulatorProcess(records=100_000) as sim:
    sim.base_url          # http://127.0.0.1:<port>/gruponos
    sim.touch("allocation", 10_000)
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from gruponos.simulator import SimulatorConfig, WmsSimulator

#: Entities other than the one measured are kept tiny: building them costs the simulator time.
_SMALL = 10


def _serve(records: int, entity: str, read_ahead: bool, latency: float, conn: Connection) -> None:
    small = {e: _SMALL for e in ("allocation", "order_hdr", "order_dtl") if e != entity}
    # latency only when asked for: a tree from before the latency mode (a "before" run with
    # PYTHONPATH pointing at it, docs/performance.md) still serves
    config = SimulatorConfig(
        records=records,
        entity_records=small,
        read_ahead=read_ahead,
        page_size_max=1250,
        **({"latency_seconds": latency} if latency else {}),
    )
    with WmsSimulator(config) as sim:
        conn.send((sim.base_url, sim.api_url))
        while True:
            command, args = conn.recv()
            if command == "stop":
                conn.send(None)
                return
            if command == "touch":
                conn.send(len(sim.touch(*args)))
            elif command == "count":
                conn.send(len(sim.truth(*args)))
            elif command == "advance":
                sim.advance_clock(*args)
                conn.send(None)
            elif command == "peak":  # most requests in flight at once since the last "peak"
                conn.send(sim.max_in_flight)
                sim.max_in_flight = sim.in_flight


class SimulatorProcess:
    """A :class:`WmsSimulator` with ``records`` rows of ``entity`` in its own process;
    ``latency`` seconds before every list/detail answer (the simulator's latency mode)."""

    def __init__(
        self,
        records: int,
        entity: str = "allocation",
        *,
        read_ahead: bool = True,
        latency: float = 0.0,
    ):
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_serve, args=(records, entity, read_ahead, latency, child), daemon=True
        )
        self._process.start()
        self.base_url, self.api_url = self._conn.recv()

    def _call(self, command: str, *args: Any) -> Any:
        self._conn.send((command, args))
        return self._conn.recv()

    def touch(self, entity: str, n: int) -> int:
        """Bump ``mod_ts`` of ``n`` rows; how many were touched."""
        return int(self._call("touch", entity, n))

    def count(self, entity: str) -> int:
        """Live rows of ``entity`` (the source's ground truth)."""
        return int(self._call("count", entity))

    def advance_clock(self, seconds: float) -> None:
        """Move the simulated WMS's clock on (the ``mod_ts`` of later changes)."""
        self._call("advance", seconds)

    def peak_in_flight(self) -> int:
        """The most requests the simulator answered at once since the last call."""
        return int(self._call("peak"))

    def stop(self) -> None:
        if self._process.is_alive():
            self._call("stop")
            self._process.join(30)

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
