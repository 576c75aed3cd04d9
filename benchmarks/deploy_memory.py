"""Peak memory (RSS) of each gruponos process a deployment runs: the sizing in docs/deployment.md.

    python benchmarks/deploy_memory.py [--records 100000]

Needs the local PostgreSQL (a schema of its own) and redis-server (a private one on a free port).
Measures the kernel's high-water mark of resident memory (``VmHWM`` in ``/proc/PID/status``) of:

- ``sync full`` in-process (the CronJob, cron or systemd timer): ``--records`` allocations;
- ``worker --concurrency 2`` while ``sync full --executor celery`` of the same records runs on
  it, and the ``sync --executor celery`` process waiting for the report;
- ``api serve`` (Celery executor) after start and after 2,000 requests (runs list, run detail,
  /metrics, /readyz) and one POST of a run;
- ``scheduler`` (Celery executor) after it fired an incremental run (every minute) that finished.

Prints a Markdown table (MiB).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from sim_process import SimulatorProcess

PG = os.getenv("GRUPONOS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
GRUPONOS = str(Path(sys.executable).with_name("gruponos"))
SCHEMA = "bench_deploy_memory"
KEY = "gnos_deploy-memory-measurement"


def peak_mib(pid: int) -> float:
    """The process's peak resident set size so far (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no VmHWM for {pid}")


def free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate, what: str, seconds: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def reset_schema() -> str:
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
    return f"{PG}?options=-csearch_path%3D{SCHEMA}"


def finished_runs() -> int:
    with psycopg.connect(PG) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s "
            "AND table_name = 'GNOS_RUNS'",
            (SCHEMA,),
        ).fetchone()
        if not rows or not rows[0]:
            return 0
        done = conn.execute(
            f'SELECT count(*) FROM {SCHEMA}."GNOS_RUNS" WHERE "FINISHED_AT" IS NOT NULL'
        ).fetchone()
    return int(done[0]) if done else 0


STARTED: list[subprocess.Popen[bytes]] = []


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [GRUPONOS, "--env-file", "/nonexistent/.env", "--progress", "never", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    STARTED.append(process)
    return process


def reap(process: subprocess.Popen[bytes], *, terminate: bool = False) -> float:
    """Wait for ``process`` (after SIGTERM when asked); its lifetime peak RSS in MiB, as the
    kernel reports it to the parent (``ru_maxrss`` of ``wait4``)."""
    if terminate:
        process.terminate()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024


class Rows:
    """The table, printed a row at a time (a later failure keeps the earlier figures)."""

    def __init__(self) -> None:
        print("| process | workload | peak RSS (MiB) |")
        print("|---|---|---:|", flush=True)

    def append(self, row: tuple[str, str, float]) -> None:
        process, workload, peak = row
        print(f"| `{process}` | {workload} | {peak:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    rows = Rows()
    with SimulatorProcess(args.records) as sim, tempfile.TemporaryDirectory() as temp:
        tmp = Path(temp)
        port = free_port()
        redis = subprocess.Popen(
            [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port),
             "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        env = {
            **os.environ,  # noqa: TID251 - passing the environment on
            "GRUPONOS_WMS__BASE_URL": sim.base_url,
            "GRUPONOS_WMS__USERNAME": "wms_user",
            "GRUPONOS_WMS__PASSWORD": "wms_password",
            "GRUPONOS_WMS__PAGE_SIZE": "1250",
            "GRUPONOS_ENTITIES": "allocation",
            "GRUPONOS_LOG__LEVEL": "info",  # the worker's worker.ready line is waited for
            "GRUPONOS_EXECUTOR__BROKER_URL": f"redis://127.0.0.1:{port}/0",
            "GRUPONOS_EXECUTOR__QUEUE": f"memory{port}",
        }
        n = f"{args.records:,} allocations"
        try:
            # 1. One-shot sync in-process (CronJob / cron / systemd timer).
            env["GRUPONOS_SINK__URL"] = reset_schema()
            sync = start(["sync", "full"], env, tmp / "sync.log")
            peak = reap(sync)
            if sync.returncode != 0:
                raise SystemExit((tmp / "sync.log").read_text()[-2000:])
            rows.append(("sync full (in-process)", n, peak))

            # 2. A worker running the same sync sent with --executor celery.
            env["GRUPONOS_SINK__URL"] = reset_schema()
            worker = start(["worker", "--concurrency", "2"], env, tmp / "worker.log")
            wait_for(lambda: "worker.ready" in (tmp / "worker.log").read_text(errors="replace"),
                     "the worker")  # fmt: skip
            sender = start(["sync", "full", "--executor", "celery"], env, tmp / "sender.log")
            sender_peak = reap(sender)
            if sender.returncode != 0:
                raise SystemExit((tmp / "sender.log").read_text()[-2000:])
            rows.append(("worker --concurrency 2", n, peak_mib(worker.pid)))
            rows.append(("sync --executor celery (waits)", n, sender_peak))

            # 3. The API service.
            api_port = free_port()
            digest = hashlib.sha256(KEY.encode()).hexdigest()
            api_env = {
                **env,
                "GRUPONOS_EXECUTOR__KIND": "celery",
                "GRUPONOS_API__PORT": str(api_port),
                "GRUPONOS_API__KEYS": json.dumps(
                    [{"name": "m", "role": "operator", "sha256": digest}]
                ),
            }
            api = start(["api", "serve"], api_env, tmp / "api.log")
            base = f"http://127.0.0.1:{api_port}"
            wait_for(lambda: answers(f"{base}/healthz"), "the API")
            rows.append(("api serve, started", "idle", peak_mib(api.pid)))
            headers = {"X-API-Key": KEY}
            post = urllib.request.Request(
                f"{base}/api/v1/runs",
                data=json.dumps({"pipeline": "incremental"}).encode(),
                headers={**headers, "Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(post, timeout=30) as response:
                response.read()
            for _ in range(500):
                for path in ("/api/v1/runs", "/api/v1/pipelines", "/metrics", "/readyz"):
                    request = urllib.request.Request(base + path, headers=headers)
                    with urllib.request.urlopen(request, timeout=30) as response:
                        response.read()
            rows.append(
                ("api serve, after 2,000 requests", "1 run posted", reap(api, terminate=True))
            )

            # 4. The scheduler: catch-up fires both pipelines on the worker.
            before = finished_runs()
            scheduler_env = {
                **env,
                "GRUPONOS_EXECUTOR__KIND": "celery",
                "GRUPONOS_SCHEDULE__HEALTH_PORT": str(free_port()),
                "GRUPONOS_SCHEDULE__INCREMENTAL": "* * * * *",  # fires within a minute
            }
            scheduler = start(["scheduler"], scheduler_env, tmp / "scheduler.log")
            wait_for(lambda: finished_runs() >= before + 1, "the scheduler's run", 300)
            time.sleep(5)
            rows.append(
                ("scheduler", "fired 1 run (on the worker)", reap(scheduler, terminate=True))
            )
            rows.append(
                (
                    "worker --concurrency 2, at the end",
                    "all of the above",
                    reap(worker, terminate=True),
                )
            )
        finally:
            for process in STARTED:  # whatever a failure left running
                if process.returncode is None and process.poll() is None:
                    process.kill()
                    process.wait(30)
            redis.terminate()
            redis.wait(30)


if __name__ == "__main__":
    main()
