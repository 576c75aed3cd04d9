"""Issue 18's acceptance for the request cap: four ``gruponos sync full`` processes, four readers
each, through the Redis gate with the cap at 8, against one simulator over HTTP; the simulator's
own counters show it never had more than 8 requests in flight (and more than 4, so the requests
of different processes did overlap: a gate that did nothing would be caught; without the gate
the same run peaked at 11 and 12 here). 20-30 s on a 2-core machine: ``nox -s scaleout``.

The same through the Celery deployment: four ``gruponos worker`` processes of four threads, the
cap shared by default (``executor.kind=celery``) in the broker's Redis (~30 s; without the shared
cap the same run peaked at 16 here).
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from e2e.harness import GRUPONOS, child_env, wms_env
from gruponos.adapters.wms_http.gate import cap_name
from gruponos.simulator import SimulatorConfig, WmsSimulator
from scaleout.conftest import Deployment
from scaleout.rig import RedisServer, assert_equals_source, gruponos, sync_report

REDIS_URL = os.getenv("GRUPONOS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ENTITIES = ("order_hdr", "allocation")
WORKERS, READERS, CAP = 4, 4, 8


def worker_env(sim: WmsSimulator, sink: Path, **extra: str) -> dict[str, str]:
    return child_env(
        wms_env(
            sim,
            f"sqlite:///{sink}",
            GRUPONOS_WMS__PAGE_SIZE="25",
            GRUPONOS_WMS__MAX_ATTEMPTS="6",
            GRUPONOS_WMS__MAX_CONCURRENCY=str(READERS),
            GRUPONOS_ENTITIES=",".join(ENTITIES),
            GRUPONOS_SYNC__READ_PARALLELISM=str(READERS),
            GRUPONOS_SYNC__MIN_WINDOW_IDS="50",
            GRUPONOS_SYNC__BATCH_SIZE="500",
            GRUPONOS_EXECUTOR__SHARED_REQUEST_CAP="always",
            GRUPONOS_EXECUTOR__LIMITER_URL=REDIS_URL,
            GRUPONOS_EXECUTOR__REQUEST_CAP=str(CAP),
            GRUPONOS_LOG__LEVEL="warning",
            **extra,
        )
    )


@pytest.mark.slow
def test_four_workers_of_four_readers_never_exceed_the_cap(tmp_path: Path) -> None:
    # 300 ms per request, as a WMS far away: a sync adds readers while it waits for pages
    # (application/prefetch.py), so each process reads its 4 windows at once and the 16
    # readers' requests overlap. 400 ids per entity: 4 windows of 4 pages each.
    config = SimulatorConfig(records=400, seed=18, latency_seconds=0.3)
    with WmsSimulator(config) as sim:
        try:
            sinks = [tmp_path / f"worker{n}.db" for n in range(WORKERS)]
            workers = [
                subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
                    [GRUPONOS, "--env-file", "/nonexistent/.env", "sync", "full"],
                    env=worker_env(sim, sink),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for sink in sinks
            ]
            outputs = [worker.communicate(timeout=180) for worker in workers]
            for worker, (_, err) in zip(workers, outputs, strict=True):
                assert worker.returncode == 0, err[-2000:]
            peak = sim.max_in_flight
            truth = {entity: len(sim.truth(entity)) for entity in ENTITIES}
        finally:
            _forget_cap(sim)
    assert CAP >= peak > READERS, f"{peak} requests in flight at most"
    for sink in sinks:  # and every worker loaded everything
        with sqlite3.connect(sink) as db:
            for entity in ENTITIES:
                (rows,) = db.execute(f"SELECT count(*) FROM WMS_{entity.upper()}").fetchone()
                assert rows == truth[entity], (sink.name, entity)


def _forget_cap(sim: WmsSimulator) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"gruponos:cap:{{{cap_name(sim.base_url, 'wms_user')}}}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.mark.slow
@pytest.mark.postgres
def test_four_celery_workers_of_four_threads_never_exceed_the_cap(
    deploy: Callable[..., Deployment], redis_server: RedisServer
) -> None:
    # 16 windows of 1000 ids, 10 pages each: the 16 pool threads all have a window to read
    d = deploy(16_000, redis_server.url, window_ids=1000, GRUPONOS_WMS__PAGE_SIZE="100")
    d.sim.config = dataclasses.replace(d.sim.config, latency_seconds=0.3)  # read per request
    for _ in range(WORKERS):
        d.workers.start(concurrency=READERS)
    run = gruponos(["sync", "full", "--executor", "celery", "--json"], d.env, timeout=300)
    report = sync_report(run)
    peak = d.sim.max_in_flight
    assert report["status"] == "succeeded", report
    assert CAP >= peak > READERS, f"{peak} requests in flight at most"
    assert assert_equals_source(d.schema, d.sim, "allocation") == 16_000
