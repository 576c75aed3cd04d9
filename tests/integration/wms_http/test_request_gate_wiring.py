"""Which request gate the composition root gives the WMS sources, and how a limiter that does not
answer stops a run at start (one line, no password, no hang)."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gruponos.adapters.wms_http.gate import PostgresGate, RedisGate
from gruponos.container import StartupError, build_container
from gruponos.entrypoints.cli.main import main
from gruponos.settings import Settings, load_settings
from support.sqlsink import PG_DSN

REDIS_URL = os.getenv("GRUPONOS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
WMS = {
    "base_url": f"http://127.0.0.1:9/env-{uuid.uuid4().hex[:8]}",  # a cap name of its own
    "username": "wms_user",
    "password": "wms_password",
}


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    overrides.setdefault("sink", {"url": f"sqlite:///{tmp_path}/t.db"})
    overrides.setdefault("wms", WMS)
    return load_settings(env_file=None, **overrides).unwrap()


def gate_of(config: Settings) -> object:
    container = build_container(config)
    try:
        return container.request_gate()
    finally:
        container.shutdown_resources()


def test_local_runs_keep_only_the_process_cap(tmp_path: Path) -> None:
    assert gate_of(settings(tmp_path)) is None
    shared = {"kind": "celery", "shared_request_cap": "never"}
    assert gate_of(settings(tmp_path, executor=shared)) is None


def test_distributed_runs_share_the_cap_on_the_brokers_redis(tmp_path: Path) -> None:
    config = settings(tmp_path, executor={"kind": "celery", "broker_url": REDIS_URL})
    gate = gate_of(config)
    assert isinstance(gate, RedisGate)
    assert gate.limit == 8


def test_local_runs_share_it_when_told(tmp_path: Path) -> None:
    executor = {"shared_request_cap": "always", "limiter_url": REDIS_URL, "request_cap": 3}
    gate = gate_of(settings(tmp_path, executor=executor))
    assert isinstance(gate, RedisGate)
    assert gate.limit == 3


def test_without_redis_the_cap_lives_in_a_postgresql_sink(tmp_path: Path) -> None:
    executor = {"kind": "celery", "broker_url": "amqp://guest:guest@127.0.0.1:5672//"}
    config = settings(tmp_path, executor=executor, sink={"url": PG_DSN})
    assert isinstance(gate_of(config), PostgresGate)


def test_without_redis_or_postgresql_there_is_nowhere_to_share_it(tmp_path: Path) -> None:
    executor = {"kind": "celery", "broker_url": "amqp://guest:guest@127.0.0.1:5672//"}
    with pytest.raises(StartupError) as raised:
        gate_of(settings(tmp_path, executor=executor))
    assert raised.value.error.code == "config.no_limiter"
    assert "executor.limiter_url" in raised.value.error.message


def test_an_unreachable_limiter_stops_a_sync_at_start_in_one_line(tmp_path: Path) -> None:
    env = {
        "GRUPONOS_WMS__BASE_URL": WMS["base_url"],
        "GRUPONOS_WMS__USERNAME": "wms_user",
        "GRUPONOS_WMS__PASSWORD": "wms_password",
        "GRUPONOS_SINK__URL": f"sqlite:///{tmp_path}/t.db",
        "GRUPONOS_EXECUTOR__SHARED_REQUEST_CAP": "always",
        "GRUPONOS_EXECUTOR__LIMITER_URL": "redis://:hunter2@127.0.0.1:1/0",
    }
    started = time.monotonic()
    result = CliRunner().invoke(
        main,
        ["--env-file", "/nonexistent/.env", "--progress", "never", "sync", "full"],
        env=env,
        catch_exceptions=False,
    )
    assert time.monotonic() - started < 30  # an error, not a hang
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: the request limiter (Redis at redis://:***@127.0.0.1:1/0)")
    assert lines[0].endswith("[wms.limiter_unreachable]")
    assert "hunter2" not in result.output + result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_postgresql_limiter_is_a_startup_error(tmp_path: Path) -> None:
    executor = {"kind": "celery", "broker_url": "amqp://guest:guest@127.0.0.1:5672//"}
    sink = {"url": "postgresql://etl@127.0.0.1:1/db", "password": "pw-SECRET"}
    with pytest.raises(StartupError) as raised:
        gate_of(settings(tmp_path, executor=executor, sink=sink))
    assert raised.value.error.code == "wms.limiter_unreachable"
    assert "pw-SECRET" not in str(raised.value.error)
