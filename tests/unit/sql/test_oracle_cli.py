"""``gruponos validate`` and ``gruponos health`` name what an Oracle login lacks, in one line.

python-oracledb's ``connect`` is replaced by the recording driver's (the driver, not our code).
"""

from __future__ import annotations

import oracledb
import pytest
from click.testing import CliRunner, Result

from gruponos.entrypoints.cli.main import main
from support.oracle_fake import FakeOracle

ENV = {
    "GRUPONOS_SINK__URL": "oracle://gruponos@db.example.com:1521/FREEPDB1",
    "GRUPONOS_SINK__PASSWORD": "db-secret",
    "GRUPONOS_WMS__BASE_URL": "http://127.0.0.1:1/x",
    "GRUPONOS_WMS__USERNAME": "u",
    "GRUPONOS_WMS__PASSWORD": "p",
}


def invoke(server: FakeOracle, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    monkeypatch.setattr(oracledb, "connect", server.connect)
    return CliRunner().invoke(
        main, ["--env-file", "/nonexistent/.env", *args], env=ENV, catch_exceptions=False
    )


def one_line(text: str, needle: str) -> str:
    lines = [line for line in text.splitlines() if needle in line]
    assert len(lines) == 1, text
    return lines[0]


def test_validate_names_a_missing_grant(monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeOracle(privileges={"CREATE SESSION", "CREATE TABLE"})
    result = invoke(server, monkeypatch, "validate")
    assert result.exit_code == 1
    line = one_line(result.output, "CREATE SEQUENCE")
    assert "sink.not_ready" in line
    assert "db-secret" not in result.output
    ok = invoke(FakeOracle(), monkeypatch, "validate")
    assert ok.exit_code == 0, ok.output


def test_validate_and_health_name_a_character_set_that_is_not_al32utf8(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = FakeOracle(charset="WE8ISO8859P1")
    result = invoke(server, monkeypatch, "validate")
    assert result.exit_code == 1
    assert "not AL32UTF8" in one_line(result.output, "WE8ISO8859P1")
    health = invoke(server, monkeypatch, "health", "--json")
    assert health.exit_code == 1
    assert '"code": "sink.not_ready"' in health.output
    assert "WE8ISO8859P1" in health.output


def test_health_names_a_missing_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeOracle(quota=False)
    health = invoke(server, monkeypatch, "health", "--json")
    assert health.exit_code == 1
    assert "no quota on its default tablespace" in health.output
