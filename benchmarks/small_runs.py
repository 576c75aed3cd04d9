"""The small runs of issue 21, as a user starts them: ``gruponos --version``, an incremental
``gruponos sync`` with nothing changed, and one with 10,000 changed records.

Each is the ``gruponos`` command as its own process (interpreter start included) against the
simulator in another process (N ``allocation`` rows, already loaded by a first untimed run) and
the local PostgreSQL (schema ``bench_small``). Each changed run reads the changes, one record
changed 10 minutes after them (so that the next round's overlap does not re-read this round's
changes) and what the overlap re-reads. Wall time and CPU time (user + system) of the
command are medians over ``--runs``; ``--version`` and the no-change run are also timed by
hyperfine when it is installed (``--hyperfine``).

    python benchmarks/small_runs.py --records 100000 --runs 10 [--hyperfine] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

import gruponos

sys.path.insert(0, str(Path(__file__).parent))
from sim_process import SimulatorProcess

PG = "postgresql://postgres@127.0.0.1:5432/test"
SCHEMA = "bench_small"
GRUPONOS = str(Path(sys.executable).with_name("gruponos"))


@dataclass
class Timing:
    wall: list[float]
    cpu: list[float]

    def row(self, name: str, target: str) -> str:
        return (
            f"| {name} | {len(self.wall)} | {statistics.median(self.wall):.3f} |"
            f" {min(self.wall):.3f} | {statistics.median(self.cpu):.3f} | {target} |"
        )


def timed(command: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the command and its children) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-1500:].decode(errors="replace")
        sys.exit(f"{' '.join(command)} failed ({done.returncode}): {tail}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def hyperfine(commands: dict[str, str], runs: int, env: dict[str, str], cwd: str) -> None:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        args = ["hyperfine", "-N", "--warmup", "2", "--runs", str(runs), "--export-json", out.name]
        for name, command in commands.items():
            args += [f"--command-name={name}", command]  # "-n --version" reads as a flag
        subprocess.run(args, env=env, cwd=cwd, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--hyperfine", action="store_true", help="also time with hyperfine")
    parser.add_argument("--json", type=Path, help="also write the timings here")
    args = parser.parse_args()
    # An editable install has no bytecode of its own and this machine sets
    # PYTHONDONTWRITEBYTECODE: compile it once, as an installed wheel is (as nox -s bench does).
    package = Path(gruponos.__file__).parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{SCHEMA}"')
    with SimulatorProcess(args.records) as sim, tempfile.TemporaryDirectory() as cwd:
        env = {
            **os.environ,  # noqa: TID251 - the child inherits the environment
            "GRUPONOS_WMS__BASE_URL": sim.base_url,
            "GRUPONOS_WMS__USERNAME": "wms_user",
            "GRUPONOS_WMS__PASSWORD": "wms_password",
            "GRUPONOS_WMS__PAGE_SIZE": "1250",
            "GRUPONOS_SINK__URL": f"{PG}?options=-csearch_path%3D{SCHEMA}",
            "GRUPONOS_ENTITIES": "allocation",
        }
        version = [GRUPONOS, "--version"]
        sync = [GRUPONOS, "sync", "incremental"]
        timed(sync, env, cwd)  # the first run loads everything
        results = {"--version": Timing([], []), "no change": Timing([], [])}
        for _ in range(args.runs):
            for name, command in (("--version", version), ("no change", sync)):
                wall, cpu = timed(command, env, cwd)
                results[name].wall.append(wall)
                results[name].cpu.append(cpu)
        changed = f"{args.changes:,} changed"
        results[changed] = Timing([], [])
        for _ in range(args.runs):
            # The changes, then one more record 10 minutes later: the next run's overlap
            # (checkpoint - 5 min) re-reads that one, not this round's changes again.
            sim.touch("allocation", args.changes)
            sim.advance_clock(600)
            sim.touch("allocation", 1)
            wall, cpu = timed(sync, env, cwd)
            results[changed].wall.append(wall)
            results[changed].cpu.append(cpu)
        targets = {"--version": "<= 0.15 s", "no change": "<= 0.5 s", changed: "<= 1.0 s"}
        print(f"\nN = {args.records:,} allocation rows loaded; gruponos {GRUPONOS}")
        print("| run | runs | wall s (median) | wall s (min) | CPU s (median) | target |")
        print("|---|---:|---:|---:|---:|---|")
        for name, timing in results.items():
            print(timing.row(name, targets[name]))
        if args.hyperfine and shutil.which("hyperfine"):
            hyperfine(
                {"--version": f"{GRUPONOS} --version", "no change": " ".join(sync)},
                args.runs,
                env,
                cwd,
            )
        if args.json:
            args.json.write_text(
                json.dumps({k: {"wall": v.wall, "cpu": v.cpu} for k, v in results.items()})
            )


if __name__ == "__main__":
    main()
