"""``gruponos check`` over real HTTP (the simulator) into SQLite and PostgreSQL: clean data
passes; seeded inconsistencies (rows removed from the sink, order details without their header,
a mod_ts in the future) are found with their exact counts, and the command exits 1."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from click.testing import CliRunner, Result

from gruponos.entrypoints.cli.main import main
from gruponos.simulator.config import SimulatorConfig
from gruponos.simulator.server import WmsSimulator

RECORDS = {"order_hdr": 40, "order_dtl": 90, "allocation": 60}


def _cli(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(
        main,
        ["--env-file", "/nonexistent/.env", "--progress", "never", *args],
        env=env,
        catch_exceptions=False,
    )


@contextmanager
def _sql(url: str) -> Iterator[Any]:
    if url.startswith("sqlite:"):
        conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"))
    else:
        conn = psycopg.connect(url)
    try:
        yield conn
        conn.commit()
    finally:
        conn.close()


def _found(report: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {(f["check"], f["entity"]): f["count"] for f in report["findings"] if f["count"]}


def test_check_passes_clean_data_and_finds_seeded_inconsistencies(db_url: str) -> None:
    config = SimulatorConfig(records=50, entity_records=RECORDS)
    with WmsSimulator(config) as sim:
        env = {
            "GRUPONOS_WMS__BASE_URL": sim.base_url,
            "GRUPONOS_WMS__USERNAME": config.username,
            "GRUPONOS_WMS__PASSWORD": config.password,
            "GRUPONOS_SINK__URL": db_url,
        }
        synced = _cli(env, "sync", "full", "--json")
        assert synced.exit_code == 0, synced.output
        clean = _cli(env, "check", "--json")
        assert clean.exit_code == 0, clean.output
        report = json.loads(clean.stdout)
        assert report["ok"] and _found(report) == {}
        assert report["counts"]["order_dtl"] == {"source": 90, "sink": 90}

        with _sql(db_url) as conn:
            cur = conn.cursor()
            cur.execute('SELECT "ID" FROM "WMS_ORDER_HDR" ORDER BY "ID"')
            headers = [int(row[0]) for row in cur.fetchall()][:3]
            marks = ", ".join(map(str, headers))
            cur.execute(f'SELECT COUNT(*) FROM "WMS_ORDER_DTL" WHERE "ORDER_ID" IN ({marks})')
            (orphaned,) = cur.fetchone()
            cur.execute(f'DELETE FROM "WMS_ORDER_HDR" WHERE "ID" IN ({marks})')
            future = (
                "'2999-01-01T00:00:00.000000+00:00'"
                if db_url.startswith("sqlite")
                else "TIMESTAMPTZ '2999-01-01 00:00:00+00'"
            )
            cur.execute(
                f'UPDATE "WMS_ALLOCATION" SET "MOD_TS" = {future} WHERE "ID" IN '
                '(SELECT "ID" FROM "WMS_ALLOCATION" ORDER BY "ID" LIMIT 2)'
            )
        assert orphaned > 0

        found = _cli(env, "check", "--json")
        assert found.exit_code == 1, found.output
        report = json.loads(found.stdout)
        assert not report["ok"]
        problems = _found(report)
        assert problems[("completeness", "order_hdr")] == 3
        assert report["counts"]["order_hdr"] == {"source": 40, "sink": 37}
        assert problems[("orphans", "order_dtl")] == orphaned
        assert problems[("future_mod_ts", "allocation")] == 2
        assert set(problems) == {
            ("completeness", "order_hdr"),
            ("orphans", "order_dtl"),
            ("future_mod_ts", "allocation"),
        }
        one = _cli(env, "check", "-e", "allocation")
        assert one.exit_code == 1 and "future" in one.stdout


def test_checks_after_a_run_go_into_its_report_and_history(tmp_path: Any) -> None:
    config = SimulatorConfig(records=50, entity_records=RECORDS)
    url = f"sqlite:///{tmp_path / 'wms.db'}"
    with WmsSimulator(config) as sim:
        env = {
            "GRUPONOS_WMS__BASE_URL": sim.base_url,
            "GRUPONOS_WMS__USERNAME": config.username,
            "GRUPONOS_WMS__PASSWORD": config.password,
            "GRUPONOS_SINK__URL": url,
            "GRUPONOS_ALERTS__CHECKS": "true",
        }
        synced = _cli(env, "sync", "full", "--json")
        assert synced.exit_code == 0, synced.output
        report = json.loads(synced.stdout)
        found = {(f["check"], f["entity"]) for f in report["checks"]}
        assert ("completeness", "order_hdr") in found
        assert all(f["count"] == 0 for f in report["checks"]), report["checks"]
        shown = _cli(env, "runs", "show", report["run_id"], "--json")
    assert json.loads(shown.stdout)["checks"] == report["checks"]
    without = dict(env, GRUPONOS_ALERTS__CHECKS="false")
    with WmsSimulator(config) as sim:
        without["GRUPONOS_WMS__BASE_URL"] = sim.base_url
        plain = _cli(without, "sync", "incremental", "--json")
    assert json.loads(plain.stdout)["checks"] is None
