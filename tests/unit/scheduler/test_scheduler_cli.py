"""``gruponos schedule show`` and the scheduler's start-up errors, in-process (no daemon runs)."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner, Result

from gruponos.entrypoints.cli.main import main

WMS = {
    "GRUPONOS_WMS__BASE_URL": "http://127.0.0.1:1/x",
    "GRUPONOS_WMS__USERNAME": "u",
    "GRUPONOS_WMS__PASSWORD": "p",
}


def _invoke(*args: str, **env: str) -> Result:
    return CliRunner().invoke(
        main, ["--env-file", "/nonexistent/.env", *args], env=env, catch_exceptions=False
    )


def test_schedule_show_lists_the_next_fires_in_the_configured_zone() -> None:
    before = datetime.now(UTC)
    result = _invoke(
        "schedule",
        "show",
        "--json",
        "--count",
        "2",
        GRUPONOS_SCHEDULE__TIMEZONE="America/Mexico_City",
        GRUPONOS_SCHEDULE__INCREMENTAL="*/15 * * * *",
    )
    assert result.exit_code == 0, result.output
    shown = {p["mode"]: p for p in json.loads(result.stdout)["pipelines"]}
    full = [datetime.fromisoformat(at) for at in shown["full"]["next_fires"]]
    assert [at.strftime("%A %H:%M %z") for at in full] == ["Sunday 02:00 -0600"] * 2
    assert all(at > before for at in full)
    incremental = [datetime.fromisoformat(at) for at in shown["incremental"]["next_fires"]]
    assert (incremental[1] - incremental[0]).total_seconds() == 15 * 60
    assert incremental[0].minute % 15 == 0


def test_a_bad_schedule_is_one_line_and_exit_2() -> None:
    for command in (("scheduler",), ("schedule", "show")):
        result = _invoke(*command, GRUPONOS_SCHEDULE__FULL="0 2 1 * 1", **WMS)
        assert result.exit_code == 2
        assert result.stderr.count("\n") == 2, result.stderr  # the header and the one setting
        assert "schedule.full: restrict the day of the month or the weekday" in result.stderr
        assert "Traceback" not in result.output


def test_a_taken_health_port_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _invoke(
            "scheduler",
            GRUPONOS_SINK__URL=f"sqlite:///{tmp_path / 'sink.db'}",
            GRUPONOS_SCHEDULE__HEALTH_PORT=str(port),
            **WMS,
        )
    assert result.exit_code == 1
    assert (
        result.stderr.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


def test_an_unreachable_database_is_one_line_without_its_password_and_exit_1() -> None:
    result = _invoke(
        "scheduler",
        GRUPONOS_SINK__URL="postgresql://u:s3cret@127.0.0.1:1/x",
        GRUPONOS_SCHEDULE__HEALTH_PORT="0",
        **WMS,
    )
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ")
    assert result.stderr.rstrip().endswith("[sink.connect_failed]")
    assert "s3cret" not in result.output
