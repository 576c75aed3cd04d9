"""Load check of the API service: ``GET /api/v1/runs`` at a fixed rate, latency percentiles.

Starts ``gruponos api serve`` as a child process over a PostgreSQL sink (a schema of its own,
dropped afterwards) holding ``--runs`` recorded runs, authenticates with an API key, and sends
requests open-loop: request *i* leaves at ``start + i / rate`` whether or not earlier ones have
answered, so a slow server shows as latency instead of a lower rate. Prints one JSON document.

    python benchmarks/api_load.py --rate 200 --seconds 30      # nox -s api_load
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg

from gruponos.container import build_container
from gruponos.domain.checkpoints import SyncMode
from gruponos.domain.runs import EntityReport, RunStatus, SyncReport
from gruponos.entrypoints.api.auth import new_api_key
from gruponos.settings import Settings

PG_DSN = os.environ.get(  # noqa: TID251 - the benchmark's own setting
    "GRUPONOS_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
GRUPONOS = str(Path(sys.executable).with_name("gruponos"))


def _seed(url: str, runs: int) -> None:
    container = build_container(Settings(_env_file=None, sink={"url": url}))
    history = container.runs()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(runs):
        began = start + timedelta(minutes=15 * i)
        entities = tuple(
            EntityReport(e, SyncMode.INCREMENTAL, read=100, written=100, status=RunStatus.SUCCEEDED)
            for e in ("order_hdr", "order_dtl", "allocation")
        )
        report = SyncReport(f"run-{i:05d}", SyncMode.INCREMENTAL, began, triggered_by="bench")
        history.record(report.settled(entities, began + timedelta(seconds=40)))
    container.shutdown_resources()


class _Connection:
    """A keep-alive HTTP/1.1 connection that sends one GET at a time: a load generator this
    thin leaves the machine's CPUs to the server (httpx's own cost would be measured too)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def get(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await self.reader.readexactly(length)
        return status


async def _load(port: int, key: str, rate: float, seconds: float) -> dict[str, object]:
    total = int(rate * seconds)
    request = (
        f"GET /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"X-API-Key: {key}\r\nAccept: application/json\r\n\r\n"
    ).encode()
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(32):
        idle.put_nowait(_Connection(*await asyncio.open_connection("127.0.0.1", port)))
    latencies: list[float] = []
    errors: dict[str, int] = {}

    async def one() -> None:
        sent = time.perf_counter()
        connection = await idle.get()  # waiting for a free connection counts as latency
        try:
            status = await connection.get(request)
            if status != 200:
                errors[str(status)] = errors.get(str(status), 0) + 1
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            connection = _Connection(*await asyncio.open_connection("127.0.0.1", port))
        latencies.append(time.perf_counter() - sent)
        idle.put_nowait(connection)

    start = time.perf_counter()
    tasks = []
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not idle.empty():
        idle.get_nowait().writer.close()
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2)

    return {
        "requests": total,
        "achieved_rate": round(total / elapsed, 1),
        "errors": errors,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": round(ordered[-1] * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=500, help="runs in the history")
    parser.add_argument("--port", type=int, default=8781)
    args = parser.parse_args()

    schema = f"bench_api_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    url = f"{PG_DSN}{'&' if '?' in PG_DSN else '?'}options={quote(f'-csearch_path={schema}')}"
    key, digest = new_api_key()
    env = {
        **os.environ,  # noqa: TID251 - the child inherits the environment
        "GRUPONOS_SINK__URL": url,
        "GRUPONOS_API__KEYS": json.dumps([{"name": "bench", "role": "viewer", "sha256": digest}]),
        "GRUPONOS_API__MUTATIONS_PER_MINUTE": "1000",
        "GRUPONOS_LOG__LEVEL": "warning",
    }
    server = None
    try:
        _seed(url, args.runs)
        server = subprocess.Popen(
            [GRUPONOS, "--env-file", "/nonexistent", "api", "serve", "--port", str(args.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{args.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the API did not start")
            time.sleep(0.1)
        figures = asyncio.run(_load(args.port, key, args.rate, args.seconds))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "nox -s api_load  (python benchmarks/api_load.py "
        f"--rate {args.rate:g} --seconds {args.seconds:g} --runs {args.runs})",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "route": "GET /api/v1/runs (default page: 20 runs; API key; PostgreSQL history)",
        **figures,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
