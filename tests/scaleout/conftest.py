"""Fixtures of the scale-out suite: real ``gruponos worker`` processes, a private Redis (or the
machine's RabbitMQ), a PostgreSQL schema per test and the simulator over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gruponos.simulator import SimulatorConfig, WmsSimulator
from scaleout.rig import RedisServer, Schema, Workers, worker_env
from support.sqlsink import PG_DSN, pg_available

pytestmark = pytest.mark.postgres


@dataclass
class Deployment:
    """One deployment: the simulator, a sink schema, a broker, workers, the environment."""

    sim: WmsSimulator
    schema: Schema
    env: dict[str, str]
    workers: Workers


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def deploy(tmp_path: Path) -> Iterator[Callable[..., Deployment]]:
    """``deploy(records, broker_url, window_ids=...)``: the simulator with ``records`` allocations
    (the other entities tiny), a schema, and the environment; no worker started yet."""
    if not pg_available():
        pytest.skip(f"PostgreSQL is not reachable at {PG_DSN}")
    made: list[Deployment] = []
    sims: list[WmsSimulator] = []

    def make(records: int, broker_url: str, window_ids: int, **extra: str) -> Deployment:
        config = SimulatorConfig(
            records=records,
            entity_records={"order_hdr": 10, "order_dtl": 10},
            read_ahead=True,
            page_size_max=1250,
        )
        sim = WmsSimulator(config)
        sim.start()
        sims.append(sim)
        schema = Schema(PG_DSN)
        logs = tmp_path / f"logs-{len(made)}"
        logs.mkdir()
        env = worker_env(
            sim,
            schema.url,
            broker_url,
            f"so-{uuid.uuid4().hex[:10]}",
            GRUPONOS_EXECUTOR__WINDOW_IDS=str(window_ids),
            **extra,
        )
        deployment = Deployment(sim, schema, env, Workers(env, logs))
        made.append(deployment)
        return deployment

    yield make
    for deployment in made:
        deployment.workers.stop()
        deployment.schema.drop()
    for sim in sims:
        sim.stop()
