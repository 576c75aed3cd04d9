"""``gruponos views`` and ``gruponos dbt sources`` over real HTTP (the simulator) into SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gruponos.entrypoints.cli.main import main
from gruponos.simulator.config import SimulatorConfig
from gruponos.simulator.server import WmsSimulator

RECORDS = {"order_hdr": 20, "order_dtl": 40, "allocation": 50}


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[tuple[Path, Callable[..., Result]]]:
    config = SimulatorConfig(records=20, entity_records=RECORDS)
    db = tmp_path / "wms.db"
    with WmsSimulator(config) as sim:
        env = {
            "GRUPONOS_WMS__BASE_URL": sim.base_url,
            "GRUPONOS_WMS__USERNAME": config.username,
            "GRUPONOS_WMS__PASSWORD": config.password,
            "GRUPONOS_SINK__URL": f"sqlite:///{db}",
            "GRUPONOS_SINK__VIEWS": "true",
        }

        def invoke(*args: str) -> Result:
            return CliRunner().invoke(
                main,
                ["--env-file", "/nonexistent/.env", "--progress", "never", *args],
                env=env,
                catch_exceptions=False,
            )

        yield db, invoke


def test_sync_with_views_on_then_drop_and_create(cli: tuple[Path, Callable[..., Result]]) -> None:
    db, invoke = cli
    result = invoke("sync", "full")
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as conn:
        (rows,) = conn.execute("select count(*) from wms_order_dtl_v").fetchone()
    assert rows == RECORDS["order_dtl"]  # sink.views: the sync's prepare made the views
    dropped = invoke("views", "drop", "-e", "order_dtl")
    assert dropped.exit_code == 0, dropped.output
    assert dropped.stdout == "wms_order_dtl_v: dropped\n"
    again = invoke("views", "drop", "-e", "order_dtl")
    assert again.stdout == "wms_order_dtl_v: absent\n"
    created = invoke("views", "create", "-e", "order_dtl")
    assert created.exit_code == 0, created.output
    assert created.stdout == "wms_order_dtl_v: created\n"
    with sqlite3.connect(db) as conn:
        (rows,) = conn.execute("select count(*) from wms_order_dtl_v").fetchone()
    assert rows == RECORDS["order_dtl"]


def test_dbt_sources_describe_every_entity(
    cli: tuple[Path, Callable[..., Result]], tmp_path: Path
) -> None:
    _, invoke = cli
    out = tmp_path / "sources.yml"
    result = invoke("dbt", "sources", "--output", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    for entity in RECORDS:
        assert f"      - name: {entity}\n        identifier: wms_{entity}_v\n" in text
    assert "loaded_at_field: mod_ts" in text
    assert "          - name: order_id\n" in text


def test_dbt_sources_unwritable_output_is_one_line(
    cli: tuple[Path, Callable[..., Result]], tmp_path: Path
) -> None:
    _, invoke = cli
    result = invoke("dbt", "sources", "--output", str(tmp_path / "missing" / "sources.yml"))
    assert result.exit_code == 2
    assert "cannot write" in result.output
    assert "Traceback" not in result.output


def test_views_create_for_an_entity_the_wms_does_not_know_is_one_line(
    cli: tuple[Path, Callable[..., Result]],
) -> None:
    _, invoke = cli
    result = invoke("views", "create", "-e", "no_such_entity")
    assert result.exit_code == 1
    assert result.output == "error: Not found. [wms.not_found]\n"
