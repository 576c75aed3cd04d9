"""End to end with the real servers (Debian's ``prometheus``, ``prometheus-alertmanager`` and
``prometheus-pushgateway``): ``nox -s monitoring`` (needs the binaries; the session installs
them when missing). Marked ``slow``: the default run leaves it out.

- Prometheus scrapes a running gruponos service (``gruponos metrics serve --sync full``): after
  its sync against the simulator the scraped counters equal the run report it printed.
- A second service with the WMS password wrong: ``GruponosSyncFailed`` (deploy/prometheus)
  fires in Prometheus and Alertmanager delivers it to a local webhook receiver.
- A one-shot ``gruponos sync`` pushes its final metrics to the Pushgateway; Prometheus scrapes
  them from there with the pipeline label.

Every server is a child process with its own config and data under a tmp dir, on free ports.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from gruponos.simulator.config import SimulatorConfig
from gruponos.simulator.server import WmsSimulator

from .conftest import Receiver, free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
GRUPONOS = str(Path(sys.executable).with_name("gruponos"))
BINARIES = ("prometheus", "prometheus-alertmanager", "prometheus-pushgateway")
COUNTERS = {
    "read": "gruponos_records_read_total",
    "written": "gruponos_records_written_total",
    "stale": "gruponos_records_unchanged_total",
    "quarantined": "gruponos_records_quarantined_total",
    "deleted": "gruponos_records_soft_deleted_total",
}
T = TypeVar("T")


def _environment() -> dict[str, str]:
    return dict(os.environ)  # noqa: TID251 - the child processes' environment, not settings


def _missing() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None]


@contextmanager
def _child(args: list[str], log: Path, **kwargs: Any) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, **kwargs)  # noqa: S603 - fixed binaries
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait(what: str, probe: Callable[[], T | None], timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = probe()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(0.5)  # polling a server's state, not timing anything
    raise AssertionError(f"timed out waiting for {what}")


def _query(prom: str, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=5).json()
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def _equals(prom: str, expr: str, expected: float) -> bool:
    """Whether Prometheus's latest sample of ``expr`` is ``expected`` (a scrape taken while the
    run was under way can still be the latest one for a moment)."""
    result = _query(prom, expr)
    return bool(result) and float(result[0]["value"][1]) == expected


def _service(
    stack: ExitStack, tmp: Path, name: str, port: int, env: dict[str, str]
) -> queue.Queue[str]:
    """``gruponos metrics serve --sync full`` as a child; its stdout lines (reports) queued."""
    work = tmp / name
    work.mkdir()
    proc = subprocess.Popen(  # noqa: S603 - our own console script
        [
            GRUPONOS,
            "--env-file",
            "/nonexistent/.env",
            "--progress",
            "never",
            "--log-format",
            "json",
            "metrics",
            "serve",
            "--port",
            str(port),
            "--sync",
            "full",
        ],
        cwd=work,
        env={**_environment(), **env, "GRUPONOS_SINK__URL": f"sqlite:///{work / 'sink.db'}"},
        stdout=subprocess.PIPE,
        stderr=stack.enter_context((work / "stderr.log").open("wb")),
    )

    def stop() -> None:
        proc.terminate()
        proc.wait(20)
        assert proc.stdout is not None
        proc.stdout.close()

    stack.callback(stop)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.decode())

    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_prometheus_scrapes_gruponos_and_alertmanager_delivers_the_failure(
    tmp_path: Path, receiver: Receiver
) -> None:
    missing = _missing()
    if missing and _environment().get("CI"):
        pytest.fail(f"missing {missing}: nox -s monitoring installs them")
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (nox -s monitoring installs them)")
    ports = {name: free_port() for name in ("prom", "am", "push", "good", "bad")}
    prom = f"http://127.0.0.1:{ports['prom']}"
    rules = tmp_path / "rules.yml"
    shutil.copy(ROOT / "deploy" / "prometheus" / "rules.yml", rules)
    (tmp_path / "alertmanager.yml").write_text(
        "route:\n  receiver: hook\n  group_by: [alertname, pipeline, entity]\n"
        "  group_wait: 1s\n  group_interval: 2s\n  repeat_interval: 1h\n"
        f"receivers:\n  - name: hook\n    webhook_configs:\n      - url: {receiver.url}\n"
        "        send_resolved: true\n"
    )
    (tmp_path / "prometheus.yml").write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(rules)],
                "alerting": {
                    "alertmanagers": [
                        {"static_configs": [{"targets": [f"127.0.0.1:{ports['am']}"]}]}
                    ]
                },
                "scrape_configs": [
                    {
                        "job_name": "good",
                        "static_configs": [{"targets": [f"127.0.0.1:{ports['good']}"]}],
                    },
                    {
                        "job_name": "bad",
                        "static_configs": [{"targets": [f"127.0.0.1:{ports['bad']}"]}],
                    },
                    {
                        "job_name": "pushgateway",
                        "honor_labels": True,
                        "static_configs": [{"targets": [f"127.0.0.1:{ports['push']}"]}],
                    },
                ],
            }
        )
    )
    config = SimulatorConfig(records=300)
    with ExitStack() as stack:
        sim = stack.enter_context(WmsSimulator(config))
        stack.enter_context(
            _child(
                [
                    "prometheus-alertmanager",
                    f"--config.file={tmp_path / 'alertmanager.yml'}",
                    f"--storage.path={tmp_path / 'am-data'}",
                    f"--web.listen-address=127.0.0.1:{ports['am']}",
                    "--cluster.listen-address=",
                ],
                tmp_path / "alertmanager.log",
            )
        )
        stack.enter_context(
            _child(
                ["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{ports['push']}"],
                tmp_path / "pushgateway.log",
            )
        )
        stack.enter_context(
            _child(
                [
                    "prometheus",
                    f"--config.file={tmp_path / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                    f"--web.listen-address=127.0.0.1:{ports['prom']}",
                ],
                tmp_path / "prometheus.log",
            )
        )
        _wait("prometheus", lambda: httpx.get(f"{prom}/-/ready", timeout=2).is_success)
        env = {
            "GRUPONOS_WMS__BASE_URL": sim.base_url,
            "GRUPONOS_WMS__USERNAME": config.username,
            "GRUPONOS_WMS__PASSWORD": config.password,
        }

        # 1. a running service, scraped: the counters equal the run report it printed
        good = _service(stack, tmp_path, "good", ports["good"], env)
        report = json.loads(good.get(timeout=120))
        assert report["status"] == "succeeded", report
        for entity in report["entities"]:
            for count, metric in COUNTERS.items():
                expr = f'{metric}{{job="good",pipeline="full",entity="{entity["entity"]}"}}'
                _wait(f"{expr} == {entity[count]}", partial(_equals, prom, expr, entity[count]))
        runs = _query(prom, 'gruponos_runs_total{job="good",status="succeeded"}')
        assert [float(r["value"][1]) for r in runs] == [1.0]

        # 2. the WMS password wrong: the failure rule fires and Alertmanager delivers it
        bad = _service(
            stack, tmp_path, "bad", ports["bad"], {**env, "GRUPONOS_WMS__PASSWORD": "wrong-Pa55"}
        )
        failed = json.loads(bad.get(timeout=120))
        assert failed["status"] == "failed"
        firing = _wait(
            "GruponosSyncFailed firing in Prometheus",
            lambda: [
                a
                for a in httpx.get(f"{prom}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
                if a["labels"]["alertname"] == "GruponosSyncFailed" and a["state"] == "firing"
            ],
        )
        failed_entities = {e["entity"] for e in failed["entities"] if e["status"] == "failed"}
        assert failed_entities
        assert {(a["labels"]["pipeline"], a["labels"]["entity"]) for a in firing} == {
            ("full", name) for name in failed_entities
        }
        delivered = _wait(
            "Alertmanager's webhook",
            lambda: [
                alert
                for body in receiver.bodies
                for alert in body.get("alerts", [])
                if alert["labels"]["alertname"] == "GruponosSyncFailed"
            ],
        )
        assert {a["labels"]["entity"] for a in delivered} <= {
            "allocation",
            "order_hdr",
            "order_dtl",
        }
        assert all(a["status"] == "firing" for a in delivered)
        assert "wrong-Pa55" not in json.dumps(receiver.bodies)

        # 3. a one-shot sync pushes its final metrics to the Pushgateway
        one_shot = tmp_path / "one-shot"
        one_shot.mkdir()
        done = subprocess.run(  # noqa: S603 - our own console script
            [
                GRUPONOS,
                "--env-file",
                "/nonexistent/.env",
                "--progress",
                "never",
                "sync",
                "incremental",
                "--json",
            ],
            cwd=one_shot,
            env={
                **_environment(),
                **env,
                "GRUPONOS_SINK__URL": f"sqlite:///{one_shot / 'sink.db'}",
                "GRUPONOS_METRICS__PUSHGATEWAY_URL": f"http://127.0.0.1:{ports['push']}",
            },
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        pushed = json.loads(done.stdout)
        total = sum(e["read"] for e in pushed["entities"])
        _wait(
            "the pushed counters in Prometheus",
            lambda: (
                (
                    r := _query(
                        prom,
                        'sum(gruponos_records_read_total{job="gruponos",pipeline="incremental"})',
                    )
                )
                and float(r[0]["value"][1]) == total
            ),
        )
        # the incremental run sampled its lag: the WMS did not change, so nothing is behind
        lags = _query(prom, 'gruponos_lag_seconds{job="gruponos",pipeline="incremental"}')
        assert {r["metric"]["entity"]: float(r["value"][1]) for r in lags} == {
            e["entity"]: 0.0 for e in pushed["entities"]
        }
