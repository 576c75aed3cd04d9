"""Singer message decoding, stream planning and the Meltano state store (with a fake CLI)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.singer.messages import (
    MessageError,
    OtherMessage,
    RecordMessage,
    SchemaMessage,
    StateMessage,
    parse_line,
    record_line,
    target_state_line,
)
from gruponos.adapters.singer.stream_plan import key_hash, plan_stream
from gruponos.adapters.state.meltano import MeltanoStateStore
from gruponos.domain.checkpoints import Checkpoint, Position, StateKey, SyncMode
from gruponos.domain.schema import ColumnType, FieldType
from support.meltano_fake import FakeMeltano


def test_messages_round_trip_and_decode_by_type() -> None:
    at = datetime(2024, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
    line = record_line("s", {"id": 1}, at)
    assert b'"time_extracted":"2024-01-02T03:04:05.600000Z"' in line
    message = parse_line(line, 1)
    assert message == RecordMessage("s", {"id": 1}, at)
    schema = b'{"type":"SCHEMA","stream":"s","schema":{"properties":{}},"key_properties":["id"]}'
    assert isinstance(parse_line(schema, 2), SchemaMessage)
    assert parse_line(b'{"type":"STATE","value":{"a":1}}', 3) == StateMessage({"a": 1})
    assert isinstance(parse_line(b'{"type":"ACTIVATE_VERSION","stream":"s"}', 4), OtherMessage)
    assert parse_line(b"   \n", 5) is None
    assert target_state_line({"a": 1}) == b'{"a":1}\n'


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1]", "JSON object"),
        (b'{"stream": "s"}', "'type'"),
        (b'{"type":"RECORD","stream":"s"}', "'record'"),
        (b'{"type":"RECORD","stream":"","record":{}}', "'stream'"),
        (b'{"type":"SCHEMA","stream":"s","schema":{},"key_properties":"id"}', "key_properties"),
        (b'{"type":"STATE","value":[]}', "'value'"),
        (b'{"type":"RECORD","stream":"s","record":{},"time_extracted":"x"}', "time_extracted"),
    ],
)
def test_bad_lines_name_the_problem(line: bytes, reason: str) -> None:
    with pytest.raises(MessageError, match=reason) as caught:
        parse_line(line, 7)
    assert caught.value.line == 7


def test_types_map_exactly() -> None:
    properties = {
        "id": {"type": "integer"},
        "mod_ts": {"type": "string", "format": "date-time"},
        "qty": {"type": ["string", "null"], "format": "singer.decimal"},
        "price": {"type": ["number", "null"]},
        "day": {"type": "string", "format": "date"},
        "ok": {"type": ["boolean", "null"]},
        "doc": {"type": ["string", "null"], "contentMediaType": "application/json"},
        "name": {"type": "string", "maxLength": 20},
        "mixed": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
    }
    plan = plan_stream("s", {"properties": properties}, ["id"], ["mod_ts"]).unwrap()
    assert plan.native_key
    types = {c.name: c.type for c in plan.schema.columns}
    assert types == {
        "ID": ColumnType.INTEGER,
        "MOD_TS": ColumnType.TIMESTAMP,
        "QTY": ColumnType.DECIMAL,
        "PRICE": ColumnType.DECIMAL,
        "DAY": ColumnType.DATE,
        "OK": ColumnType.BOOLEAN,
        "DOC": ColumnType.JSON,
        "NAME": ColumnType.TEXT,
        "MIXED": ColumnType.JSON,
    }
    assert plan.schema.column("NAME").max_length == 20
    prepared = plan.prepare(
        {"id": 1, "mod_ts": "2024-01-01T00:00:00Z", "doc": '{"a": 1}'}, datetime.now(UTC)
    )
    assert prepared["doc"] == {"a": 1}


def test_foreign_keys_become_a_stable_hash_and_the_clock_fills_mod_ts() -> None:
    plan = plan_stream(
        "users", {"properties": {"id": {"type": "string"}, "mod_ts": {"type": "integer"}}}, ["id"]
    ).unwrap()
    assert not plan.native_key
    assert plan.mod_ts_source is None
    at = datetime(2024, 5, 1, tzinfo=UTC)
    prepared = plan.prepare({"id": "u1", "mod_ts": 7}, at)
    assert prepared == {
        "src_id": "u1",
        "src_mod_ts": 7,
        "id": key_hash(["u1"]),
        "mod_ts": at.isoformat(),
    }
    assert 0 < key_hash(["u1"]) < 2**63
    assert key_hash(["u1"]) != key_hash(["u2"])
    assert {f.name: f.type for f in plan.schema.fields}["src_mod_ts"] is FieldType.INTEGER
    assert plan.prepare({"mod_ts": 7}, at)["id"] is None  # a missing key is rejected later


def test_plan_refuses_unknown_keys() -> None:
    failure = plan_stream("s", {"properties": {"a": {"type": "string"}}}, ["b"]).failure()
    assert failure.code == "singer.bad_key"


def test_meltano_store_reads_and_writes_singer_bookmarks(tmp_path: Path) -> None:
    fake = FakeMeltano()
    fake.states["dev:t-to-x"] = {"singer_state": {"bookmarks": {"other": {"keep": 1}}}}
    store = MeltanoStateStore(tmp_path, "dev:t-to-x", environment="dev", runner=fake)
    key = StateKey("incremental", "allocation")
    assert unsafe_perform_io(store.load(key).unwrap()) is None
    ts = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    unsafe_perform_io(store.save(key, Checkpoint(SyncMode.INCREMENTAL, Position(ts, 9))).unwrap())
    full = Checkpoint(SyncMode.FULL, generation="g", last_id=5)
    unsafe_perform_io(store.save(StateKey("full", "allocation"), full).unwrap())
    bookmarks = fake.states["dev:t-to-x"]["singer_state"]["bookmarks"]
    assert bookmarks["other"] == {"keep": 1}
    assert bookmarks["allocation"]["replication_key"] == "mod_ts"
    assert bookmarks["allocation"]["replication_key_value"] == "2024-05-01T12:00:00+00:00"
    loaded = unsafe_perform_io(store.load(key).unwrap())
    assert loaded is not None and loaded.position is not None
    assert loaded.position.mod_ts == ts
    assert unsafe_perform_io(store.load(StateKey("full", "allocation")).unwrap()) == full
    assert set(unsafe_perform_io(store.all().unwrap())) == {key, StateKey("full", "allocation")}
    unsafe_perform_io(store.reset(key).unwrap())
    assert unsafe_perform_io(store.load(key).unwrap()) is None
    assert all(c[1:5] == ["--log-level", "disabled", "--environment", "dev"] for c in fake.calls)


def test_meltano_store_failures_are_state_errors(tmp_path: Path) -> None:
    def broken(argv: Sequence[str], cwd: Path) -> tuple[int, str, str]:
        return 1, "", "Error: `meltano state` must be run inside a Meltano project.\n"

    store = MeltanoStateStore(tmp_path, "dev:x", runner=broken)
    error = unsafe_perform_io(store.load(StateKey("incremental", "a")).failure())
    assert error.code == "state.load_failed"
    assert "inside a Meltano project" in error.message

    def missing(argv: Sequence[str], cwd: Path) -> tuple[int, str, str]:
        raise FileNotFoundError("meltano")

    store = MeltanoStateStore(tmp_path, "dev:x", runner=missing)
    assert unsafe_perform_io(store.all().failure()).code == "state.load_failed"


def test_meltano_store_locks_per_key(tmp_path: Path) -> None:
    store = MeltanoStateStore(tmp_path, "dev:x", runner=FakeMeltano())
    key = StateKey("incremental", "a")
    lease = unsafe_perform_io(store.lock(key, "run-1").unwrap())
    assert unsafe_perform_io(store.lock(key, "run-2").failure()).code == "state.locked"
    unsafe_perform_io(store.lock(StateKey("incremental", "b"), "run-2").unwrap()).release()
    lease.release()
    unsafe_perform_io(store.lock(key, "run-2").unwrap()).release()
