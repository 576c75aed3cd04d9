"""``gruponos sync`` end to end: simulator over HTTP -> SQLite / PostgreSQL, then verify."""

from __future__ import annotations

import json
from typing import Any

from e2e.harness import Cli
from gruponos.simulator import FaultKind, WmsSimulator


def _by_entity(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["entity"]: e for e in report["entities"]}


def test_full_then_incremental_then_full_keeps_the_target_equal_to_the_wms(
    cli: Cli, sim: WmsSimulator
) -> None:
    full = cli("sync", "full", "--json")
    assert full.exit_code == 0, full.output
    report = json.loads(full.stdout)
    assert report["status"] == "succeeded"
    assert {e: r["written"] for e, r in _by_entity(report).items()} == {
        "order_hdr": 300,
        "order_dtl": 300,
        "allocation": 300,
    }
    assert cli("verify").exit_code == 0

    touched = sim.touch("order_hdr", 7)
    inserted = sim.insert("allocation", 5)
    deleted = sim.delete("allocation", 3)
    incremental = cli("sync", "incremental", "--json")
    assert incremental.exit_code == 0, incremental.output
    # the full pass bookmarked the incremental pipeline at the source's high-water mark
    first = _by_entity(json.loads(incremental.stdout))
    assert first["order_hdr"]["read"] == 7 + 1  # the changes, and the bookmark's own record
    assert first["allocation"]["read"] == 5 + 1
    sim.touch("order_dtl", 4)
    second = json.loads(cli("sync", "incremental", "--json").stdout)
    changed = _by_entity(second)
    assert 4 <= changed["order_dtl"]["read"] < 300  # only the changes (and the overlap)

    diff = cli("verify", "--json")
    assert diff.exit_code == 1  # deleted rows stay until a full sync soft-deletes them
    extra = {d["entity"]: d["extra"] for d in json.loads(diff.stdout)}
    assert sorted(extra["allocation"]) == sorted(deleted)

    again = json.loads(cli("sync", "full", "--json").stdout)
    assert _by_entity(again)["allocation"]["deleted"] == 3
    clean = cli("verify", "--json")
    assert clean.exit_code == 0, clean.stdout
    counts = {d["entity"]: d["target_count"] for d in json.loads(clean.stdout)}
    assert counts == {e: len(sim.truth(e)) for e in ("order_hdr", "order_dtl", "allocation")}
    assert touched and inserted

    runs = cli.json("runs", "list")
    assert [r["mode"] for r in runs] == ["full", "incremental", "incremental", "full"][::-1]
    shown = cli("runs", "show", runs[0]["run_id"])
    assert shown.exit_code == 0 and runs[0]["run_id"] in shown.stdout
    state = cli.json("state", "show", "--entity", "allocation")
    assert {(s["pipeline"], s["complete"]) for s in state} == {
        ("full", True),
        ("incremental", False),
    }


def test_dry_run_reads_and_validates_but_writes_nothing(cli: Cli) -> None:
    result = cli("sync", "full", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dry_run"] is True
    assert report["totals"]["read"] == 900 and report["totals"]["written"] == 0
    described = cli.json("tables", "describe")
    assert described == {"WMS_ORDER_HDR": [], "WMS_ORDER_DTL": [], "WMS_ALLOCATION": []}
    assert cli.json("runs", "list") == []
    assert cli.json("state", "show") == []


def test_retries_rerun_a_failed_run_from_its_checkpoint(cli: Cli, sim: WmsSimulator) -> None:
    # max_attempts=2: two forced 500s exhaust the client's attempts on the first list request
    sim.force_fault(FaultKind.SERVER_ERROR, 2)
    result = cli(
        "sync",
        "full",
        "--entity",
        "allocation",
        "--json",
        "--retries",
        "2",
        "--retry-delay",
        "0.01",
        GRUPONOS_LOG__FORMAT="json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["entities"][0]["written"] == 300
    events = [json.loads(line)["event"] for line in result.stderr.splitlines()]
    assert "sync.retrying_run" in events
    runs = cli.json("runs", "list")
    assert [r["status"] for r in runs] == ["succeeded", "failed"]


def test_without_retries_a_failed_run_exits_1_with_the_report(cli: Cli, sim: WmsSimulator) -> None:
    sim.force_fault(FaultKind.SERVER_ERROR, 2)
    result = cli("sync", "full", "--entity", "allocation", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["status"] == "failed"
    assert "wms.retries_exhausted" in report["entities"][0]["error"]


def test_tables_create_describe_and_recreate(cli: Cli) -> None:
    created = cli("tables", "create", "--entity", "allocation")
    assert created.exit_code == 0, created.output
    assert "WMS_ALLOCATION: ready" in created.stdout
    columns = cli.json("tables", "describe", "--entity", "allocation")["WMS_ALLOCATION"]
    assert {"column": "ID", "type": columns[0]["type"]} in columns
    refused = cli("tables", "recreate", "--entity", "allocation")
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert cli("sync", "full", "--entity", "allocation").exit_code == 0
    recreated = cli("tables", "recreate", "--entity", "allocation", "--yes")
    assert "dropped" in recreated.stdout and recreated.exit_code == 0
    reset = cli("state", "reset", "--entity", "allocation", "--yes")
    assert reset.exit_code == 0 and "full/allocation" in reset.stdout
    assert cli.json("state", "show", "--entity", "allocation") == []
