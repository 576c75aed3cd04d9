"""``/healthz`` and ``/metrics`` of the scheduler daemon, on a small stdlib HTTP server.

``/healthz`` answers 200 with the next fire times as JSON while the scheduler's loop is alive,
503 while it starts (catch-up) or once it stopped (Kubernetes' probes act on it); ``/metrics`` is the process's
Prometheus registry: the scheduler's fires and skips, and the runs it executes in process.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from gruponos.application.scheduling import Fire, FireOutcome


class ScheduleMetrics:
    """``gruponos_schedule_*`` on ``registry``: bounded labels (pipeline, outcome)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.fires = Counter(
            "gruponos_schedule_fires_total",
            "Scheduled fires by outcome: started, claimed_elsewhere, busy, failed, "
            "max_instances, missed.",
            ["pipeline", "outcome"],
            registry=registry,
        )
        self.last_fire = Gauge(
            "gruponos_schedule_last_fire_timestamp_seconds",
            "Unix time of the newest fire this scheduler started a run for.",
            ["pipeline"],
            registry=registry,
        )
        self.next_fire = Gauge(
            "gruponos_schedule_next_fire_timestamp_seconds",
            "Unix time of the pipeline's next fire.",
            ["pipeline"],
            registry=registry,
        )

    def count(self, fire: Fire) -> None:
        self.fires.labels(fire.pipeline, fire.outcome.value).inc()
        if fire.outcome is FireOutcome.STARTED:
            self.last_fire.labels(fire.pipeline).set(fire.fire_time.timestamp())

    def skip(self, pipeline: str, outcome: str) -> None:
        self.fires.labels(pipeline, outcome).inc()

    def set_next(self, fires: dict[str, datetime | None]) -> None:
        for pipeline, at in fires.items():
            if at is not None:
                self.next_fire.labels(pipeline).set(at.timestamp())


class HealthServer:
    """Serves ``/healthz`` and ``/metrics`` on ``host:port`` from a daemon thread."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        state: Callable[[], str],
        next_fires: Callable[[], dict[str, datetime | None]],
        metrics: ScheduleMetrics,
    ) -> None:
        handler = _handler(state, next_fires, metrics)
        self._server = ThreadingHTTPServer((host, port), handler)  # OSError: port taken
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="gruponos-scheduler-health", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler(
    state: Callable[[], str],
    next_fires: Callable[[], dict[str, datetime | None]],
    metrics: ScheduleMetrics,
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                fires = next_fires()
                status = state()
                body = json.dumps(
                    {
                        "status": status,
                        "next_fire": {
                            name: None if at is None else at.isoformat()
                            for name, at in sorted(fires.items())
                        },
                    },
                    sort_keys=True,
                ).encode()
                self._answer(200 if status == "ok" else 503, body, "application/json")
            elif path == "/metrics":
                metrics.set_next(next_fires())
                self._answer(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            else:
                self._answer(404, b'{"error": "not found"}', "application/json")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Probes every few seconds are not worth a log line each."""

    return Handler
