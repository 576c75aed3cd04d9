"""tap-gruponos against the simulator over HTTP: Singer spec, exact types, bookmarks, CLI."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from returns.io import IOSuccess
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.singer.streams import Selection
from gruponos.adapters.wms_http import HttpxWmsSource
from gruponos.container import wms_client_config
from gruponos.settings import TapSettings
from gruponos.simulator import SimulatorConfig, WmsSimulator
from integration.singer import programs
from integration.singer.singer_spec import check_stream

ENTITIES = ["order_hdr", "order_dtl", "allocation"]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def sim() -> Iterator[WmsSimulator]:
    with WmsSimulator(SimulatorConfig(records=250, page_size_default=100)) as simulator:
        yield simulator


def tap_config(sim: WmsSimulator, **extra: Any) -> TapSettings:
    return programs.tap_config(sim, **{"page_size": 100, "entities": ENTITIES, **extra})


def run_tap(
    sim: WmsSimulator,
    state: dict[str, Any] | None = None,
    selection: Selection | None = None,
    **extra: Any,
) -> list[bytes]:
    out = io.BytesIO()
    result = programs.run_tap(tap_config(sim, **extra), state, selection, out=out)
    unsafe_perform_io(result.unwrap())
    return out.getvalue().splitlines()


def test_output_follows_the_singer_spec_and_holds_every_record(sim: WmsSimulator) -> None:
    seen = check_stream(run_tap(sim))
    for entity in ENTITIES:
        ids = {r["id"] for r in seen["records"][entity]}
        assert ids == set(sim.truth(entity))
        assert seen["schemas"][entity]["properties"]["id"] == {"type": "integer"}
    assert seen["states"], "incremental mode emits bookmarks"


def test_values_are_exact_and_instants_utc(sim: WmsSimulator) -> None:
    seen = check_stream(run_tap(sim, entities=["allocation"]))
    schema = seen["schemas"]["allocation"]["properties"]
    assert schema["alloc_qty"] == {"type": ["string", "null"], "format": "singer.decimal"}
    assert schema["mod_ts"] == {"type": "string", "format": "date-time"}
    assert schema["order_dtl_id"] == {"type": ["integer", "null"]}
    record = seen["records"]["allocation"][0]
    raw = sim.get_record("allocation", record["id"])
    assert raw is not None
    assert Decimal(record["alloc_qty"]) == Decimal(raw["alloc_qty"])
    instant = datetime.fromisoformat(record["mod_ts"].replace("Z", "+00:00"))
    assert instant == datetime.fromisoformat(raw["mod_ts"])  # same instant, written in UTC
    assert record["mod_ts"].endswith("Z")
    assert record["order_dtl_id"] == raw["order_dtl_id"]["id"]
    assert record["order_dtl_key"] == raw["order_dtl_id"]["key"]


def test_state_bookmarks_are_the_newest_emitted_mod_ts_and_resume(sim: WmsSimulator) -> None:
    seen = check_stream(run_tap(sim, entities=["order_hdr"]))
    final = seen["states"][-1]
    bookmark = final["bookmarks"]["order_hdr"]
    newest = max(datetime.fromisoformat(r["mod_ts"]) for r in seen["records"]["order_hdr"])
    assert bookmark["replication_key"] == "mod_ts"
    assert datetime.fromisoformat(bookmark["replication_key_value"]) == newest
    # Every STATE follows the records it covers: the bookmarks never decrease.
    values = [s["bookmarks"]["order_hdr"]["replication_key_value"] for s in seen["states"]]
    assert values == sorted(values, key=datetime.fromisoformat)

    touched = sim.touch("order_hdr", 3)
    again = check_stream(run_tap(sim, state=final, entities=["order_hdr"], overlap_seconds=0))
    ids = {r["id"] for r in again["records"]["order_hdr"]}
    assert set(touched) <= ids
    assert len(ids) < len(sim.truth("order_hdr")) // 10  # resumed, not re-read


def test_full_mode_reads_everything_without_bookmarks(sim: WmsSimulator) -> None:
    seen = check_stream(run_tap(sim, sync_mode="full", entities=["order_dtl"]))
    assert len(seen["records"]["order_dtl"]) == len(sim.truth("order_dtl"))
    assert seen["states"] == []


def test_catalog_selection_drops_streams_and_properties_but_keeps_keys(sim: WmsSimulator) -> None:
    catalog = {
        "streams": [
            {
                "tap_stream_id": "allocation",
                "metadata": [
                    {"breadcrumb": [], "metadata": {"selected": True}},
                    {"breadcrumb": ["properties", "alloc_qty"], "metadata": {"selected": False}},
                    {"breadcrumb": ["properties", "id"], "metadata": {"selected": False}},
                ],
            },
            {"tap_stream_id": "order_hdr", "metadata": [{"breadcrumb": [], "metadata": {}}]},
        ]
    }
    seen = check_stream(run_tap(sim, selection=Selection.from_catalog(catalog)))
    assert set(seen["records"]) == {"allocation"}
    record = seen["records"]["allocation"][0]
    assert "alloc_qty" not in record
    assert "id" in record


def test_invalid_records_are_not_emitted_but_reported(
    sim: WmsSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tap_config(sim, entities=["allocation"])
    rejected: list[dict[str, Any]] = []
    out = io.BytesIO()
    with HttpxWmsSource(wms_client_config(config.settings)) as source:
        original = source.read

        def corrupt(entity: str, window: Any) -> Any:
            for page in original(entity, window):
                got = unsafe_perform_io(page.unwrap())
                bad = dict(got.records[0], alloc_qty="not a number")
                yield IOSuccess(replace(got, records=[bad, *got.records[1:]]))

        monkeypatch.setattr(source, "read", corrupt)
        report = programs.run_tap(config, out=out, rejects=rejected.append, source=source)
    totals = unsafe_perform_io(report.unwrap()).streams[0]
    seen = check_stream(out.getvalue().splitlines())
    assert totals.rejected == len(rejected) >= 1
    assert totals.records == len(seen["records"]["allocation"])
    assert "alloc_qty" in rejected[0]["reason"]
    assert rejected[0]["payload"]["alloc_qty"] == "not a number"


def _cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(  # noqa: S603 - our own executables
        [str(BIN / args[0]), *args[1:]], input=stdin, capture_output=True, check=False
    )


def test_cli_about_discover_and_sync(sim: WmsSimulator, tmp_path: Path) -> None:
    about = _cli("tap-gruponos", "--about", "--format", "json")
    assert about.returncode == 0
    doc = orjson.loads(about.stdout)
    assert {"discover", "catalog", "state"} <= set(doc["capabilities"])
    assert '"writeOnly": true' in orjson.dumps(
        doc["settings"]["properties"]["password"]
    ).decode().replace(":", ": ")

    config = tmp_path / "config.json"
    config.write_bytes(orjson.dumps(programs.tap_keys(sim, page_size=100, entities=["allocation"])))
    discovered = _cli("tap-gruponos", "--config", str(config), "--discover")
    assert discovered.returncode == 0, discovered.stderr
    catalog = orjson.loads(discovered.stdout)
    entry, quarantine = catalog["streams"]
    assert quarantine["tap_stream_id"] == "_gruponos_quarantine"
    assert entry["key_properties"] == ["id"]
    assert entry["replication_key"] == "mod_ts"
    (tmp_path / "catalog.json").write_bytes(discovered.stdout)
    state = tmp_path / "state.json"
    state.write_text(
        '{"bookmarks": {"allocation": {"replication_key": "mod_ts", '
        '"replication_key_value": "2999-01-01T00:00:00+00:00"}}}'
    )
    synced = _cli(
        "tap-gruponos",
        "--config",
        str(config),
        "--catalog",
        str(tmp_path / "catalog.json"),
        "--state",
        str(state),
    )
    assert synced.returncode == 0, synced.stderr
    seen = check_stream(synced.stdout.splitlines())
    assert seen["records"] == {}  # nothing is newer than the bookmark
    assert b"wms_password" not in synced.stderr


def test_cli_reports_bad_config_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"base_url": "http://x", "page_size": 0, "pasword": "s3cret"}')
    result = _cli("tap-gruponos", "--config", str(config))
    assert result.returncode == 2
    assert b"page_size" in result.stderr
    assert b"pasword" in result.stderr
    assert b"Traceback" not in result.stderr
    assert b"s3cret" not in result.stderr


@pytest.mark.parametrize(("page_mode", "changed"), [("paged", True), ("sequenced", False)])
def test_a_paged_read_while_the_wms_changes_is_reported(page_mode: str, changed: bool) -> None:
    config = SimulatorConfig(records=200, change_rate=2.0, change_seed=5)
    with WmsSimulator(config) as changing:
        tap = tap_config(changing, entities=["allocation"], page_mode=page_mode)
        result = programs.run_tap(tap)
    (stream,) = unsafe_perform_io(result.unwrap()).streams
    assert stream.source_changed is changed
    assert unsafe_perform_io(result.unwrap()).to_json()["allocation"]["source_changed"] is changed
