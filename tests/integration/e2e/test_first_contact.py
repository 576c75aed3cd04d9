"""First contact with a WMS whose describe sends ``required`` as Oracle documents it.

The whole CLI over real HTTP into a real SQLite database: every record of the three default
entities loads, nothing is quarantined, and the nulls in fields describe calls required are
counted in the report's data-quality section instead.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gruponos.entrypoints.cli.main import main
from gruponos.simulator.config import SimulatorConfig
from gruponos.simulator.server import WmsSimulator

RECORDS = {"order_hdr": 120, "order_dtl": 300, "allocation": 400}


def _sync_full(config: SimulatorConfig, db: Path, *options: str) -> Result:
    """``gruponos sync full`` against a simulator started with ``config``, into ``db``."""
    with WmsSimulator(config) as sim:
        env = {
            "GRUPONOS_WMS__BASE_URL": sim.base_url,
            "GRUPONOS_WMS__USERNAME": config.username,
            "GRUPONOS_WMS__PASSWORD": config.password,
            "GRUPONOS_SINK__URL": f"sqlite:///{db}",
        }
        return CliRunner().invoke(
            main,
            ["--env-file", "/nonexistent/.env", "--progress", "never", "sync", "full", *options],
            env=env,
            catch_exceptions=False,
        )


@pytest.mark.parametrize("style", ["letters", "booleans"])
def test_a_full_sync_loads_every_record_and_counts_required_nulls(
    tmp_path: Path, style: str
) -> None:
    config = SimulatorConfig(records=100, entity_records=RECORDS, describe_required=style)
    db = tmp_path / "wms.db"
    result = _sync_full(config, db, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "succeeded"
    assert report["totals"]["quarantined"] == 0
    by_entity = {e["entity"]: e for e in report["entities"]}
    assert {name: e["read"] for name, e in by_entity.items()} == RECORDS
    with sqlite3.connect(db) as conn:
        for entity, count in RECORDS.items():
            (rows,) = conn.execute(f"SELECT COUNT(*) FROM WMS_{entity.upper()}").fetchone()
            assert rows == count
        (quarantined,) = conn.execute("SELECT COUNT(*) FROM GNOS_QUARANTINE").fetchone()
    assert quarantined == 0
    # wave_id, ship_via_id and batch_number_id are described as required ("Y" / true) and are
    # null in part of the records, as on a real instance: counted, not rejected.
    nulls = {name: e["data_quality"]["required_but_null"] for name, e in by_entity.items()}
    assert 0 < nulls["allocation"]["wave_id"] < RECORDS["allocation"]
    assert 0 < nulls["order_hdr"]["ship_via_id"] < RECORDS["order_hdr"]
    assert 0 < nulls["order_dtl"]["batch_number_id"] < RECORDS["order_dtl"]


def test_the_report_table_names_the_required_nulls(tmp_path: Path) -> None:
    result = _sync_full(SimulatorConfig(records=60), tmp_path / "wms.db")
    assert result.exit_code == 0, result.output
    line = next(x for x in result.stdout.splitlines() if x.startswith("allocation: data quality"))
    assert "wave_id" in line
