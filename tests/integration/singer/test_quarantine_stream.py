"""The quarantine stream ``_gruponos_quarantine``: tap-gruponos against the simulator over HTTP
(with some records made invalid on the wire), and target-gruponos storing the stream in its
quarantine table (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.singer.streams import QUARANTINE_STREAM, Selection
from gruponos.adapters.sql import open_sql_backend
from gruponos.application.extract import TapReport
from gruponos.application.load import TargetReport
from gruponos.simulator import SimulatorConfig, WmsSimulator
from gruponos.simulator.api import Response
from integration.singer import programs
from integration.singer.singer_spec import check_stream
from support.sqlsink import pg_schema, query

ENTITIES = ["order_hdr", "allocation"]
EVERY = 25  # every 25th allocation (by id) is invalid
RECORDS = 150
BAD_IDS = {i for i in range(1, RECORDS + 1) if i % EVERY == 0}


@pytest.fixture(scope="module")
def sim() -> Iterator[WmsSimulator]:
    """The simulator, whose allocation pages carry ``alloc_qty: "not a number"`` in every
    ``EVERY``-th record: what a WMS with a bad row would send."""
    with WmsSimulator(SimulatorConfig(records=RECORDS, page_size_default=40)) as simulator:
        original = simulator.api.handle

        def handle(path: str, query: str, origin: str) -> Response:
            response = original(path, query, origin)
            if response.status != 200 or path.strip("/") != "entity/allocation":
                return response
            body = orjson.loads(response.body)
            for record in body["results"]:
                if record["id"] % EVERY == 0:
                    record["alloc_qty"] = "not a number"
            return replace(response, body=orjson.dumps(body))

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(simulator.api, "handle", handle)
            yield simulator


def run_tap(
    sim: WmsSimulator, selection: Selection | None = None, **extra: Any
) -> tuple[list[bytes], TapReport, list[dict[str, Any]]]:
    keys = {"page_size": 40, "entities": ENTITIES, "max_reject_ratio": 1, **extra}
    config = programs.tap_config(sim, **keys)
    out = io.BytesIO()
    logged: list[dict[str, Any]] = []
    result = programs.run_tap(config, {}, selection, out=out, rejects=logged.append)
    return out.getvalue().splitlines(), unsafe_perform_io(result.unwrap()), logged


@pytest.fixture(scope="module")
def tap_lines(sim: WmsSimulator) -> list[bytes]:
    return run_tap(sim)[0]


def messages(lines: list[bytes]) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in lines]


def test_rejected_records_are_records_of_the_quarantine_stream(
    sim: WmsSimulator, tap_lines: list[bytes]
) -> None:
    seen = check_stream(tap_lines)  # the Singer spec, and every record valid for its schema
    first = orjson.loads(tap_lines[0])
    assert (first["type"], first["stream"]) == ("SCHEMA", QUARANTINE_STREAM)
    assert first["key_properties"] == ["stream", "fingerprint"]
    rejected = seen["records"][QUARANTINE_STREAM]
    assert {int(r["id"]) for r in rejected} == BAD_IDS
    assert {r["id"] for r in seen["records"]["allocation"]}.isdisjoint(BAD_IDS)
    assert len(seen["records"]["allocation"]) + len(rejected) == RECORDS
    for quarantined in rejected:
        payload = orjson.loads(quarantined["payload"])
        assert quarantined["stream"] == "allocation"
        assert payload["alloc_qty"] == "not a number"
        assert payload["id"] == int(quarantined["id"])
        assert "alloc_qty" in quarantined["reason"]
        digest = hashlib.sha256(quarantined["payload"].encode()).hexdigest()
        assert quarantined["fingerprint"] == digest


def test_each_rejected_record_comes_before_the_state_that_moves_past_it(
    tap_lines: list[bytes],
) -> None:
    stream = messages(tap_lines)
    for index, message in enumerate(stream):
        if message["type"] != "RECORD" or message["stream"] != QUARANTINE_STREAM:
            continue
        mod_ts = datetime.fromisoformat(orjson.loads(message["record"]["payload"])["mod_ts"])
        earlier = [
            datetime.fromisoformat(m["value"]["bookmarks"]["allocation"]["replication_key_value"])
            for m in stream[:index]
            if m["type"] == "STATE" and "allocation" in m["value"].get("bookmarks", {})
        ]
        assert all(bookmark < mod_ts for bookmark in earlier)


def test_a_rerun_gives_the_same_keys_and_a_catalog_can_leave_the_stream_out(
    sim: WmsSimulator, tap_lines: list[bytes]
) -> None:
    keys = {
        (m["record"]["stream"], m["record"]["fingerprint"])
        for m in messages(tap_lines)
        if m["type"] == "RECORD" and m["stream"] == QUARANTINE_STREAM
    }
    again = check_stream(run_tap(sim, entities=["allocation"])[0])["records"][QUARANTINE_STREAM]
    assert {(r["stream"], r["fingerprint"]) for r in again} == keys  # idempotent downstream

    catalog = programs.discover(programs.tap_config(sim, entities=ENTITIES))
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == QUARANTINE_STREAM)
    assert entry["key_properties"] == ["stream", "fingerprint"]
    assert entry["metadata"][0]["metadata"]["selected-by-default"] is True
    assert Selection.from_catalog(catalog).streams.keys() == {*ENTITIES, QUARANTINE_STREAM}
    entry["metadata"][0]["metadata"]["selected"] = False
    lines, report, logged = run_tap(sim, Selection.from_catalog(catalog))
    seen = check_stream(lines)
    assert QUARANTINE_STREAM not in seen["schemas"]
    assert {int(doc["id"]) for doc in logged} == BAD_IDS  # still logged, and counted
    assert sum(s.rejected for s in report.streams) == len(BAD_IDS)


def load(url: str, lines: list[bytes], **config: Any) -> TargetReport:
    target = programs.target_config(url=url, **config)
    return unsafe_perform_io(programs.run_target(target, lines, run_id="target-run").unwrap())


def quarantine_rows(url: str) -> list[dict[str, Any]]:
    backend = unsafe_perform_io(open_sql_backend(url).unwrap())
    with backend:
        return list(unsafe_perform_io(backend.sink.quarantined(limit=1000).unwrap()))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'target.db'}"
        return
    with pg_schema() as url:
        yield url


def test_target_gruponos_keeps_the_quarantine_stream_in_its_quarantine_table(
    tap_lines: list[bytes], db_url: str
) -> None:
    report = load(db_url, tap_lines, max_reject_ratio=0, batch_size=30)
    stream = messages(tap_lines)
    sent = {
        m["record"]["id"]: m["record"]
        for m in stream
        if m["type"] == "RECORD" and m["stream"] == QUARANTINE_STREAM
    }
    rows = quarantine_rows(db_url)
    assert {r["record_id"] for r in rows} == set(sent)
    for row in rows:
        original = sent[row["record_id"]]
        assert (row["entity"], row["reason"]) == ("allocation", original["reason"])
        assert orjson.loads(row["payload"]) == orjson.loads(original["payload"])
        assert row["run_id"] == "target-run"
    totals = {s.stream: s for s in report.streams}
    assert totals[QUARANTINE_STREAM].received == len(sent)
    assert totals[QUARANTINE_STREAM].quarantined == len(sent)
    assert totals["allocation"].quarantined == 0
    assert report.reject_ratio == 0  # the tap's rejects are not the target's
    backend = unsafe_perform_io(open_sql_backend(db_url).unwrap())
    with backend:
        loaded = unsafe_perform_io(backend.sink.snapshot("allocation").unwrap())
        assert set(loaded).isdisjoint(BAD_IDS)
        tables = (
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            if db_url.startswith("sqlite")
            else "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema()"
        )
        names = {str(name) for (name,) in query(backend, tables)}
    assert {n for n in names if "QUARANTINE" in n.upper()} == {"GNOS_QUARANTINE"}  # no other


def test_target_gruponos_refuses_a_quarantine_record_of_an_unknown_stream(
    tap_lines: list[bytes], tmp_path: Path
) -> None:
    schema = tap_lines[0]
    stray = orjson.dumps(
        {
            "type": "RECORD",
            "stream": QUARANTINE_STREAM,
            "record": {"stream": "nowhere", "id": "1", "reason": "bad", "payload": "{}"},
        }
    )
    target = programs.target_config(url=f"sqlite:///{tmp_path / 'stray.db'}")
    result = programs.run_target(target, [schema, stray])
    error = unsafe_perform_io(result.failure())
    assert error.code == "singer.bad_quarantine_record"
    assert error.context == {"line": 2, "stream": "nowhere"}
