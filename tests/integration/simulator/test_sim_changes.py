"""Change mode and on-demand mutations; offset paging loses rows under change, keyset does not."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from typing import Any

import httpx
import orjson
from click.testing import CliRunner

from gruponos.simulator import WmsSimulator
from gruponos.simulator.cli import simulator
from gruponos.simulator.testing import read_all, running


def latest_seen(records: list[dict[str, Any]]) -> dict[int, datetime]:
    """id -> the newest mod_ts a reader saw for it."""
    seen: dict[int, datetime] = {}
    for record in records:
        moment = datetime.fromisoformat(record["mod_ts"])
        seen[record["id"]] = max(moment, seen.get(record["id"], moment))
    return seen


def test_touch_insert_delete_on_demand() -> None:
    with running(records=50) as (sim, client):
        before = sim.truth("order_dtl")
        newest = max(before.values())
        touched = sim.touch("order_dtl", 3)
        inserted = sim.insert("order_dtl", 2)
        deleted = sim.delete("order_dtl", 4)
        assert len(touched) == 3
        assert inserted == [51, 52]
        assert len(deleted) == 4
        after = sim.truth("order_dtl")
        assert set(after) == (set(before) | set(inserted)) - set(deleted)
        assert sim.deleted_ids("order_dtl") == set(deleted)
        changed = [after[i] for i in (*touched, *inserted) if i in after]
        assert all(moment > newest for moment in changed)
        stamps = [after[i] for i in (*touched, *inserted) if i in after]
        assert stamps == sorted(stamps)  # the clock only moves forward
        for ident in deleted:
            assert client.get(f"entity/order_dtl/{ident}/").status_code == 404
            assert sim.get_record("order_dtl", ident) is None
        new = client.get(f"entity/order_dtl/{inserted[0]}/").json()
        assert new == sim.get_record("order_dtl", inserted[0])
        assert new["create_ts"] == new["mod_ts"]
        assert (
            client.get("entity/order_hdr/", params={"id": new["order_id"]["id"]}).status_code == 200
        )  # inserted rows reference existing parents
        survivor = next(i for i in touched if i in after)
        record = client.get(f"entity/order_dtl/{survivor}/").json()
        assert datetime.fromisoformat(record["mod_ts"]) == after[survivor]
        sim.advance_clock(3600)
        (late,) = sim.touch("order_dtl", 1)
        assert (sim.truth("order_dtl")[late] - max(changed)).total_seconds() >= 3600


def test_change_mode_changes_data_while_a_client_pages() -> None:
    with running(records=100, change_rate=2.0, change_seed=1) as (sim, client):
        start = sim.truth("allocation")
        read_all(client, "allocation", {"page_size": 10})
        end = sim.truth("allocation")
        assert end != start
        assert sim.world.clock.now_us > 0
        assert max(end.values()) > max(start.values())


def _read_under_change(mode: str) -> tuple[dict[int, datetime], dict[int, datetime], int]:
    """Read allocation by mod_ts while the server changes ~3 rows per request; the same
    change schedule for both modes (same seeds; changes happen per list request)."""
    config = {"records": 400, "change_rate": 3.0, "change_seed": 11, "change_mix": (0.7, 0.2, 0.1)}
    with running(**config) as (sim, client):
        records, _ = read_all(
            client, "allocation", {"page_mode": mode, "ordering": "mod_ts", "page_size": 25}
        )
        return latest_seen(records), sim.truth("allocation"), len(records)


def test_keyset_paging_never_skips_while_offset_paging_does() -> None:
    seq_seen, seq_truth, _ = _read_under_change("sequenced")
    # Every row that exists at the end was seen, in its latest version: nothing skipped.
    assert all(seq_seen.get(i) == moment for i, moment in seq_truth.items())

    paged_seen, paged_truth, paged_count = _read_under_change("paged")
    missed = [i for i, moment in paged_truth.items() if paged_seen.get(i) != moment]
    never_seen = [i for i in paged_truth if i not in paged_seen]
    assert missed  # offset paging skipped rows (or served stale versions) under change
    assert never_seen  # ...including rows that existed the whole time and were never served
    assert paged_count != len(paged_seen) or never_seen


def test_offset_paging_is_exact_without_changes() -> None:
    with running(records=400) as (sim, client):
        records, _ = read_all(client, "allocation", {"ordering": "mod_ts", "page_size": 25})
        assert latest_seen(records) == sim.truth("allocation")


def test_a_million_records_without_materialising_them() -> None:
    with running(records=10, entity_records={"allocation": 1_000_000}) as (sim, client):
        last = client.get("entity/allocation/", params={"ordering": "-id", "page_size": 2}).json()
        assert last["result_count"] == 1_000_000
        assert [r["id"] for r in last["results"]] == [1_000_000, 999_999]
        assert client.get("entity/allocation/1000000/").json() == sim.get_record(
            "allocation", 1_000_000
        )
        touched = sim.touch("allocation", 5)
        newest = client.get(
            "entity/allocation/",
            params={"ordering": "-mod_ts", "page_size": 5, "page_mode": "sequenced"},
        ).json()
        assert [r["id"] for r in newest["results"]] == touched[::-1]
        store = sim.world.stores["allocation"]
        assert store.nbytes() / 1_000_000 < 64  # bytes per record, index included


def test_cli_help_names_every_option() -> None:
    result = CliRunner().invoke(simulator, ["serve", "--help"])
    assert result.exit_code == 0
    command = simulator.commands["serve"]
    for param in command.params:
        assert param.opts[0] in result.output
        assert getattr(param, "help", None), param.name
    for option in (
        "--host",
        "--port",
        "--records",
        "--seed",
        "--env",
        "--page-size-default",
        "--username",
        "--password",
        "--fault-rate",
        "--fault-kinds",
        "--fault-seed",
        "--change-rate",
        "--slow-seconds",
        "--token-lifetime",
        "--client-id",
    ):
        assert option in result.output
    assert "429" in result.output  # fault kinds are listed


def test_cli_rejects_bad_options_without_serving() -> None:
    result = CliRunner().invoke(simulator, ["serve", "--fault-kinds", "bogus"])
    assert result.exit_code == 2
    result = CliRunner().invoke(simulator, ["serve", "--entity-records", "nope=3"])
    assert result.exit_code == 2


def test_cli_serves_until_stopped() -> None:
    code = "from gruponos.simulator.cli import simulator; simulator()"
    args = [sys.executable, "-c", code, "serve", "--port", "0", "--records", "20", "--env", "demo"]
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as process:  # noqa: S603
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            url = line.split()[2]
            assert url.endswith("/demo/wms/lgfapi/v10/entity/")
            with httpx.Client(auth=("wms_user", "wms_password")) as client:
                assert client.get(url + "allocation/").json()["result_count"] == 20
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_get_record_hands_out_a_private_copy() -> None:
    with running(records=5) as (sim, client):
        record = sim.get_record("order_hdr", 1)
        assert record is not None
        record["facility_id"]["key"] = "CHANGED"
        assert client.get("entity/order_hdr/1/").json()["facility_id"]["key"] != "CHANGED"


def test_read_ahead_serves_identical_pages_and_never_stale_ones() -> None:
    params: dict[str, str | int] = {"page_mode": "sequenced", "ordering": "id", "page_size": 20}

    def portless(records: list[dict[str, Any]], sim: WmsSimulator) -> str:
        return orjson.dumps(records).decode().replace(sim.origin, "")

    with running(records=100) as (sim, client):
        plain = portless(read_all(client, "allocation", params)[0], sim)
    with running(records=100, read_ahead=True) as (sim, client):
        ahead, pages = read_all(client, "allocation", params)
        assert (portless(ahead, sim), pages) == (plain, 5)
        assert sim.read_ahead_hits == 4  # pages 2-5 were rendered while the client read
        first = client.get("entity/allocation/", params=params).json()
        sim.delete("allocation", 30)  # lands while page 2 is already rendered ahead
        second = client.get(first["next_page"]).json()["results"]
        assert all(sim.get_record("allocation", r["id"]) == r for r in second)
        assert {r["id"] for r in second}.isdisjoint(sim.deleted_ids("allocation"))
