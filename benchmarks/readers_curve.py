"""Parallel readers (issue 21): the full sync with 1, 2, 4, 8 readers against a WMS far away
(the simulator's latency mode, 200 ms before every page), and the default against one reader on
loopback (no latency), where the default must not be slower.

Each run is ``benchmarks/runners/gruponos_sync.py ... full [--readers N]`` as its own process
into the local PostgreSQL (schema dropped and re-created before each run), the simulator in
another process. Runs are interleaved (round 1: every setting, round 2: every setting, ...) so
that the machine's drift hits them alike; the table gives medians of wall time (process start
included), of the process's CPU seconds (user + system) and the most requests the simulator
answered at once.

    python benchmarks/readers_curve.py --records 100000 --latency-ms 200 --runs 3
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from sim_process import SimulatorProcess

PG = "postgresql://postgres@127.0.0.1:5432/test"
SCHEMA = "bench_readers"
RUNNER = Path(__file__).parent / "runners" / "gruponos_sync.py"


def one_run(sim: SimulatorProcess, readers: int | None) -> tuple[float, float, int]:
    """Wall and CPU seconds of one full sync, and the simulator's peak of requests in flight."""
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{SCHEMA}"')
    command = [
        sys.executable,
        str(RUNNER),
        sim.base_url,
        f"{PG}?options=-csearch_path%3D{SCHEMA}",
        "full",
        *([] if readers is None else ["--readers", str(readers)]),
    ]
    sim.peak_in_flight()  # reset
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"readers={readers} failed: {(done.stdout + done.stderr)[-1500:].decode()}")
    with psycopg.connect(PG) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{SCHEMA}"."WMS_ALLOCATION"').fetchone()
    if row is None or row[0] != sim.count("allocation"):
        sys.exit(f"readers={readers}: loaded {row} rows, the source has {sim.count('allocation')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, sim.peak_in_flight()


def curve(records: int, latency: float, settings: list[int | None], runs: int) -> list[str]:
    results: dict[int | None, list[tuple[float, float, int]]] = {s: [] for s in settings}
    with SimulatorProcess(records, latency=latency) as sim:
        for round_ in range(runs):
            for readers in settings:
                measured = one_run(sim, readers)
                results[readers].append(measured)
                name = "default" if readers is None else f"{readers} reader(s)"
                print(
                    f"  latency {latency * 1000:.0f} ms, {name}, run {round_ + 1}: "
                    f"{measured[0]:.2f} s wall, {measured[1]:.2f} s CPU, {measured[2]} in flight",
                    flush=True,
                )
    base = statistics.median(w for w, _, _ in results[settings[0]])
    lines = []
    for readers, measured in results.items():
        wall = statistics.median(w for w, _, _ in measured)
        cpu = statistics.median(c for _, c, _ in measured)
        peak = max(p for _, _, p in measured)
        name = (
            "default (sync.read_parallelism 4, started on demand)" if readers is None else readers
        )
        lines.append(
            f"| {latency * 1000:.0f} ms | {name} | {len(measured)} | {wall:.2f} |"
            f" {base / wall:.2f}x | {cpu:.2f} | {peak} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--readers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-loopback", action="store_true", help="skip default vs 1 reader")
    parser.add_argument("--json", type=Path, help="also write the table lines here")
    args = parser.parse_args()
    header = [
        f"N = {args.records:,} allocation rows, full sync into PostgreSQL",
        (
            "| WMS latency | readers | runs | wall s (median) | speed-up vs first row |"
            " CPU s (median) | peak requests in flight |"
        ),
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    lines = curve(args.records, args.latency_ms / 1000, [*args.readers, None], args.runs)
    if not args.no_loopback:
        lines += curve(args.records, 0.0, [1, None], args.runs)
    print("\n".join(header + lines))
    if args.json:
        args.json.write_text(json.dumps(header + lines, indent=1))


if __name__ == "__main__":
    main()
