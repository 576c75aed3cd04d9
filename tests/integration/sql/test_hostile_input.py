"""Hostile names cannot change the SQL executed; values that do not fit are quarantined."""

from __future__ import annotations

from datetime import timedelta

import pytest
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.sql.ddl import fit_identifier, quote
from gruponos.domain.batches import Batch, WriteOutcome
from gruponos.domain.checkpoints import Checkpoint, Position, StateKey, SyncMode
from gruponos.domain.naming import sql_identifier, table_identifier
from gruponos.domain.records import NormalizedRecord
from gruponos.domain.schema import FieldType, SourceField, build_schema
from support.sqlsink import T0, BackendFactory, query

HOSTILE_ENTITY = 'x"; DROP TABLE "GNOS_STATE"; --'
HOSTILE_FIELDS = [
    'a"b',
    "semi;colon",
    "with space",
    "select",
    "order",
    "y" * 200,
    "y" * 199,
    "gnos_loaded_at",
    "'); DELETE FROM GNOS_RUNS; --",
]


def tables(backend: object, url: str) -> set[str]:
    if url.startswith("sqlite"):
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    else:
        sql = (
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    return {row[0] for row in query(backend, sql)}  # type: ignore[arg-type]


def test_hostile_names_become_their_mapped_identifiers_only(
    open_backend: BackendFactory, db_url: str
) -> None:
    backend = open_backend(table_prefix='WMS_"; --')
    fields = [SourceField("id", FieldType.PK), SourceField("mod_ts", FieldType.DATETIME)]
    fields += [SourceField(name, FieldType.VARCHAR, max_length=300) for name in HOSTILE_FIELDS]
    schema = build_schema(HOSTILE_ENTITY, fields).unwrap()
    unsafe_perform_io(backend.sink.prepare(schema).unwrap())
    unsafe_perform_io(backend.sink.prepare(schema).unwrap())  # again: nothing to add
    limit = backend.db.dialect.max_identifier
    table = fit_identifier(table_identifier('WMS_"; --', HOSTILE_ENTITY), limit)
    assert table == "WMS__X_DROP_TABLE_GNOS_STATE_10F06AE4"  # deterministic
    assert tables(backend, db_url) == {table, "GNOS_STATE", "GNOS_RUNS", "GNOS_QUARANTINE"}
    described = unsafe_perform_io(backend.sink.describe_table(HOSTILE_ENTITY).unwrap())
    mapped = sorted(fit_identifier(sql_identifier(n), limit) for n in HOSTILE_FIELDS)
    names = [name for name, _ in described]
    assert names[:2] == ["ID", "MOD_TS"]
    assert sorted(names[2:-5]) == mapped
    assert names[-5:] == [
        "GNOS_LOADED_AT",
        "GNOS_RUN_ID",
        "GNOS_SEEN_GEN",
        "GNOS_EXTRA",
        "GNOS_DELETED_AT",
    ]
    values = {sql_identifier(n): n for n in HOSTILE_FIELDS}  # the names as values: bound, inert
    record = NormalizedRecord(1, T0, {"ID": 1, "MOD_TS": T0, **values})
    outcome = unsafe_perform_io(backend.sink.write(Batch(HOSTILE_ENTITY, "r", (record,))).unwrap())
    assert outcome == WriteOutcome(written=1)
    stored = query(backend, f"SELECT {quote(sql_identifier('semi;colon'))} FROM {quote(table)}")
    assert stored == [("semi;colon",)]
    assert tables(backend, db_url) == {table, "GNOS_STATE", "GNOS_RUNS", "GNOS_QUARANTINE"}


@pytest.mark.parametrize(
    "name", ['A"B', "a", "1A", "A B", "A;B", "A" * 129, "", "Ä"], ids=lambda n: repr(n)[:12]
)
def test_quote_refuses_unsafe_identifiers(name: str) -> None:
    with pytest.raises(ValueError, match="not a safe SQL identifier"):
        quote(name)


@pytest.mark.postgres
def test_postgres_quarantines_values_that_do_not_fit(pg_url: str) -> None:
    from gruponos.adapters.sql import open_sql_backend  # noqa: PLC0415

    backend = unsafe_perform_io(open_sql_backend(pg_url).unwrap())
    try:
        fields = [
            SourceField("id", FieldType.PK),
            SourceField("mod_ts", FieldType.DATETIME),
            SourceField("code", FieldType.VARCHAR, max_length=5),
            SourceField("qty", FieldType.INTEGER),
        ]
        schema = build_schema("item", fields).unwrap()
        unsafe_perform_io(backend.sink.prepare(schema).unwrap())

        def rec(rid: int, code: str, qty: int = 1) -> NormalizedRecord:
            ts = T0 + timedelta(seconds=rid)
            return NormalizedRecord(rid, ts, {"ID": rid, "MOD_TS": ts, "CODE": code, "QTY": qty})

        records = (
            rec(1, "ok"),
            rec(2, "far too long"),
            rec(3, "fine"),
            rec(4, "ok", 2**63),
            rec(5, "nul\x00"),
            rec(6, "lone\udc80"),
            rec(7, "last"),
        )
        key = StateKey("incremental", "item")
        checkpoint = Checkpoint(SyncMode.INCREMENTAL, Position(T0 + timedelta(seconds=7), 7))
        batch = Batch("item", "r1", records, state_key=key, checkpoint=checkpoint)
        outcome = unsafe_perform_io(backend.sink.write(batch).unwrap())
        assert outcome == WriteOutcome(written=3, quarantined=4)
        snapshot = unsafe_perform_io(backend.sink.snapshot("item").unwrap())
        assert sorted(snapshot) == [1, 3, 7]
        assert unsafe_perform_io(backend.state.load(key).unwrap()) == checkpoint
        rows = unsafe_perform_io(backend.sink.quarantined("item", 10).unwrap())
        reasons = {r["record_id"]: r["reason"] for r in rows}
        assert "value too long for type character varying(5)" in reasons["2"]
        assert "out of range" in reasons["4"]
        assert "0x00" in reasons["5"] or "NUL" in reasons["5"]
        assert "surrogate" in reasons["6"]
    finally:
        backend.close()
