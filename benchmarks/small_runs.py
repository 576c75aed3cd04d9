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
#: How an older tree's console script started the program (``--before-src``).
BEFORE_PROGRAM = (
    "import sys; sys.argv[0] = 'gruponos'; "
    "from gruponos.entrypoints.cli.main import main; sys.exit(main())"
)


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
    parser.add_argument(
        "--before-src",
        type=Path,
        help="also time an older tree's program (its src first on PYTHONPATH), interleaved "
        "with this one's: the 'before' rows of a no-regression check",
    )
    args = parser.parse_args()
    # An editable install has no bytecode of its own and this machine sets
    # PYTHONDONTWRITEBYTECODE: compile it once, as an installed wheel is (as nox -s bench does).
    package = Path(gruponos.__file__).parent
    for tree in (package, *([args.before_src] if args.before_src else [])):
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree)], check=True)
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
        # (label suffix, program, environment, schema): this tree's, and an older one's
        programs = [("", [GRUPONOS], env, SCHEMA)]
        if args.before_src:
            # the older tree's program as its console script ran it (main(), no GC pause)
            before = [sys.executable, "-c", BEFORE_PROGRAM]
            before_env = {
                **env,
                "PYTHONPATH": str(args.before_src),
                "GRUPONOS_SINK__URL": f"{PG}?options=-csearch_path%3D{SCHEMA}_before",
            }
            programs.append((" (before)", before, before_env, f"{SCHEMA}_before"))
        with psycopg.connect(PG, autocommit=True) as conn:
            for *_, schema in programs[1:]:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                conn.execute(f'CREATE SCHEMA "{schema}"')
        for _, program, program_env, _ in programs:
            timed([*program, "sync", "incremental"], program_env, cwd)  # loads everything
        changed = f"{args.changes:,} changed"
        results: dict[str, Timing] = {}
        for _ in range(args.runs):
            for suffix, program, program_env, _ in programs:
                for name, command in (
                    ("--version", [*program, "--version"]),
                    ("no change", [*program, "sync", "incremental"]),
                ):
                    wall, cpu = timed(command, program_env, cwd)
                    results.setdefault(name + suffix, Timing([], [])).wall.append(wall)
                    results[name + suffix].cpu.append(cpu)
        for _ in range(args.runs):
            # The changes, then one more record 10 minutes later: the next run's overlap
            # (checkpoint - 5 min) re-reads that one, not this round's changes again.
            sim.touch("allocation", args.changes)
            sim.advance_clock(600)
            sim.touch("allocation", 1)
            for suffix, program, program_env, _ in programs:
                wall, cpu = timed([*program, "sync", "incremental"], program_env, cwd)
                results.setdefault(changed + suffix, Timing([], [])).wall.append(wall)
                results[changed + suffix].cpu.append(cpu)
        targets = {"--version": "<= 0.15 s", "no change": "<= 0.5 s", changed: "<= 1.0 s"}
        print(f"\nN = {args.records:,} allocation rows loaded; gruponos {GRUPONOS}")
        print("| run | runs | wall s (median) | wall s (min) | CPU s (median) | target |")
        print("|---|---:|---:|---:|---:|---|")
        for name, timing in sorted(results.items(), key=lambda item: item[0]):
            print(timing.row(name, targets.get(name, "")))
        if args.hyperfine and shutil.which("hyperfine"):
            hyperfine(
                {"--version": f"{GRUPONOS} --version", "no change": f"{GRUPONOS} sync incremental"},
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
