"""``gruponos quarantine replay`` end to end: records quarantined under an earlier schema load
once the cause is fixed.

A WMS whose describe reported ``pick_locn_str`` with a ``max_length`` shorter than its data
(the records are quarantined: too long) is fixed; the replay describes again, widens the column
and loads every one of them, equal to the source. The same CLI, real HTTP, SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from click.testing import CliRunner, Result
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.sql import open_sql_backend
from gruponos.entrypoints.cli.main import main
from gruponos.simulator.config import SimulatorConfig
from gruponos.simulator.server import WmsSimulator
from gruponos.simulator.testing import DEFAULT_AUTH, read_all, running

RECORDS = 150
SHORT = {"allocation": {"pick_locn_str": {"max_length": 4}}}


def _cli(sim: WmsSimulator, sink_url: str, *args: str) -> Result:
    env = {
        "GRUPONOS_WMS__BASE_URL": sim.base_url,
        "GRUPONOS_WMS__USERNAME": DEFAULT_AUTH[0],
        "GRUPONOS_WMS__PASSWORD": DEFAULT_AUTH[1],
        "GRUPONOS_SINK__URL": sink_url,
    }
    return CliRunner().invoke(
        main,
        ["--env-file", "/nonexistent/.env", "--progress", "never", *args],
        env=env,
        catch_exceptions=False,
    )


def _loaded(sink_url: str) -> dict[int, str | None]:
    backend = unsafe_perform_io(open_sql_backend(sink_url).unwrap())
    with backend:
        cur = backend.db.conn.cursor()
        cur.execute('SELECT "ID", "PICK_LOCN_STR" FROM "WMS_ALLOCATION"')
        return {int(rid): text for rid, text in cur.fetchall()}


def test_replay_loads_what_an_earlier_schema_quarantined(db_url: str) -> None:
    config: Mapping[str, Any] = {"records": RECORDS, "seed": 7}
    with WmsSimulator(SimulatorConfig(**config, describe_overrides=SHORT)) as sim:
        first = _cli(sim, db_url, "sync", "full", "-e", "allocation", "--json")
    assert first.exit_code == 3, first.output  # over max_reject_ratio
    report = json.loads(first.stdout)["entities"][0]
    quarantined = report["quarantined"]
    assert quarantined > RECORDS // 2
    assert len(_loaded(db_url)) == RECORDS - quarantined

    with WmsSimulator(SimulatorConfig(**config)) as sim:  # the same data, describe fixed
        listed = _cli(sim, db_url, "quarantine", "list", "-e", "allocation", "--json")
        assert listed.exit_code == 0, listed.output
        rows = json.loads(listed.stdout)
        assert len(rows) == min(quarantined, 50)
        assert {r["kind"] for r in rows} == {"validation"}
        assert all("pick_locn_str" in r["reason"] for r in rows)

        dry = _cli(sim, db_url, "quarantine", "replay", "-e", "allocation", "--dry-run", "--json")
        assert dry.exit_code == 0, dry.output
        assert json.loads(dry.stdout)["entities"][0]["loaded"] == quarantined
        assert len(_loaded(db_url)) == RECORDS - quarantined  # a dry run writes nothing

        replay = _cli(sim, db_url, "quarantine", "replay", "-e", "allocation", "--json")
        assert replay.exit_code == 0, replay.output
        (done,) = json.loads(replay.stdout)["entities"]
        assert (done["examined"], done["loaded"], done["still_invalid"]) == (
            quarantined,
            quarantined,
            0,
        )
        with running(**config) as (_, client):
            source, _ = read_all(client, "allocation", {"page_mode": "sequenced"})
        after = _cli(sim, db_url, "quarantine", "list", "-e", "allocation", "--json")
        assert json.loads(after.stdout) == []
        again = _cli(sim, db_url, "quarantine", "replay", "-e", "allocation", "--json")
        assert json.loads(again.stdout)["entities"][0]["examined"] == 0
    assert _loaded(db_url) == {r["id"]: r["pick_locn_str"] for r in source}
