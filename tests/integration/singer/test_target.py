"""target-gruponos into SQLite: complete loads, STATE only after commit, bad input, any stream."""

from __future__ import annotations

import io
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from returns.io import IOResult
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.sql import SqlBackend, open_sql_backend
from gruponos.application.errors import SinkError
from gruponos.application.load import TargetReport
from gruponos.domain.batches import Batch, WriteOutcome
from gruponos.domain.errors import DomainError
from gruponos.simulator import SimulatorConfig, WmsSimulator
from integration.singer import programs

ENTITIES = ["order_hdr", "allocation"]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def sim() -> Iterator[WmsSimulator]:
    with WmsSimulator(SimulatorConfig(records=120, page_size_default=50)) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def tap_lines(sim: WmsSimulator) -> list[bytes]:
    out = io.BytesIO()
    tap = programs.tap_config(sim, page_size=50, entities=ENTITIES)
    unsafe_perform_io(programs.run_tap(tap, out=out).unwrap())
    return out.getvalue().splitlines()


def backend(tmp_path: Path, *, history: bool = False) -> SqlBackend:
    url = f"sqlite:///{tmp_path / 'target.db'}"
    return unsafe_perform_io(open_sql_backend(url, history=history).unwrap())


def load(
    db: SqlBackend, lines: list[bytes], out: Any = None, **config: Any
) -> IOResult[TargetReport, DomainError]:
    return programs.run_target(programs.target_config(**config), lines, out, sink=db.sink)


def test_tap_output_loads_completely_and_states_follow_commits(
    sim: WmsSimulator, tap_lines: list[bytes], tmp_path: Path
) -> None:
    db = backend(tmp_path)
    needed: list[tuple[dict[str, Any], dict[str, set[int]]]] = []
    seen: dict[str, set[int]] = {}
    for line in tap_lines:
        message = orjson.loads(line)
        if message["type"] == "RECORD":
            seen.setdefault(message["stream"], set()).add(message["record"]["id"])
        elif message["type"] == "STATE":
            needed.append((message["value"], {k: set(v) for k, v in seen.items()}))

    class CheckingOut(io.BytesIO):
        """At every state the target prints, the records before it must be in the database."""

        emitted = 0

        def write(self, data: Any) -> int:
            value = orjson.loads(data)
            required = next(ids for state, ids in reversed(needed) if state == value)
            for entity, ids in required.items():
                stored = unsafe_perform_io(db.sink.snapshot(entity).unwrap())
                assert ids <= set(stored), f"{entity}: state printed before its records commit"
            self.emitted += 1
            return super().write(data)

    out = CheckingOut()
    report = unsafe_perform_io(load(db, tap_lines, out, batch_size=70).unwrap())
    assert out.emitted == report.states_emitted >= 3
    for entity in ENTITIES:
        assert unsafe_perform_io(db.sink.snapshot(entity).unwrap()) == sim.truth(entity)
    db.close()


def test_a_malformed_line_stops_the_load_and_keeps_what_was_committed(
    tap_lines: list[bytes], tmp_path: Path
) -> None:
    db = backend(tmp_path)
    cut = len(tap_lines) // 2
    broken = [*tap_lines[:cut], b'{"type": "RECORD", "stream": ', *tap_lines[cut:]]
    out = io.BytesIO()
    result = load(db, broken, out, batch_size=40)
    assert not is_successful(result)
    error = unsafe_perform_io(result.failure())
    assert error.code == "singer.bad_message"
    assert error.context["line"] == cut + 1
    printed = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert printed, "batches before the bad line were committed and their states printed"
    for entity, bookmark in printed[-1]["bookmarks"].items():
        stored = unsafe_perform_io(db.sink.snapshot(entity).unwrap())
        assert max(stored.values()).isoformat() >= bookmark["replication_key_value"]
    db.close()


