"""A full sync of ``allocation`` with the local executor and with 1, 2 and 4 Celery workers.

    python benchmarks/scaleout_bench.py --records 1000000 --setups local celery-1 celery-2 celery-4

Each setup loads the same simulator data (in a process of its own, not counted) into a fresh
PostgreSQL schema through the ``gruponos`` command, as a user starts it: ``gruponos sync full``
for ``local``; for ``celery-N``, N ``gruponos worker`` processes on a private ``redis-server``
and ``gruponos sync full --executor celery`` waiting for the report (20 windows of ids).
Measured: the wall time of
the sync command, records/s, and the CPU seconds of every gruponos process of the setup (the
command and the workers: user + system from ``/proc/<pid>/stat``, worker start-up excluded) per
100,000 records. The rows loaded are compared with the source's. The database's own CPU is not
counted (the same work in every setup).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from sim_process import SimulatorProcess

PG = os.getenv("GRUPONOS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
GRUPONOS = str(Path(sys.executable).with_name("gruponos"))
TICKS = os.sysconf("SC_CLK_TCK")
SCHEMA = "bench_scaleout"


@dataclass
class Row:
    setup: str
    records: int
    seconds: float
    cpu_seconds: float
    loaded: int
    ok: bool

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    @property
    def cpu_per_100k(self) -> float:
        return self.cpu_seconds / (self.records / 100_000)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` (all its threads) so far; 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reset_schema() -> str:
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
    return f"{PG}?options=-csearch_path%3D{SCHEMA}"


def loaded_rows() -> int:
    with psycopg.connect(PG) as conn:
        row = conn.execute(
            f'SELECT count(DISTINCT "ID") FROM {SCHEMA}."WMS_ALLOCATION" WHERE "GNOS_DELETED_AT" IS NULL'
        ).fetchone()
    return int(row[0]) if row else 0


def _wait_port(port: int) -> None:
    import socket  # noqa: PLC0415

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"redis-server did not start on {port}")


def _wait_ready(logs: list[Path]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all("worker.ready" in log.read_text(errors="replace") for log in logs):
            return
        time.sleep(0.1)
    raise SystemExit("the workers did not start: " + " ".join(str(p) for p in logs))


def run_setup(setup: str, records: int, sim: SimulatorProcess, tmp: Path) -> Row:
    sink_url = reset_schema()
    env = {
        **os.environ,  # noqa: TID251 - passing the environment on
        "GRUPONOS_WMS__BASE_URL": sim.base_url,
        "GRUPONOS_WMS__USERNAME": "wms_user",
        "GRUPONOS_WMS__PASSWORD": "wms_password",
        "GRUPONOS_WMS__PAGE_SIZE": "1250",
        "GRUPONOS_ENTITIES": "allocation",
        "GRUPONOS_SINK__URL": sink_url,
        "GRUPONOS_LOG__LEVEL": "warning",
    }
    redis: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = []
    command = [GRUPONOS, "--env-file", "/nonexistent/.env", "--progress", "never", "sync", "full"]
    if setup.startswith("celery-"):
        port = free_port()
        redis = subprocess.Popen(
            [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port),
             "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_port(port)
        env |= {
            "GRUPONOS_EXECUTOR__BROKER_URL": f"redis://127.0.0.1:{port}/0",
            "GRUPONOS_EXECUTOR__QUEUE": f"bench{port}",
            # 20 windows whatever the size, so that 4 workers have work to share
            "GRUPONOS_EXECUTOR__WINDOW_IDS": str(max(1000, records // 20)),
        }
        worker_env = env | {"GRUPONOS_LOG__LEVEL": "info"}  # worker.ready is an info line
        workers = [
            subprocess.Popen(
                [GRUPONOS, "--env-file", "/nonexistent/.env", "worker"],
                env=worker_env,
                stdout=subprocess.DEVNULL,
                stderr=(tmp / f"worker-{setup}-{i}.log").open("wb"),
            )
            for i in range(int(setup.split("-")[1]))
        ]
        command += ["--executor", "celery"]
    try:
        if workers:
            # The workers' start-up (imports, connections) is not the sync's work.
            _wait_ready([tmp / f"worker-{setup}-{i}.log" for i in range(len(workers))])
        before = sum(cpu_seconds(w.pid) for w in workers)
        started = time.perf_counter()
        before_children = os.times()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        after_children = os.times()
        cpu = (after_children.children_user - before_children.children_user) + (
            after_children.children_system - before_children.children_system
        )
        cpu += sum(cpu_seconds(w.pid) for w in workers) - before
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(60)
        if redis is not None:
            redis.terminate()
            redis.wait(30)
    if done.returncode != 0:
        print(f"  {setup} FAILED ({done.returncode}): {done.stderr[-1500:]}", file=sys.stderr)
    return Row(setup, records, seconds, cpu, loaded_rows(), done.returncode == 0)


def table(rows: list[Row]) -> str:
    header = (
        "| N | setup | wall s | records/s | CPU s (all gruponos processes) "
        "| CPU s per 100,000 | rows loaded / source |"
    )
    lines = [header, "|---:|---|---:|---:|---:|---:|---|"]
    lines += [
        f"| {r.records:,} | {r.setup} | {r.seconds:.2f} | {r.rate:,.0f} | {r.cpu_seconds:.1f} "
        f"| {r.cpu_per_100k:.2f} | {r.loaded} / {r.records}{'' if r.ok else ' FAILED'} |"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument(
        "--setups", nargs="+", default=["local", "celery-1", "celery-2", "celery-4"]
    )
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    with SimulatorProcess(args.records) as sim, tempfile.TemporaryDirectory() as tmp:
        for setup in args.setups:
            print(f"{setup}, N = {args.records:,}", flush=True)
            rows.append(run_setup(setup, args.records, sim, Path(tmp)))
            print(table(rows[-1:]), flush=True)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))


if __name__ == "__main__":
    main()
