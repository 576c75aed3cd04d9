"""The quarantine stream's records (stable keys) and target-gruponos' handling of them, with the
in-memory sink."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.memory import InMemoryDatabase, InMemorySink, ManualClock
from gruponos.adapters.singer.messages import record_line, schema_line
from gruponos.adapters.singer.streams import (
    QUARANTINE_KEY,
    QUARANTINE_STREAM,
    quarantine_json_schema,
    quarantine_record,
)
from gruponos.adapters.singer.target import SingerStates, SingerTarget
from gruponos.application.load import LoadOptions, LoadStreams

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@given(st.dictionaries(st.text(max_size=6), JSON, max_size=6))
def test_the_key_depends_on_the_payload_not_on_its_key_order(payload: dict[str, Any]) -> None:
    record = quarantine_record("allocation", 7, "bad", payload, AT)
    shuffled = dict(reversed(list(payload.items())))
    assert quarantine_record("allocation", 7, "bad", shuffled, AT) == record
    assert record["fingerprint"] == hashlib.sha256(record["payload"].encode()).hexdigest()
    assert json.loads(record["payload"]) == payload  # exact, also over 64 bits
    changed = quarantine_record("allocation", 7, "bad", {**payload, "mod_ts": "later"}, AT)
    if payload.get("mod_ts") != "later":
        assert changed["fingerprint"] != record["fingerprint"]  # another version, another row


def test_any_payload_becomes_a_record_of_the_schema() -> None:
    schema = quarantine_json_schema()
    for payload, record_id in (({"id": 2**70}, 2**70), ("not an object", None), ([1, 2], "x")):
        record = quarantine_record("order_dtl", record_id, "why", payload, AT)
        assert set(record) == set(schema["properties"])
        assert set(schema["required"]) | set(QUARANTINE_KEY) <= set(record)
        assert record["id"] == (None if record_id is None else str(record_id))
        assert json.loads(record["payload"]) == payload  # exact, also over 64 bits


def entity_schema() -> bytes:
    properties = {
        "id": {"type": "integer"},
        "mod_ts": {"type": "string", "format": "date-time"},
        "qty": {"type": ["string", "null"], "format": "singer.decimal"},
    }
    return schema_line("allocation", {"type": "object", "properties": properties}, ["id"])


def quarantine_line(**record: Any) -> bytes:
    return record_line(QUARANTINE_STREAM, record, AT)


def run(lines: list[bytes]) -> tuple[Any, InMemoryDatabase]:
    """The target's input adapter over the load use case and the in-memory sink."""
    db = InMemoryDatabase()
    clock = ManualClock(AT)
    options = LoadOptions(run_id="run-t", forwarded_stream=QUARANTINE_STREAM)
    load = LoadStreams(InMemorySink(db), SingerStates(io.BytesIO()), clock, options)
    return SingerTarget(load, clock).process(lines), db


def test_the_target_quarantines_the_records_with_their_stream_and_not_as_its_own() -> None:
    good = record_line("allocation", {"id": 1, "mod_ts": "2024-01-01T00:00:00Z", "qty": "1"}, AT)
    bad = quarantine_record("allocation", 2, "qty: not a decimal", {"id": 2, "qty": "x"}, AT)
    lines = [
        schema_line(QUARANTINE_STREAM, quarantine_json_schema(), QUARANTINE_KEY),
        entity_schema(),
        good,
        quarantine_line(**bad),
    ]
    result, db = run(lines)
    report = unsafe_perform_io(result.unwrap())
    ((run_id, rejected),) = db.quarantine
    assert run_id == "run-t"
    assert (rejected.entity, rejected.record_id, rejected.reason) == (
        "allocation",
        "2",
        bad["reason"],
    )
    assert rejected.payload == bad["payload"]
    totals = {s.stream: s for s in report.streams}
    assert (totals["allocation"].received, totals["allocation"].quarantined) == (1, 0)
    assert (totals[QUARANTINE_STREAM].received, totals[QUARANTINE_STREAM].quarantined) == (1, 1)
    assert report.reject_ratio == 0


def test_the_target_refuses_quarantine_records_it_cannot_place() -> None:
    quarantine_schema = schema_line(QUARANTINE_STREAM, quarantine_json_schema(), QUARANTINE_KEY)
    record = quarantine_record("allocation", 2, "why", {"id": 2}, AT)
    cases = {
        "singer.record_before_schema": [entity_schema(), quarantine_line(**record)],
        "singer.bad_quarantine_record": [
            quarantine_schema,
            entity_schema(),
            quarantine_line(**{**record, "reason": None}),
        ],
    }
    for code, lines in cases.items():
        result, db = run(lines)
        assert unsafe_perform_io(result.failure()).code == code
        assert db.quarantine == []