def test_cli_malformed_input_is_a_clear_error(tap_lines: list[bytes], tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(orjson.dumps({"url": f"sqlite:///{tmp_path / 'cli.db'}"}).decode())
    result = subprocess.run(  # noqa: S603 - our own executable
        [str(BIN / "target-gruponos"), "--config", str(config)],
        input=b"\n".join([*tap_lines[:5], b"not json at all"]),
        capture_output=True,
        check=False,
    )
    assert result.returncode == 1
    assert b"input line 6: not JSON" in result.stderr
    assert b"Traceback" not in result.stderr


def _schema(properties: dict[str, Any], keys: list[str], bookmark: list[str]) -> bytes:
    message = {
        "type": "SCHEMA",
        "stream": "Customer Events",
        "schema": {"type": "object", "properties": properties},
        "key_properties": keys,
        "bookmark_properties": bookmark,
    }
    return orjson.dumps(message)


def _record(record: dict[str, Any]) -> bytes:
    message = {
        "type": "RECORD",
        "stream": "Customer Events",
        "record": record,
        "time_extracted": "2024-05-01T00:00:00Z",
    }
    return orjson.dumps(message)


GENERIC = {
    "id": {"type": "string"},
    "region": {"type": "string"},
    "updated_at": {"type": "string", "format": "date-time"},
    "amount": {"type": ["number", "null"]},
    "tags": {"type": ["array", "null"]},
}


def test_any_stream_with_a_composite_string_key_and_schema_evolution(tmp_path: Path) -> None:
    db = backend(tmp_path)
    lines = [
        _schema(GENERIC, ["id", "region"], ["updated_at"]),
        _record(
            {
                "id": "a",
                "region": "N",
                "updated_at": "2024-01-01T00:00:00-03:00",
                "amount": 1.10,
                "tags": ["x"],
            }
        ),
        _record({"id": "a", "region": "S", "updated_at": "2024-01-01T00:00:00Z", "amount": 2}),
        # an older version of (a, N) must not roll the row back (monotonic upsert)
        _record({"id": "a", "region": "N", "updated_at": "2023-12-31T00:00:00Z", "amount": 9}),
        _schema(
            {**GENERIC, "note": {"type": ["string", "null"]}}, ["id", "region"], ["updated_at"]
        ),
        _record({"id": "b", "region": "N", "updated_at": "2024-02-01T00:00:00Z", "note": "new"}),
        orjson.dumps({"type": "STATE", "value": {"bookmarks": {"x": 1}}}),
    ]
    out = io.BytesIO()
    report = unsafe_perform_io(load(db, lines, out).unwrap())
    assert report.streams[0].received == 4
    assert orjson.loads(out.getvalue()) == {"bookmarks": {"x": 1}}
    table = db.sink.table_name("Customer Events")
    db.close()
    with sqlite3.connect(tmp_path / "target.db") as conn:
        rows = conn.execute(
            f'SELECT "SRC_ID", "REGION", "AMOUNT", "TAGS", "NOTE", "MOD_TS" FROM "{table}"'
            ' ORDER BY "SRC_ID", "REGION"'
        ).fetchall()
    assert [(r[0], r[1], r[4]) for r in rows] == [
        ("a", "N", None),
        ("a", "S", None),
        ("b", "N", "new"),
    ]
    assert str(rows[0][2]) == "1.1"  # the newer version, exact
    assert orjson.loads(rows[0][3]) == ["x"]
    assert rows[0][5].startswith("2024-01-01T03:00:00")  # UTC instant of -03:00


def test_stream_without_key_properties_is_refused(tmp_path: Path) -> None:
    db = backend(tmp_path)
    result = load(db, [_schema(GENERIC, [], [])])
    assert unsafe_perform_io(result.failure()).code == "singer.no_key"
    db.close()


def test_record_before_schema_is_refused(tmp_path: Path) -> None:
    db = backend(tmp_path)
    result = load(db, [_record({"id": "a"})])
    assert unsafe_perform_io(result.failure()).code == "singer.record_before_schema"
    db.close()


def test_append_only_keeps_every_version_and_overwrite_soft_deletes(tmp_path: Path) -> None:
    db = backend(tmp_path, history=True)
    first = [
        _schema(GENERIC, ["id"], ["updated_at"]),
        _record({"id": "a", "region": "N", "updated_at": "2024-01-01T00:00:00Z"}),
        _record({"id": "a", "region": "N", "updated_at": "2024-01-02T00:00:00Z"}),
        _record({"id": "b", "region": "N", "updated_at": "2024-01-02T00:00:00Z"}),
    ]
    unsafe_perform_io(load(db, first, load_method="append-only").unwrap())
    table = db.sink.table_name("Customer Events")
    db.close()
    with sqlite3.connect(tmp_path / "target.db") as conn:
        assert conn.execute(f'SELECT COUNT(*) FROM "{table}_HIST"').fetchone() == (3,)
    db = backend(tmp_path)
    second = [first[0], _record({"id": "b", "region": "N", "updated_at": "2024-01-03T00:00:00Z"})]
    report = unsafe_perform_io(load(db, second, load_method="overwrite").unwrap())
    assert report.streams[0].deleted == 1
    db.close()
    with sqlite3.connect(tmp_path / "target.db") as conn:
        live = conn.execute(
            f'SELECT "SRC_ID" FROM "{table}" WHERE "GNOS_DELETED_AT" IS NULL'
        ).fetchall()
    assert live == [("b",)]


def test_a_failed_batch_prints_no_state(tmp_path: Path, tap_lines: list[bytes]) -> None:
    db = backend(tmp_path)

    class FailingSink:
        def __getattr__(self, name: str) -> Any:
            return getattr(db.sink, name)

        def write(self, batch: Batch) -> IOResult[WriteOutcome, SinkError]:
            from returns.io import IOFailure  # noqa: PLC0415

            return IOFailure(SinkError("sink.write_failed", "disk full", {}))

    out = io.BytesIO()
    result = programs.run_target(programs.target_config(), tap_lines, out, sink=FailingSink())
    assert unsafe_perform_io(result.failure()).code == "sink.write_failed"
    assert out.getvalue() == b""
    db.close()
