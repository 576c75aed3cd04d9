"""Runs started over real HTTP (uvicorn on loopback, httpx) against the simulator into
PostgreSQL, through the in-process executor: the same run as the CLI's (issue 16).

The simulator answers some requests slowly (its SLOW fault) while a test needs a run to be
still going; waits poll the API until a condition holds, with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import psycopg
import pytest
from click.testing import CliRunner
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.api_settings import ApiSettings
from gruponos.container import build_container
from gruponos.domain.checkpoints import StateKey
from gruponos.entrypoints.api.app import create_app
from gruponos.entrypoints.cli.main import main
from gruponos.settings import Settings
from gruponos.simulator import FaultKind, SimulatorConfig, WmsSimulator
from support.api_auth import api_key
from support.api_server import serving
from support.sqlsink import pg_schema

pytestmark = pytest.mark.postgres

ENTITIES = ("order_hdr", "order_dtl", "allocation")
WMS_PASSWORD = "Api-Int-Wms-Pa55-3c1d"
FINAL = {"succeeded", "failed", "rejected", "interrupted", "cancelled", "abandoned"}


def _env(sim: WmsSimulator, url: str) -> dict[str, Any]:
    return {
        "entities": ENTITIES,
        "sink": {"url": url},
        "wms": {
            "base_url": sim.base_url,
            "username": "wms_user",
            "password": WMS_PASSWORD,
            "page_size": 25,
            "max_attempts": 4,
        },
        "sync": {"batch_size": 50, "read_parallelism": 1},
    }


def _cli_env(sim: WmsSimulator, url: str) -> dict[str, str]:
    return {
        "GRUPONOS_WMS__BASE_URL": sim.base_url,
        "GRUPONOS_WMS__USERNAME": "wms_user",
        "GRUPONOS_WMS__PASSWORD": WMS_PASSWORD,
        "GRUPONOS_WMS__PAGE_SIZE": "25",
        "GRUPONOS_SYNC__BATCH_SIZE": "50",
        "GRUPONOS_SYNC__READ_PARALLELISM": "1",
        "GRUPONOS_ENTITIES": ",".join(ENTITIES),
        "GRUPONOS_SINK__URL": url,
        "GRUPONOS_LOG__FORMAT": "json",
    }


@dataclass
class Api:
    client: httpx.Client
    sim: WmsSimulator
    url: str
    headers: dict[str, str]

    def start(self, pipeline: str, **extra: Any) -> httpx.Response:
        headers = {**self.headers, **extra.pop("headers", {})}
        return self.client.post(
            "/api/v1/runs", json={"pipeline": pipeline, **extra}, headers=headers
        )

    def run(self, run_id: str) -> dict[str, Any]:
        answer = self.client.get(f"/api/v1/runs/{run_id}", headers=self.headers)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def until(self, run_id: str, done: Any, seconds: float = 90.0) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while True:
            report = self.run(run_id)
            if done(report):
                return report
            assert time.monotonic() < deadline, f"run {run_id} stuck: {report}"
            threading.Event().wait(0.05)

    def finished(self, run_id: str) -> dict[str, Any]:
        return self.until(run_id, lambda r: r["status"] in FINAL)


@contextmanager
def api_over(sim: WmsSimulator, url: str) -> Iterator[Api]:
    key = api_key("scheduler", "operator")
    settings = Settings(
        _env_file=None,
        api=ApiSettings(keys=(key.entry,), mutations_per_minute=1000),
        **_env(sim, url),
    )
    container = build_container(settings)
    with (
        serving(create_app(container)) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        yield Api(client, sim, url, {"X-API-Key": key.secret})


def _simulator(**config: Any) -> WmsSimulator:
    return WmsSimulator(SimulatorConfig(password=WMS_PASSWORD, seed=7, **config))


def _live_rows(url: str, entity: str) -> dict[int, datetime]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            f'SELECT "ID", "MOD_TS" FROM "WMS_{entity.upper()}" WHERE "GNOS_DELETED_AT" IS NULL'
        ).fetchall()
    return {int(i): m for i, m in rows}


def _rows(url: str, entity: str) -> int:
    with psycopg.connect(url) as conn:
        try:
            found = conn.execute(f'SELECT COUNT(*) FROM "WMS_{entity.upper()}"').fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    return int(found[0]) if found else 0


def _counts(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    keys = ("entity", "status", "read", "written", "quarantined", "deleted")
    return [tuple(e[k] for k in keys) for e in report["entities"]]


def test_a_run_over_the_api_is_the_run_the_cli_would_make(pg_url: str) -> None:
    with _simulator(records=120) as sim, api_over(sim, pg_url) as api:
        accepted = api.start("full")
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["run_id"]
        assert accepted.headers["location"] == f"/api/v1/runs/{run_id}"
        report = api.finished(run_id)
        assert report["status"] == "succeeded", report
        assert report["triggered_by"] == "key:scheduler"
        for entity in ENTITIES:
            assert _live_rows(pg_url, entity) == sim.truth(entity)

        runner = CliRunner()
        # the CLI reads the same history row
        shown = runner.invoke(main, ["runs", "show", run_id, "--json"], env=_cli_env(sim, pg_url))
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.stdout) == report
        # and a CLI run of the same source into an empty database reports the same counts
        with pg_schema() as other:
            done = runner.invoke(main, ["sync", "full", "--json"], env=_cli_env(sim, other))
            assert done.exit_code == 0, done.output
            cli_report = json.loads(done.stdout)
        assert (cli_report["mode"], cli_report["status"]) == (report["mode"], report["status"])
        assert _counts(cli_report) == _counts(report)
        assert cli_report["totals"] == report["totals"]
        assert cli_report["triggered_by"].startswith("cli:")


def test_two_concurrent_starts_of_a_pipeline_give_one_202_and_one_409(pg_url: str) -> None:
    slow = {"fault_rate": 0.5, "fault_kinds": frozenset({FaultKind.SLOW}), "slow_seconds": 0.05}
    with _simulator(records=150, **slow) as sim, api_over(sim, pg_url) as api:
        barrier = threading.Barrier(2)
        answers: list[httpx.Response] = []

        def start() -> None:
            barrier.wait()
            answers.append(api.start("full"))

        threads = [threading.Thread(target=start) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(a.status_code for a in answers) == [202, 409]
        refused = next(a for a in answers if a.status_code == 409)
        assert refused.json()["code"] == "run.conflict"
        # the other pipeline does not conflict; the same Idempotency-Key gives the same run
        key = {"Idempotency-Key": "incr-1"}
        first = api.start("incremental", entities=["order_hdr"], headers=key)
        again = api.start("incremental", entities=["order_hdr"], headers=key)
        assert first.status_code == again.status_code == 202
        assert first.json()["run_id"] == again.json()["run_id"]
        for answer in (*answers, first):
            if answer.status_code == 202:
                assert api.finished(answer.json()["run_id"])["status"] == "succeeded"


def test_a_run_lock_held_elsewhere_is_a_409(pg_url: str) -> None:
    with _simulator(records=20) as sim, api_over(sim, pg_url) as api:
        # as a CLI run would: the run lock of (full, allocation), held by another session
        other = build_container(Settings(_env_file=None, **_env(sim, pg_url)))
        try:
            lease = unsafe_perform_io(
                other.state().lock(StateKey("full", "allocation"), "cli-run").unwrap()
            )
            refused = api.start("full")
            assert refused.status_code == 409
            assert "allocation" in refused.json()["detail"]
            assert api.start("full", entities=["order_hdr"]).status_code == 202
            lease.release()
        finally:
            other.shutdown_resources()


def test_cancel_ends_a_running_full_sync_cancelled_and_loses_nothing(pg_url: str) -> None:
    slow = {"fault_rate": 0.3, "fault_kinds": frozenset({FaultKind.SLOW}), "slow_seconds": 0.05}
    with _simulator(records=1500, **slow) as sim, api_over(sim, pg_url) as api:
        run_id = api.start("full").json()["run_id"]
        api.until(run_id, lambda r: r["status"] == "running")
        deadline = time.monotonic() + 60
        while _rows(pg_url, ENTITIES[0]) == 0:  # a batch is committed: the run is mid-way
            assert time.monotonic() < deadline
            threading.Event().wait(0.02)
        cancelled = api.client.post(f"/api/v1/runs/{run_id}/cancel", headers=api.headers)
        assert cancelled.status_code == 202, cancelled.text
        report = api.finished(run_id)
        assert report["status"] == "cancelled", report
        assert any(e["status"] == "cancelled" for e in report["entities"])
        again = api.client.post(f"/api/v1/runs/{run_id}/cancel", headers=api.headers)
        assert again.status_code == 409  # finished: nothing to cancel
        # nothing lost: the next run resumes and the tables equal the source
        sim.faults._rate = 0.0
        rerun = api.start("full").json()["run_id"]
        assert api.finished(rerun)["status"] == "succeeded"
        for entity in ENTITIES:
            assert _live_rows(pg_url, entity) == sim.truth(entity)
