"""The scale-out rig: a private ``redis-server`` the test can kill and restart, ``gruponos worker``
processes, a PostgreSQL schema per test, the simulator over HTTP, and the one check that matters:
the target equals the source (every id once, with the source's ``mod_ts``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from gruponos.simulator import WmsSimulator

GRUPONOS = str(Path(sys.executable).with_name("gruponos"))
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
RABBITMQ_URL = os.getenv("GRUPONOS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; ``AssertionError`` naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class RedisServer:
    """``redis-server`` on a free port with an append-only file (as a broker that must not lose
    a queued message on restart should be configured); :meth:`restart` stops it (SIGTERM: it
    writes its data) and starts it again on the same port and files."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._process = subprocess.Popen(  # noqa: S603 - the system's redis-server, fixed args
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: answers(self.port), 20, f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(30)
        self._process = None
        wait_until(lambda: not answers(self.port), 20, "redis-server to stop")

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class Workers:
    """``gruponos worker`` processes started with ``env``; their output kept in ``logs``."""

    env: Mapping[str, str]
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    started: int = 0

    def start(self, concurrency: int = 1) -> subprocess.Popen[bytes]:
        self.started += 1
        log = (self.logs / f"worker-{self.started}.log").open("wb")
        process = subprocess.Popen(  # noqa: S603 - our own entry point
            [
                GRUPONOS,
                "--env-file",
                "/nonexistent/.env",
                "--log-format",
                "json",
                "worker",
                "--concurrency",
                str(concurrency),
            ],
            env={**os.environ, **self.env},  # noqa: TID251 - passing the environment on
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.processes.append(process)
        return process

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.processes if p.poll() is None]

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(30)

    def stop(self) -> None:
        for process in self.alive():
            process.terminate()
        for process in self.processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(30)

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("*.log")))


@dataclass
class Schema:
    """A PostgreSQL schema of its own (dropped at the end) and its URL for gruponos."""

    dsn: str
    name: str = field(default_factory=lambda: f"so_{uuid.uuid4().hex[:12]}")

    def __post_init__(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA {self.name}")

    @property
    def url(self) -> str:
        sep = "&" if "?" in self.dsn else "?"
        return f"{self.dsn}{sep}options={quote(f'-csearch_path={self.name}')}"

    def drop(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA IF EXISTS {self.name} CASCADE")

    def rows(self, entity: str) -> list[tuple[int, datetime]]:
        """Every live row of ``WMS_<ENTITY>`` as ``(id, mod_ts)``, duplicates kept."""
        with psycopg.connect(self.url) as conn:
            found = conn.execute(
                f'SELECT "ID", "MOD_TS" FROM "WMS_{entity.upper()}" WHERE "GNOS_DELETED_AT" IS NULL'
            ).fetchall()
        return [(int(i), m) for i, m in found]

    def count(self, sql: str) -> int:
        with psycopg.connect(self.url) as conn:
            row = conn.execute(sql).fetchone()
        return int(row[0]) if row else 0


def assert_equals_source(schema: Schema, sim: WmsSimulator, entity: str) -> int:
    """No loss, no duplicate, every ``mod_ts`` the source's; how many rows were compared."""
    rows = schema.rows(entity)
    truth = sim.truth(entity)
    ids = [i for i, _ in rows]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} duplicate ids in {entity}"
    loaded = dict(rows)
    missing = truth.keys() - loaded.keys()
    extra = loaded.keys() - truth.keys()
    assert not missing, f"{len(missing)} ids of {entity} missing, e.g. {sorted(missing)[:5]}"
    assert not extra, f"{len(extra)} ids of {entity} not in the source, e.g. {sorted(extra)[:5]}"
    wrong = [i for i, ts in truth.items() if loaded[i] != ts]
    assert not wrong, f"{len(wrong)} rows of {entity} with another mod_ts, e.g. {wrong[:5]}"
    return len(truth)


def worker_env(
    sim: WmsSimulator, sink_url: str, broker_url: str, queue: str, **extra: str
) -> dict[str, str]:
    """The environment of every process of one deployment (workers and the CLI)."""
    return {
        "GRUPONOS_WMS__BASE_URL": sim.base_url,
        "GRUPONOS_WMS__USERNAME": "wms_user",
        "GRUPONOS_WMS__PASSWORD": "wms_password",
        "GRUPONOS_WMS__PAGE_SIZE": "1250",
        "GRUPONOS_ENTITIES": "allocation",
        "GRUPONOS_SINK__URL": sink_url,
        "GRUPONOS_EXECUTOR__KIND": "celery",
        "GRUPONOS_EXECUTOR__BROKER_URL": broker_url,
        "GRUPONOS_EXECUTOR__QUEUE": queue,
        "GRUPONOS_EXECUTOR__LEASE_SECONDS": "10",
        "GRUPONOS_EXECUTOR__VISIBILITY_TIMEOUT_SECONDS": "60",
        "GRUPONOS_LOG__LEVEL": "info",
        **extra,
    }


def gruponos(
    args: list[str], env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own entry point, fixed arguments
        [GRUPONOS, "--env-file", "/nonexistent/.env", "--progress", "never", *args],
        env={**os.environ, **env},  # noqa: TID251 - passing the environment on
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def sync_report(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-3000:]}"
    report: dict[str, Any] = json.loads(result.stdout)
    return report
