"""Distributed full syncs on real ``gruponos worker`` processes: the target must equal the source
(every id once, with the source's ``mod_ts``) whatever happens to the workers and the broker.

One small sync (20,000 records, two workers, ~15 s) runs in the default session; the others are
``slow`` and run in ``nox -s scaleout``.
"""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from gruponos.adapters.executors.celery_app import TASK, celery_app
from gruponos.domain.scaleout import Task
from scaleout.conftest import Deployment
from scaleout.rig import (
    GRUPONOS,
    RABBITMQ_URL,
    RedisServer,
    answers,
    assert_equals_source,
    gruponos,
    sync_report,
    wait_until,
)

pytestmark = pytest.mark.postgres

SMALL = 20_000
BIG = 1_000_000


def _start_sync(d: Deployment) -> subprocess.Popen[str]:
    """``gruponos sync full --executor celery --json``, waiting for the report."""
    return subprocess.Popen(  # noqa: S603 - our own entry point
        [
            GRUPONOS,
            "--env-file",
            "/nonexistent/.env",
            "--progress",
            "never",
            "sync",
            "full",
            "--executor",
            "celery",
            "--json",
        ],
        env={**os.environ, **d.env},  # noqa: TID251 - passing the environment on
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _report(process: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    out, err = process.communicate(timeout=timeout)
    return sync_report(subprocess.CompletedProcess(process.args, process.returncode, out, err))


def _loaded(d: Deployment) -> int:
    """Rows committed so far (0 before the table exists)."""
    try:
        return d.schema.count('SELECT count(*) FROM "WMS_ALLOCATION"')
    except psycopg.Error:
        return 0


def _check(d: Deployment, report: dict[str, Any], records: int) -> None:
    assert report["status"] == "succeeded", report
    assert assert_equals_source(d.schema, d.sim, "allocation") == records
    (entity,) = [e for e in report["entities"] if e["entity"] == "allocation"]
    assert entity["read"] >= records
    # Every record written once: a window re-read after a kill only re-writes its uncommitted
    # batch, and the monotonic upsert counts a same-version row as stale, not written.
    assert entity["written"] == records, entity


def test_two_workers_load_the_source_exactly(
    deploy: Callable[..., Deployment], redis_server: RedisServer
) -> None:
    d = deploy(SMALL, redis_server.url, window_ids=2000)
    d.workers.start()
    d.workers.start()
    _check(d, _report(_start_sync(d), timeout=120), SMALL)
    assert "Traceback" not in d.workers.output()


@pytest.mark.slow
def test_one_worker_with_two_threads_loads_the_source_exactly(
    deploy: Callable[..., Deployment], redis_server: RedisServer
) -> None:
    d = deploy(SMALL, redis_server.url, window_ids=2000)
    d.workers.start(concurrency=2)  # a container (a database connection) per pool thread
    _check(d, _report(_start_sync(d), timeout=120), SMALL)


@pytest.mark.slow
def test_a_window_task_sent_twice_on_purpose_writes_nothing_twice(
    deploy: Callable[..., Deployment], redis_server: RedisServer
) -> None:
    d = deploy(SMALL, redis_server.url, window_ids=2000)
    d.workers.start()
    d.workers.start()
    no_wait = gruponos(["sync", "full", "--executor", "celery", "--no-wait"], d.env, timeout=60)
    assert no_wait.returncode == 0, no_wait.stderr
    run_id = no_wait.stdout.strip()
    app = celery_app(redis_server.url, d.env["GRUPONOS_EXECUTOR__QUEUE"], 60.0)
    for index in (0, 1, 2):
        for _ in range(2):  # on top of the coordinator's own message: three deliveries each
            app.send_task(TASK, args=(Task(run_id, "window", "allocation", index).to_json(),))

    def finished() -> bool:
        shown = gruponos(["runs", "show", run_id, "--json"], d.env, timeout=60)
        return shown.returncode == 0 and '"status": "succeeded"' in shown.stdout

    wait_until(finished, 120, f"run {run_id} to succeed")
    shown = gruponos(["runs", "show", run_id, "--json"], d.env, timeout=60)
    _check(d, sync_report(shown), SMALL)


@pytest.mark.slow
def test_no_wait_prints_the_run_id_and_the_report_is_in_the_history(
    deploy: Callable[..., Deployment], redis_server: RedisServer
) -> None:
    d = deploy(2000, redis_server.url, window_ids=1000)
    sent = gruponos(["sync", "full", "--executor", "celery", "--no-wait"], d.env, timeout=60)
    assert sent.returncode == 0, sent.stderr
    run_id = sent.stdout.strip()
    shown = gruponos(["runs", "show", run_id, "--json"], d.env, timeout=60)
    assert '"status": "running"' in shown.stdout or '"status": "queued"' in shown.stdout
    d.workers.start()  # the run waits in the broker until a worker comes
    wait_until(
        lambda: '"succeeded"' in gruponos(["runs", "show", run_id, "--json"], d.env, 60).stdout,
        120,
        "the run to succeed",
    )
    assert_equals_source(d.schema, d.sim, "allocation")


@pytest.mark.slow
def test_sigterm_stops_a_worker_gracefully_and_another_finishes_its_window(
    deploy: Callable[..., Deployment], redis_server: RedisServer
) -> None:
    d = deploy(60_000, redis_server.url, window_ids=30_000)
    first = d.workers.start()
    sync = _start_sync(d)
    wait_until(lambda: _loaded(d) >= 5000, 120, "the first batches")
    first.terminate()  # SIGTERM: the batch in flight commits, the window is sent again
    assert first.wait(60) == 0
    d.workers.start()
    _check(d, _report(sync, timeout=240), 60_000)


@pytest.mark.slow
def test_a_million_records_on_two_workers(
    deploy: Callable[..., Deployment], redis_server: RedisServer
) -> None:
    d = deploy(BIG, redis_server.url, window_ids=100_000)
    d.workers.start()
    d.workers.start()
    _check(d, _report(_start_sync(d), timeout=600), BIG)


@pytest.mark.slow
def test_a_million_records_with_a_worker_killed_three_times(
    deploy: Callable[..., Deployment], redis_server: RedisServer
) -> None:
    d = deploy(BIG, redis_server.url, window_ids=50_000)
    d.workers.start()
    d.workers.start()
    sync = _start_sync(d)
    moments = sorted(random.Random().sample(range(100_000, 850_000, 10_000), 3))
    for moment in moments:

        def reached(m: int = moment) -> bool:
            return _loaded(d) >= m

        wait_until(reached, 400, f"{moment:,} rows loaded")
        victim = random.choice(d.workers.alive())
        d.workers.kill(victim)  # kill -9: its window's lease expires, the reaper sends it again
        d.workers.start()
    _check(d, _report(sync, timeout=600), BIG)


@pytest.mark.slow
def test_a_million_records_with_redis_restarted_mid_run(
    deploy: Callable[..., Deployment], redis_server: RedisServer
) -> None:
    d = deploy(BIG, redis_server.url, window_ids=50_000)
    d.workers.start()
    d.workers.start()
    sync = _start_sync(d)
    wait_until(lambda: _loaded(d) >= 300_000, 400, "300,000 rows loaded")
    redis_server.restart()
    _check(d, _report(sync, timeout=600), BIG)


@pytest.mark.slow
def test_a_million_records_with_rabbitmq_as_the_broker(deploy: Callable[..., Deployment]) -> None:
    if not answers(5672):
        pytest.skip("RabbitMQ is not running on 127.0.0.1:5672")
    d = deploy(BIG, RABBITMQ_URL, window_ids=100_000)
    try:
        d.workers.start()
        d.workers.start()
        _check(d, _report(_start_sync(d), timeout=600), BIG)
    finally:
        app = celery_app(RABBITMQ_URL, d.env["GRUPONOS_EXECUTOR__QUEUE"], 60.0)
        with app.connection_for_write() as connection:
            connection.default_channel.queue_delete(d.env["GRUPONOS_EXECUTOR__QUEUE"])
