"""gruponos against dlt, the Singer stack and the floors, on the same simulator data and database.

Run by ``nox -s bench`` (not part of the tests). Each tool runs as its own process tree, with the
simulator in another process; for each: wall time, records/s, peak RSS of the whole process tree
(sampled from /proc), and the row count loaded against the source's.

    python benchmarks/pipeline_bench.py --sizes 100000 1000000 --runs 3 --cap 900
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import venv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from sim_process import SimulatorProcess

HERE = Path(__file__).parent
VENVS = HERE.parent / ".bench-venvs"
RUNNERS = HERE / "runners"
PG = "postgresql://postgres@127.0.0.1:5432/test"
#: dlt and target-postgres insist on a password; the local server trusts 127.0.0.1 and ignores it
PG_WITH_PASSWORD = "postgresql://postgres:trust@127.0.0.1:5432/test"
PAGE = os.sysconf("SC_PAGE_SIZE")
#: Each competitor in its own environment, installed with its ordinary client (pip).
TOOL_ENVS = {
    "dlt": ["dlt[postgres]"],
    "singer": ["tap-rest-api-msdk"],
    "target": ["meltanolabs-target-postgres"],
}


@dataclass
class Measure:
    seconds: float
    peak_rss_mb: float
    ok: bool
    capped: bool = False
    note: str = ""
    #: CPU seconds (user + system) of the tool's whole process tree, the simulator not included
    cpu_seconds: float = 0.0


@dataclass
class Result:
    tool: str
    records: int
    runs: list[Measure] = field(default_factory=list)
    loaded: int | None = None

    @property
    def seconds(self) -> float:
        return statistics.median(m.seconds for m in self.runs)

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    @property
    def rss(self) -> float:
        return max(m.peak_rss_mb for m in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(m.cpu_seconds for m in self.runs)


def ensure_envs(tools: set[str]) -> None:
    """The competitors' virtualenvs, for the tools asked for only."""
    wanted = {"dlt"} & tools | ({"singer", "target"} if "singer" in tools else set())
    for name, packages in TOOL_ENVS.items():
        if name not in wanted:
            continue
        python = VENVS / name / "bin" / "python"
        if not python.exists():
            venv.create(VENVS / name, with_pip=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)


def _group_rss(pgid: int) -> int:
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            if int(stat[stat.rindex(")") + 2 :].split()[2]) != pgid:
                continue
            total += int(Path(entry.path, "statm").read_text().split()[1]) * PAGE
        except (OSError, ValueError, IndexError):
            continue
    return total


def measure(
    command: Sequence[str] | str,
    *,
    cap: float,
    shell: bool = False,
    env: dict[str, str] | None = None,
) -> Measure:
    """Run ``command`` in its own process group; wall time and peak RSS of the whole group."""
    peak = 0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            command,
            shell=shell,
            executable="/bin/bash" if shell else None,
            start_new_session=True,
            env=env,
            stdout=log,
            stderr=log,
        )
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _group_rss(proc.pid))
                done.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        capped = False
        try:
            proc.wait(timeout=cap)
        except subprocess.TimeoutExpired:
            capped = True
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        seconds = time.perf_counter() - started
        # every process of the tree was waited for by its parent, so its CPU time is counted in
        # this process's children once ``proc`` is (not so for a capped run: its killed
        # grandchildren are reaped by init, so a capped run's CPU is a lower bound)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        done.set()
        sampler.join()
        log.seek(0)
        tail = log.read()[-1500:].decode(errors="replace")
    ok = proc.returncode == 0 and not capped
    if not ok and not capped:
        print(f"  FAILED ({proc.returncode}): {tail}", file=sys.stderr)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measure(seconds, peak / 2**20, ok, capped, "" if ok else tail, cpu)


def reset_schema(schema: str) -> None:
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema}"')


def count_rows(sql: str) -> int | None:
    try:
        with psycopg.connect(PG) as conn:
            row = conn.execute(sql).fetchone()
            return None if row is None else int(row[0])
    except psycopg.Error:
        return None


def _in_schema(schema: str) -> str:
    return f"{PG}?options=-csearch_path%3D{schema}"


@dataclass
class Tool:
    """One row of the table: how to run the tool once, and where its rows land."""

    name: str
    schema: str | None
    command: Callable[[], Sequence[str] | str]
    count_sql: str | None
    shell: bool = False
    env: dict[str, str] | None = None


