"""``gruponos sync --executor celery`` and ``gruponos worker``: what they refuse, in one line and
with the documented exit code, before anything is sent (no broker, no worker needed)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result

from gruponos.entrypoints.cli.main import main

WMS = {
    "GRUPONOS_WMS__BASE_URL": "http://127.0.0.1:9/gruponos",
    "GRUPONOS_WMS__USERNAME": "u",
    "GRUPONOS_WMS__PASSWORD": "p",
    "GRUPONOS_ENTITIES": "allocation",
}
PG = "postgresql://postgres@127.0.0.1:5432/test"
DEAD_BROKER = "redis://:Br0ker-Secret@127.0.0.1:9/0"  # nothing listens on port 9


def _gruponos(*args: str, **env: str) -> Result:
    return CliRunner().invoke(
        main,
        ["--env-file", "/nonexistent/.env", "--progress", "never", *args],
        env={**WMS, **env},
        catch_exceptions=False,
    )


def _one_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("command", [("worker",), ("sync", "full", "--executor", "celery")])
def test_sqlite_is_refused_for_the_distributed_executor(command: tuple[str, ...]) -> None:
    result = _gruponos(*command, GRUPONOS_SINK__URL="sqlite:///ignored.db")
    assert result.exit_code == 2
    assert "SQLite allows one writer per file" in _one_line(result)


@pytest.mark.parametrize("command", [("worker",), ("sync", "full", "--executor", "celery")])
def test_an_unreachable_broker_is_one_line_without_its_password(command: tuple[str, ...]) -> None:
    result = _gruponos(*command, GRUPONOS_SINK__URL=PG, GRUPONOS_EXECUTOR__BROKER_URL=DEAD_BROKER)
    assert result.exit_code == 1
    line = _one_line(result)
    assert line.startswith("broker unreachable: redis://:***@127.0.0.1:9/0")
    assert "Br0ker-Secret" not in result.output


def test_in_process_options_are_refused_with_celery_and_no_wait_without_it() -> None:
    dry = _gruponos("sync", "full", "--executor", "celery", "--dry-run", GRUPONOS_SINK__URL=PG)
    assert dry.exit_code == 2
    assert "in-process only" in _one_line(dry)
    no_wait = _gruponos("sync", "full", "--executor", "local", "--no-wait", GRUPONOS_SINK__URL=PG)
    assert no_wait.exit_code == 2
    assert "--no-wait needs the celery executor" in _one_line(no_wait)
