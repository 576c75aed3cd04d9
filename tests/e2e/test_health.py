"""``gruponos health``: each failing dependency reported distinctly, exit 1, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from e2e.harness import Cli, run_process, wms_env
from gruponos.simulator import WmsSimulator

DEAD_PG = "postgresql://postgres@127.0.0.1:1/test"


def _checks(cli: Cli, **env: str) -> tuple[int, dict[str, dict[str, object]]]:
    result = cli("health", "--json", **env)
    return result.exit_code, {c["check"]: c for c in json.loads(result.stdout)}


def _cli(sim: WmsSimulator, tmp_path: Path) -> Cli:
    return Cli(wms_env(sim, f"sqlite:///{tmp_path / 'health.db'}"))


def test_all_dependencies_healthy(sim: WmsSimulator, tmp_path: Path) -> None:
    code, checks = _checks(_cli(sim, tmp_path))
    assert code == 0
    assert all(c["ok"] for c in checks.values())
    assert set(checks) == {"configuration", "wms", "sink", "state"}


def test_wrong_password(sim: WmsSimulator, tmp_path: Path) -> None:
    code, checks = _checks(_cli(sim, tmp_path), GRUPONOS_WMS__PASSWORD="wrong")
    assert code == 1
    assert checks["wms"]["code"] == "wms.unauthorized"
    assert "refused the credentials" in str(checks["wms"]["detail"])
    assert checks["sink"]["ok"] and checks["state"]["ok"]


def test_wms_down(sim: WmsSimulator, tmp_path: Path) -> None:
    code, checks = _checks(
        _cli(sim, tmp_path), GRUPONOS_WMS__BASE_URL="http://127.0.0.1:1/gruponos"
    )
    assert code == 1
    assert checks["wms"]["code"] == "wms.retries_exhausted"
    assert "unreachable" in str(checks["wms"]["detail"])
    assert checks["sink"]["ok"]


def test_database_down(sim: WmsSimulator, tmp_path: Path) -> None:
    code, checks = _checks(_cli(sim, tmp_path), GRUPONOS_SINK__URL=DEAD_PG)
    assert code == 1
    assert checks["sink"]["code"] == "sink.connect_failed"
    assert checks["wms"]["ok"]
    assert not checks["state"]["ok"]  # the state lives in the (dead) sink


def test_every_failure_at_once_as_a_process_has_no_traceback(
    sim: WmsSimulator, tmp_path: Path
) -> None:
    env = wms_env(sim, DEAD_PG, GRUPONOS_WMS__PASSWORD="wrong")
    done = run_process(["health"], env)
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert "wms.unauthorized" in done.stdout and "sink.connect_failed" in done.stdout
    assert done.stderr.strip() == "unhealthy: wms, sink, state"
    assert "wrong" not in done.stdout  # no secret in the output


def test_a_sync_against_a_dead_database_is_one_line_not_a_traceback(
    sim: WmsSimulator,
) -> None:
    done = run_process(["sync", "full"], wms_env(sim, DEAD_PG))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("error: ") and "[sink.connect_failed]" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_incomplete_configuration_exits_2(tmp_path: Path) -> None:
    cli = Cli({"GRUPONOS_SINK__URL": f"sqlite:///{tmp_path / 'x.db'}"})
    result = cli("sync", "full", GRUPONOS_WMS__BASE_URL="")
    assert result.exit_code == 2
    assert result.stderr.startswith("configuration error: ")