def bench_size(
    n: int, runs: int, cap: float, tools: set[str], before_src: Path | None = None
) -> list[Result]:
    """Every tool ``runs`` times at ``n`` records, interleaved round by round (the machine's
    drift hits every tool alike); a tool capped once is not run again."""
    project_python = sys.executable
    with SimulatorProcess(n) as sim, tempfile.TemporaryDirectory() as tmp:
        source = sim.count("allocation")
        specs: list[Tool] = []

        def gruponos(schema: str, *options: str) -> Callable[[], list[str]]:
            return lambda: [
                project_python,
                str(RUNNERS / "gruponos_sync.py"),
                sim.base_url,
                _in_schema(schema),
                *options,
            ]

        def count(schema: str, table: str) -> str:
            return f'SELECT count(*) FROM "{schema}".{table}'

        floor = [project_python, str(RUNNERS / "floor.py"), sim.api_url]
        specs.append(Tool("floor-fetch", None, lambda: [*floor, "fetch"], None))
        specs.append(
            Tool(
                "floor-copy",
                "bench_floor",
                lambda: [*floor, "copy", PG, "bench_floor"],
                count("bench_floor", "allocation"),
            )
        )
        specs.append(
            Tool(
                "gruponos full",
                "bench_gruponos",
                gruponos("bench_gruponos", "full"),
                count("bench_gruponos", '"WMS_ALLOCATION"'),
            )
        )
        if before_src is not None:  # the same runner on an older tree's src (no-regression rows)
            specs.append(
                Tool(
                    "gruponos full (before)",
                    "bench_gruponos_before",
                    gruponos("bench_gruponos_before", "full"),
                    count("bench_gruponos_before", '"WMS_ALLOCATION"'),
                    env={**os.environ, "PYTHONPATH": str(before_src)},  # noqa: TID251
                )
            )
        specs.append(  # the same full sync with metrics on: their overhead (docs/performance.md)
            Tool(
                "gruponos-metrics full",
                "bench_gruponos_metrics",
                gruponos("bench_gruponos_metrics", "full", "--metrics"),
                count("bench_gruponos_metrics", '"WMS_ALLOCATION"'),
            )
        )
        dlt_python = str(VENVS / "dlt" / "bin" / "python")
        specs.append(
            Tool(
                "dlt",
                "bench_dlt",
                lambda: [
                    dlt_python,
                    str(RUNNERS / "dlt_load.py"),
                    sim.api_url,
                    PG_WITH_PASSWORD,
                    "bench_dlt",
                    f"{tmp}/dlt-{time.monotonic_ns()}",
                ],
                count("bench_dlt", "allocation"),
            )
        )
        tap_config = Path(tmp, "tap.json")
        origin = sim.base_url.split("/gruponos")[0]
        tap_config.write_text(
            json.dumps(
                {
                    "api_url": origin,
                    "auth_method": "basic",
                    "username": "wms_user",
                    "password": "wms_password",
                    "pagination_request_style": "jsonpath_paginator",
                    "pagination_response_style": "hateoas_body",
                    "next_page_token_path": "$.next_page",
                    "streams": [
                        {
                            "name": "allocation",
                            "path": "/gruponos/wms/lgfapi/v10/entity/allocation/",
                            "params": {
                                "page_mode": "sequenced",
                                "ordering": "id",
                                "page_size": 1250,
                            },
                            "primary_keys": ["id"],
                            "records_path": "$.results[*]",
                            "num_inference_records": 50,
                        }
                    ],
                }
            )
        )
        target_config = Path(tmp, "target.json")
        target_config.write_text(
            json.dumps(
                {
                    "host": "127.0.0.1",
                    "port": 5432,
                    "user": "postgres",
                    "password": "trust",
                    "database": "test",
                    "default_target_schema": "bench_singer",
                    "load_method": "upsert",
                    "use_copy": True,
                }
            )
        )
        tap = VENVS / "singer" / "bin" / "tap-rest-api-msdk"
        target = VENVS / "target" / "bin" / "target-postgres"
        specs.append(
            Tool(
                "singer",
                "bench_singer",
                lambda: (
                    f"set -o pipefail; {tap} --config {tap_config}"
                    f" | {target} --config {target_config}"
                ),
                count("bench_singer", "allocation"),
                shell=True,
            )
        )
        chosen = [t for t in specs if t.name.split(maxsplit=1)[0] in tools]
        done: dict[str, Result] = {t.name: Result(t.name, n) for t in chosen}
        for i in range(runs):
            for tool in chosen:
                result = done[tool.name]
                if any(m.capped for m in result.runs):
                    continue
                if tool.schema:
                    reset_schema(tool.schema)
                m = measure(tool.command(), cap=cap, shell=tool.shell, env=tool.env)
                result.runs.append(m)
                print(
                    f"  {tool.name} run {i + 1}: {m.seconds:.2f} s, {m.cpu_seconds:.2f} s CPU,"
                    f" {m.peak_rss_mb:.0f} MB, ok={m.ok}" + (" (capped)" if m.capped else ""),
                    flush=True,
                )
        for tool in chosen:
            done[tool.name].loaded = count_rows(tool.count_sql) if tool.count_sql else source
        results = list(done.values())
        if "gruponos" in tools:
            incremental: list[tuple[str, str, dict[str, str] | None]] = [
                ("gruponos incremental", "bench_gruponos", None)
            ]
            if before_src is not None:
                before_env = {**os.environ, "PYTHONPATH": str(before_src)}  # noqa: TID251
                incremental.append(
                    ("gruponos incremental (before)", "bench_gruponos_before", before_env)
                )
            for name, schema, env in incremental:
                # the incremental pipeline's first run reads everything; then 10,000 records
                # change, and the timed run reads them (and the overlap's re-reads)
                command = gruponos(schema, "incremental")()
                # one record changed 10 minutes after any earlier row's changes: the first run's
                # checkpoint, so the timed run's overlap does not re-read those changes
                sim.advance_clock(600)
                sim.touch("allocation", 1)
                measure(command, cap=cap, env=env)
                changed = sim.touch("allocation", 10_000)
                since = time.time()
                m = measure(command, cap=cap, env=env)
                print(
                    f"  {name} ({changed} changed): {m.seconds:.2f} s,"
                    f" {m.cpu_seconds:.2f} s CPU, ok={m.ok}"
                )
                touched = count_rows(
                    f'SELECT count(*) FROM "{schema}"."WMS_ALLOCATION"'
                    f' WHERE "GNOS_LOADED_AT" >= to_timestamp({since})'
                )
                results.append(Result(name, changed, [m], touched))
        for r in results:
            r.records = n if not r.tool.startswith("gruponos incremental") else r.records
        print(f"  source rows: {source}")
    return results


