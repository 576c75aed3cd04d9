"""What a new user met first (issue 13): exit codes, unknown entities, failed runs in the logs,
the simulator's start-up errors and the base URL it prints."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gruponos.entrypoints.cli.main import main
from gruponos.simulator import SimulatorConfig, WmsSimulator

GRUPONOS = str(Path(sys.executable).with_name("gruponos"))


def _invoke(*args: str, **env: str) -> Result:
    return CliRunner().invoke(
        main, ["--env-file", "/nonexistent/.env", "--progress", "never", *args], env=env
    )


@pytest.fixture(scope="module")
def sim() -> Iterator[WmsSimulator]:
    with WmsSimulator(SimulatorConfig(records=20, seed=3)) as server:
        yield server


def _wms(sim: WmsSimulator, tmp_path: Path) -> dict[str, str]:
    return {
        "GRUPONOS_WMS__BASE_URL": sim.base_url,
        "GRUPONOS_WMS__USERNAME": "wms_user",
        "GRUPONOS_WMS__PASSWORD": "wms_password",
        "GRUPONOS_SINK__URL": f"sqlite:///{tmp_path / 'out.db'}",
    }


def test_state_reset_without_yes_and_without_a_terminal_exits_2(tmp_path: Path) -> None:
    result = _invoke("state", "reset", GRUPONOS_SINK__URL=f"sqlite:///{tmp_path / 's.db'}")
    assert result.exit_code == 2
    assert "--yes" in result.stderr and "Traceback" not in result.output


def test_verify_of_an_entity_the_wms_does_not_have_fails(sim: WmsSimulator, tmp_path: Path) -> None:
    result = _invoke("verify", "-e", "no_such_entity", **_wms(sim, tmp_path))
    assert result.exit_code == 2
    assert "no entity 'no_such_entity'" in result.stderr and "[wms.not_found]" in result.stderr
    assert " ok " not in result.stdout


def test_verify_of_a_known_entity_still_compares(sim: WmsSimulator, tmp_path: Path) -> None:
    env = _wms(sim, tmp_path)
    assert _invoke("sync", "full", "-e", "order_hdr", **env).exit_code == 0
    result = _invoke("verify", "-e", "order_hdr", "--json", **env)
    assert result.exit_code == 0, result.output
    (diff,) = json.loads(result.stdout)
    assert diff["clean"] and diff["source_count"] == diff["target_count"] == 20


def test_a_failed_run_is_logged_at_level_error(tmp_path: Path) -> None:
    result = _invoke(
        "--log-format",
        "json",
        "sync",
        "full",
        "-e",
        "order_hdr",
        GRUPONOS_WMS__BASE_URL="http://127.0.0.1:1/prod",  # refuses connections
        GRUPONOS_WMS__USERNAME="u",
        GRUPONOS_WMS__PASSWORD="p",
        GRUPONOS_WMS__MAX_ATTEMPTS="1",
        GRUPONOS_SINK__URL=f"sqlite:///{tmp_path / 'f.db'}",
    )
    assert result.exit_code == 1
    lines = {line["event"]: line for line in map(json.loads, result.stderr.splitlines())}
    assert lines["sync.entity_finished"]["level"] == "error"
    assert lines["sync.run_finished"]["level"] == "error"
    assert lines["sync.run_finished"]["status"] == "failed"
    assert lines["sync.run_started"]["level"] == "info"


def test_a_succeeded_run_is_logged_at_level_info(sim: WmsSimulator, tmp_path: Path) -> None:
    result = _invoke(
        "--log-format", "json", "sync", "full", "-e", "order_dtl", **_wms(sim, tmp_path)
    )
    assert result.exit_code == 0
    lines = {line["event"]: line for line in map(json.loads, result.stderr.splitlines())}
    assert lines["sync.run_finished"]["level"] == "info"


# -- gruponos simulator serve -------------------------------------------------------------------


def _serve(*args: str) -> Result:
    return CliRunner().invoke(main, ["simulator", "serve", "--records", "10", *args])


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_serve_on_an_out_of_range_port_is_one_line(port: str) -> None:
    result = _serve("--port", port)
    assert result.exit_code == 2
    assert result.output == f"simulator: --port must be within 0..65535 (got {port})\n"


def test_serve_on_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _serve("--port", str(port))
    assert result.exit_code == 2
    assert result.output.startswith(
        f"simulator: cannot listen on 127.0.0.1:{port}: the port is in use"
    )
    assert result.output.count("\n") == 1


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("192.0.2.1", "that address is not one of this host's"),  # TEST-NET-1, on no host
        ("no-such-host.invalid", "unknown host name"),
    ],
)
def test_serve_on_an_address_not_on_this_host_is_one_line(host: str, reason: str) -> None:
    result = _serve("--host", host, "--port", "0")
    assert result.exit_code == 2
    assert result.output.startswith(f"simulator: cannot listen on {host}:0: {reason}")
    assert result.output.count("\n") == 1


def test_serve_prints_the_settings_that_point_gruponos_at_it(tmp_path: Path) -> None:
    with subprocess.Popen(  # noqa: S603 - our own entry point
        [GRUPONOS, "simulator", "serve", "--port", "0", "--records", "10"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},  # noqa: TID251 - passing it on
    ) as server:
        try:
            assert server.stdout is not None
            exported: dict[str, str] = {}
            while "GRUPONOS_WMS__PASSWORD" not in exported:
                line = server.stdout.readline()
                assert line, "the simulator stopped before printing its settings"
                if line.strip().startswith("export "):
                    name, _, value = line.strip().removeprefix("export ").partition("=")
                    exported[name] = shlex.split(value)[0]
            base_url = exported["GRUPONOS_WMS__BASE_URL"]
            assert base_url.endswith("/gruponos")  # the base URL, not the entity list's
            # what it printed is what the settings want: health passes with exactly that
            health = _invoke(
                "health", "--json", **exported, GRUPONOS_SINK__URL=f"sqlite:///{tmp_path / 'h.db'}"
            )
            assert health.exit_code == 0, health.output
            assert all(check["ok"] for check in json.loads(health.stdout))
        finally:
            server.terminate()
