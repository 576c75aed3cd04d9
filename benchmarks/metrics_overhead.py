"""The cost of metrics: gruponos' full sync with metrics off and on, interleaved (off, on, on,
off, ...) against one simulator, so that drift of the machine or the simulator hits both alike.

Three figures per run: the sync's own wall time (``SyncEntities.run``, as the runner prints it),
the process's wall time (interpreter start and imports included), and the process's CPU time
(user + system), which other load on the machine disturbs least.

python benchmarks/metrics_overhead.py [--records 100000] [--rounds 6]
(needs the local PostgreSQL, as pipeline_bench.py does; docs/performance.md quotes the output)
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import subprocess
import sys
import time

from pipeline_bench import RUNNERS, SimulatorProcess, _in_schema, reset_schema

_IN_SYNC = re.compile(r"([0-9.]+) s in the sync, ok=True")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    figures: dict[str, dict[str, list[float]]] = {
        name: {"off": [], "on": []} for name in ("sync", "process", "CPU")
    }
    with SimulatorProcess(args.records) as sim:
        for i in range(args.rounds):
            for mode in ("off", "on") if i % 2 == 0 else ("on", "off"):
                reset_schema("bench_gruponos")
                command = [
                    sys.executable,
                    str(RUNNERS / "gruponos_sync.py"),
                    sim.base_url,
                    _in_schema("bench_gruponos"),
                    "full",
                    *(["--metrics"] if mode == "on" else []),
                ]
                cpu_before, started = _children_cpu(), time.perf_counter()
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                wall, cpu = time.perf_counter() - started, _children_cpu() - cpu_before
                found = _IN_SYNC.search(done.stdout)
                if found is None:
                    sys.exit(f"the sync failed: {done.stdout[-500:]} {done.stderr[-1500:]}")
                sync = float(found.group(1))
                for name, value in (("sync", sync), ("process", wall), ("CPU", cpu)):
                    figures[name][mode].append(value)
                print(f"  metrics {mode}: sync {sync:.2f} s, process {wall:.2f} s, CPU {cpu:.2f} s")
    for name, by_mode in figures.items():
        off, on = statistics.median(by_mode["off"]), statistics.median(by_mode["on"])
        print(
            f"{name}: median off {off:.2f} s, on {on:.2f} s, on / off {on / off:.3f} "
            f"({(on / off - 1) * 100:+.1f} %); min off {min(by_mode['off']):.2f} s, "
            f"on {min(by_mode['on']):.2f} s"
        )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