def table(results: list[Result]) -> str:
    base = {r.records: r for r in results if r.tool == "gruponos full"}
    lines = [
        (
            "| N | tool | runs | wall s (median) | records/s | gruponos speed-up | CPU s (median)"
            " | CPU s per 100K | peak RSS MB | rows loaded / source |"
        ),
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        capped = any(m.capped for m in r.runs)
        failed = any(not m.ok for m in r.runs)
        wall = f">{r.seconds:.0f} (capped)" if capped else f"{r.seconds:.2f}"
        rate = f"<{r.rate:,.0f}" if capped else f"{r.rate:,.0f}"
        g = base.get(r.records)
        ratio = (
            ""
            if g is None or r is g or r.tool.startswith("gruponos")
            else f"{g.rate / r.rate:.1f}x"
        )
        if capped and ratio:
            ratio = ">" + ratio
        loaded = f"{r.loaded} / {r.records}" + (" FAILED" if failed and not capped else "")
        per_100k = f"{r.cpu * 100_000 / r.records:.2f}" if not capped else ""
        lines.append(
            f"| {r.records:,} | {r.tool} | {len(r.runs)} | {wall} | {rate} | {ratio}"
            f" | {r.cpu:.2f} | {per_100k} | {r.rss:.0f} | {loaded} |"
        )
    floors = {r.records: r for r in results if r.tool == "floor-copy" and r.runs}
    for n, g in base.items():  # issue 21's targets: <= 1.3x the end-to-end floor
        f = floors.get(n)
        if f is not None and g.runs and not any(m.capped for m in f.runs + g.runs):
            lines.append(
                f"\n{n:,}: gruponos full / floor-copy = {g.seconds / f.seconds:.2f}x wall,"
                f" {g.cpu / f.cpu:.2f}x CPU"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3, help="runs per tool at the first size")
    parser.add_argument(
        "--runs-large", type=int, default=1, help="runs per tool at the other sizes"
    )
    parser.add_argument(
        "--before-src",
        type=Path,
        help="also run gruponos from this older tree's src (first on PYTHONPATH), interleaved: "
        "the 'before' rows of a no-regression check",
    )
    parser.add_argument("--cap", type=float, default=900, help="seconds before a run is stopped")
    parser.add_argument(
        "--tools", nargs="+", default=["floor-fetch", "floor-copy", "gruponos", "dlt", "singer"]
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--scaleout",
        nargs="*",
        metavar="SETUP",
        help="instead: gruponos with the local executor and with Celery workers at each size "
        "(benchmarks/scaleout_bench.py; default setups: local celery-1 celery-2 celery-4)",
    )
    args = parser.parse_args()
    if args.scaleout is not None:
        import scaleout_bench  # noqa: PLC0415 - only this benchmark

        setups = args.scaleout or ["local", "celery-1", "celery-2", "celery-4"]
        for n in args.sizes:
            scaleout_bench.main(["--records", str(n), "--setups", *setups])
        return
    ensure_envs(set(args.tools))
    results: list[Result] = []
    for i, n in enumerate(args.sizes):
        print(f"N = {n:,}", flush=True)
        runs = args.runs if i == 0 else args.runs_large
        results += bench_size(n, runs, args.cap, set(args.tools), args.before_src)
        print(table(results), flush=True)
    print(table(results))
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "tool": r.tool,
                        "records": r.records,
                        "seconds": [m.seconds for m in r.runs],
                        "peak_rss_mb": [m.peak_rss_mb for m in r.runs],
                        "cpu_seconds": [m.cpu_seconds for m in r.runs],
                        "capped": [m.capped for m in r.runs],
                        "loaded": r.loaded,
                    }
                    for r in results
                ],
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
