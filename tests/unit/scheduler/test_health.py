"""``/healthz`` and ``/metrics`` of the scheduler on a real socket (port chosen by the OS)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from gruponos.adapters.scheduler.health import HealthServer, ScheduleMetrics
from gruponos.application.scheduling import Fire, FireOutcome

T0 = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_healthz_follows_the_scheduler_state_and_metrics_count_fires() -> None:
    state = ["starting"]
    metrics = ScheduleMetrics(CollectorRegistry())
    server = HealthServer(
        "127.0.0.1",
        0,
        state=lambda: state[0],
        next_fires=lambda: {"full": T0, "incremental": None},
        metrics=metrics,
    )
    server.start()
    try:
        status, body = _get(server.port, "/healthz")
        assert (status, json.loads(body)["status"]) == (503, "starting")
        state[0] = "ok"
        status, body = _get(server.port, "/healthz")
        assert status == 200
        assert json.loads(body) == {
            "next_fire": {"full": "2026-12-03T18:00:00+00:00", "incremental": None},
            "status": "ok",
        }
        metrics.count(Fire("full", T0, FireOutcome.STARTED, run_id="r1"))
        metrics.count(Fire("full", T0, FireOutcome.BUSY))
        metrics.skip("incremental", "missed")
        status, text = _get(server.port, "/metrics")
        assert status == 200
        for line in (
            'gruponos_schedule_fires_total{outcome="started",pipeline="full"} 1.0',
            'gruponos_schedule_fires_total{outcome="busy",pipeline="full"} 1.0',
            'gruponos_schedule_fires_total{outcome="missed",pipeline="incremental"} 1.0',
            # T0 (1796320800) as the exposition format writes it
            'gruponos_schedule_last_fire_timestamp_seconds{pipeline="full"} 1.7963208e+09',
            'gruponos_schedule_next_fire_timestamp_seconds{pipeline="full"} 1.7963208e+09',
        ):
            assert line in text.decode(), line
        state[0] = "stopped"
        assert _get(server.port, "/healthz")[0] == 503
        assert _get(server.port, "/other")[0] == 404
    finally:
        server.close()
