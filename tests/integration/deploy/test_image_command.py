"""The image's start command outside a container (issue 19): there is no container engine on this
machine, so CI runs what the image would run, as the image would run it.

From the Dockerfile itself: the ``ENTRYPOINT`` + ``CMD`` command line (``tini -g -- gruponos api
serve``) and the final stage's ``ENV``. Three things differ, and only these: the image's state
directory ``/var/lib/gruponos`` (its ``WORKDIR`` and volume) is a temporary directory, the API
port is a free one instead of 8000 (tests run in parallel with other services), and
``/opt/gruponos/bin`` is this virtualenv's ``bin``. ``tini`` is Debian's package, installed by
``nox -s deploy``; where it is missing (a developer's machine) the command runs without it and
the test says so in its output. What a deployment adds at run time, the API keys, is given as
the environment. Then: ``/healthz`` and ``/readyz`` answer, the image's ``HEALTHCHECK`` command
exits 0, and SIGTERM to PID "1" (tini) stops the service with exit 0.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gruponos.simulator import SimulatorConfig, WmsSimulator
from support.deployment import K8S, dockerfile, env_of_image, load_yaml_documents

STATE_DIR = "/var/lib/gruponos"
KEY = "gnos_image-command-test-key"
STOPPED_BY_SIGTERM = {0, -signal.SIGTERM, 128 + signal.SIGTERM}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our loopback URL
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def image_command(tmp_path: Path) -> tuple[list[str], dict[str, str], int, list[str]]:
    """The command line, the environment, the port and the health check, as the image has them."""
    instructions = dockerfile()
    final = max(i.stage for i in instructions)
    (entrypoint,) = [i for i in instructions if i.stage == final and i.keyword == "ENTRYPOINT"]
    (cmd,) = [i for i in instructions if i.stage == final and i.keyword == "CMD"]
    (check,) = [i for i in instructions if i.stage == final and i.keyword == "HEALTHCHECK"]
    command = [*entrypoint.exec_form(), *cmd.exec_form()]
    if shutil.which("tini") is None:
        print("tini is not installed here: the command runs without its PID-1 init")
        command = command[command.index("--") + 1 :]
    port = _free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        name: value.replace(STATE_DIR, str(tmp_path))
        .replace("/opt/gruponos/bin", bin_dir)
        .replace("${PATH}", os.environ["PATH"])  # noqa: TID251 - the child's PATH
        for name, value in env_of_image(instructions).items()
    }
    env["GRUPONOS_API__PORT"] = str(port)
    # At run time, as a deployment gives it (a Secret): one key, by its SHA-256.
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    env["GRUPONOS_API__KEYS"] = json.dumps([{"name": "probe", "role": "viewer", "sha256": digest}])
    health = [part.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for part in check.exec_form()]
    return command, env, port, health


@pytest.fixture
def service(
    tmp_path: Path,
) -> Iterator[tuple[subprocess.Popen[str], int, list[str], dict[str, str]]]:
    command, env, port, health = image_command(tmp_path)
    process = subprocess.Popen(  # noqa: S603 - the image's own command line
        command,
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        yield process, port, health, env
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=30)


def test_the_image_command_serves_passes_its_healthcheck_and_stops_on_sigterm(
    service: tuple[subprocess.Popen[str], int, list[str], dict[str, str]], tmp_path: Path
) -> None:
    process, port, health, env = service
    deadline = time.monotonic() + 60
    status = 0
    while time.monotonic() < deadline and process.poll() is None:
        try:
            status, _ = _get(f"http://127.0.0.1:{port}/healthz")
        except OSError:
            time.sleep(0.1)  # not listening yet
            continue
        break
    assert process.poll() is None, process.communicate()[1]
    assert status == 200
    ready, body = _get(f"http://127.0.0.1:{port}/readyz")
    assert (ready, json.loads(body)) == (200, {"status": "ready"})
    checked = subprocess.run(  # noqa: S603 - the image's HEALTHCHECK command
        health, env=env, cwd=tmp_path, capture_output=True, timeout=30, check=False
    )
    assert checked.returncode == 0, checked.stderr
    # The SQLite sink and its state live in the image's state directory (here tmp_path).
    assert (tmp_path / "gruponos.db").exists()
    process.send_signal(signal.SIGTERM)  # what `docker stop` / the kubelet send to PID 1
    _, stderr = process.communicate(timeout=60)
    # uvicorn shuts down gracefully, then re-raises the signal it caught: the process ends "by
    # SIGTERM" (tini passes that on as 128 + 15), which is how an orchestrator expects it to end.
    assert process.returncode in STOPPED_BY_SIGTERM, stderr
    assert "Traceback" not in stderr


def test_the_cronjob_command_syncs_into_the_image_state_directory(tmp_path: Path) -> None:
    """The incremental CronJob's container as the manifest runs it: the image's entrypoint with
    the CronJob's ``args``, the image's ``ENV`` plus the container's own ``env`` and the WMS a
    ConfigMap and Secret would give; the default SQLite sink lands in the state directory."""
    command, env, _, _ = image_command(tmp_path)
    cronjobs = load_yaml_documents(K8S / "components" / "cronjobs" / "cronjobs.yaml")
    (incremental,) = [c for c in cronjobs if c["metadata"]["name"] == "gruponos-incremental"]
    (container,) = incremental["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    entrypoint = command[: command.index("gruponos") + 1]
    env |= {e["name"]: e["value"] for e in container["env"]}
    with WmsSimulator(SimulatorConfig(records=120, seed=3)) as sim:
        env |= {
            "GRUPONOS_WMS__BASE_URL": sim.base_url,
            "GRUPONOS_WMS__USERNAME": "wms_user",
            "GRUPONOS_WMS__PASSWORD": "wms_password",
        }
        done = subprocess.run(  # noqa: S603 - the image's entrypoint with the CronJob's args
            [*entrypoint, *container["args"]],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert lines, "JSON log lines (GRUPONOS_LOG__FORMAT=json in the image)"
    with sqlite3.connect(tmp_path / "gruponos.db") as db:
        (rows,) = db.execute("SELECT COUNT(*) FROM WMS_ALLOCATION").fetchone()
    assert rows == 120
