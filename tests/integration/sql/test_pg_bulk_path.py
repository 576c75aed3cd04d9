"""PostgreSQL's bulk path (COPY text straight from the records, a staging table per session) stores
exactly what the prepared-row path stores, quarantines the same records, and falls back to it.

Two backends on two schemas of one server write the same batches: one as shipped, one whose dialect
never makes a bulk payload (the prepared-row path only). Same table names, same clock, so their
tables, quarantine rows and outcomes must be equal to the character.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar

import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from returns.io import IOFailure, IOResult
from returns.unsafe import unsafe_perform_io
from typing_extensions import override

from gruponos.adapters.sql import SqlBackend
from gruponos.adapters.sql.ddl import TableSpec
from gruponos.adapters.sql.dialect import PreparedRow, UpsertResult
from gruponos.adapters.sql.postgres import PostgresDialect, stage_name
from gruponos.adapters.sql.rows import BatchMeta
from gruponos.application.errors import SinkError
from gruponos.domain.batches import Batch, WriteOutcome
from gruponos.domain.checkpoints import Checkpoint, Position, StateKey, SyncMode
from gruponos.domain.records import NormalizedRecord
from gruponos.domain.schema import EntitySchema, FieldType, SourceField, build_schema
from support.sqlsink import T0, FailingConnection, pg_schema, query

pytestmark = pytest.mark.postgres
CLOCK = datetime(2024, 6, 1, 8, 30, tzinfo=UTC)
_entities = itertools.count()

T = TypeVar("T")


class SpyDialect(PostgresDialect):
    """PostgreSQL as shipped (or, with ``bulk=False``, without a bulk payload), noting the path
    each batch took: ``bulk``, ``bulk refused`` (the database refused a value), ``prepared``."""

    def __init__(self, conninfo: str, *, bulk: bool = True) -> None:
        super().__init__(conninfo)
        self.bulk = bulk
        self.paths: list[str] = []

    @override
    def bulk_payload(
        self, spec: TableSpec, records: Sequence[NormalizedRecord], meta: BatchMeta
    ) -> bytes | None:
        return super().bulk_payload(spec, records, meta) if self.bulk else None

    @override
    def upsert_bulk(self, cur: Any, spec: TableSpec, payload: bytes) -> UpsertResult | None:
        result = super().upsert_bulk(cur, spec, payload)
        self.paths.append("bulk" if result is not None else "bulk refused")
        return result

    @override
    def upsert(self, cur: Any, spec: TableSpec, rows: Sequence[PreparedRow]) -> UpsertResult:
        self.paths.append("prepared")
        return super().upsert(cur, spec, rows)


def open_spy(url: str, *, bulk: bool = True, failing: bool = False) -> SqlBackend:
    dialect = SpyDialect(url, bulk=bulk)
    conn = dialect.connect()
    if failing:
        conn = FailingConnection(conn, psycopg.OperationalError)
    return SqlBackend(dialect, conn, where="test", clock=lambda: CLOCK)


def spy(backend: SqlBackend) -> SpyDialect:
    dialect = backend.db.dialect
    assert isinstance(dialect, SpyDialect)
    return dialect


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[SqlBackend, SqlBackend]]:
    """(shipped, prepared-only) backends, each on a schema of its own, for the whole module."""
    with pg_schema() as shipped_url, pg_schema() as prepared_url:
        backends = (open_spy(shipped_url), open_spy(prepared_url, bulk=False))
        try:
            yield backends
        finally:
            for backend in backends:
                backend.close()


@pytest.fixture
def backend(pg_url: str) -> Iterator[SqlBackend]:
    opened = open_spy(pg_url)
    yield opened
    opened.close()


FIELDS = [
    SourceField("id", FieldType.PK),
    SourceField("mod_ts", FieldType.DATETIME),
    SourceField("qty", FieldType.INTEGER),
    SourceField("amount", FieldType.DECIMAL),
    SourceField("code", FieldType.VARCHAR, max_length=8),
    SourceField("note", FieldType.VARCHAR),
    SourceField("rush_flg", FieldType.BOOLEAN),
    SourceField("ship_date", FieldType.DATE),
    SourceField("picked_ts", FieldType.DATETIME),
    SourceField("lines", FieldType.JSON),
]


def new_schema(*extra: SourceField) -> EntitySchema:
    return build_schema(f"bulk_{next(_entities)}", [*FIELDS, *extra]).unwrap()


def ok(result: IOResult[T, Any]) -> T:
    assert not isinstance(result, IOFailure), result
    return unsafe_perform_io(result.unwrap())


# -- values: tricky but well-typed ones the bulk path must take, hostile ones it must hand over --

_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=-3)), timezone(timedelta(minutes=345))])
_TEXT = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00")
    | st.sampled_from(list("\\\t\n\r\x08\x0b\x0c")),
    max_size=10,
) | st.sampled_from(["", "\\N", "\\.", "a\\tb", "é漢🙂", "NULL", "x\r\ny\tz\\"])
_DECIMAL = st.integers(0, 6).flatmap(
    lambda places: st.decimals(-(10**12), 10**12, places=places, allow_nan=False)
) | st.sampled_from([Decimal("1E+2"), Decimal("-0"), Decimal("0E-7"), Decimal("1.500")])
CLEAN = {
    "QTY": st.none() | st.integers(-(2**63), 2**63 - 1),
    "AMOUNT": st.none() | _DECIMAL,
    "CODE": st.none() | _TEXT.map(lambda s: s[:8]),
    "NOTE": st.none() | _TEXT,
    "RUSH_FLG": st.none() | st.booleans(),
    "SHIP_DATE": st.none() | st.dates(),
    "PICKED_TS": st.none() | st.datetimes(timezones=_ZONES),
    "LINES": st.none() | _TEXT,
}
_WRONG = [True, "7", 1.5, Decimal("2.5"), date(2024, 1, 2), False, 7]
_UNFIT_TEXT = ["nul\x00", "lone\udc80", "\ud800"]
#: Values only the database refuses (VARCHAR(8), NUMERIC's range): the bulk COPY fails.
REFUSED_BY_DATABASE: dict[str, st.SearchStrategy[Any]] = {
    "CODE": st.sampled_from(["far too long", "x" * 9]),
    "AMOUNT": st.just(Decimal("1E+131072")),
}
#: Values the bulk path must not vouch for (wrong type, unfit) or the database refuses.
HOSTILE: dict[str, st.SearchStrategy[Any]] = {
    name: st.sampled_from(values)
    for name, values in {
        "QTY": [2**63, -(2**63) - 1, 2**70, *_WRONG[:-1]],
        "AMOUNT": [Decimal(v) for v in ("NaN", "Infinity", "-Infinity", "sNaN", "1E+131072")]
        + [v for v in _WRONG if not isinstance(v, Decimal)],
        "CODE": ["far too long", *_UNFIT_TEXT, *_WRONG[:-2], 7],
        "NOTE": [*_UNFIT_TEXT, *_WRONG],
        "RUSH_FLG": [1, 0, "t", *_WRONG[1:-2]],
        "SHIP_DATE": [datetime(2024, 1, 2, tzinfo=UTC), "2024-01-02", *_WRONG[:-3]],
        # a naive timestamp (never from the normalizer): the prepared path reads it in the
        # session's time zone
        "PICKED_TS": [date(2024, 1, 2), "2024-01-02T00:00:00Z", datetime(2000, 1, 1), *_WRONG],
        "LINES": [*_UNFIT_TEXT, *_WRONG],
        "GNOS_EXTRA": [{"bad": "\udc80"}, {"bad\ud800": 1}],
    }.items()
}
_EXTRA_VALUE = st.none() | st.booleans() | st.integers() | _TEXT
CLEAN_EXTRA = st.none() | st.dictionaries(st.text(max_size=4), _EXTRA_VALUE, max_size=3)


@st.composite
def records(draw: st.DrawFn, hostile: dict[str, st.SearchStrategy[Any]]) -> NormalizedRecord:
    """A record; in the ``hostile`` columns a value is hostile one time in three."""

    def value(name: str, clean: st.SearchStrategy[Any]) -> Any:
        bad = name in hostile and draw(st.integers(0, 2)) == 0
        return draw(hostile[name] if bad else clean)

    rid = draw(st.integers(1, 5))
    mod_ts = T0 + timedelta(seconds=draw(st.integers(0, 4)))
    values: dict[str, Any] = {"ID": rid, "MOD_TS": mod_ts}
    for name, clean in CLEAN.items():
        if draw(st.integers(0, 9)) > 0:  # else missing: read as null
            values[name] = value(name, clean)
    return NormalizedRecord(rid, mod_ts, values, value("GNOS_EXTRA", CLEAN_EXTRA))


@dataclass(frozen=True)
class Plan:
    mode: str
    run_id: str
    generation: str | None
    batches: tuple[tuple[NormalizedRecord, ...], ...]


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    mode = draw(st.sampled_from(["tricky", "refused by the database", "hostile"]))
    pool = {"refused by the database": REFUSED_BY_DATABASE, "hostile": HOSTILE}.get(mode, {})
    names = draw(st.sets(st.sampled_from(sorted(pool)), min_size=1, max_size=2)) if pool else set()
    hostile = {name: pool[name] for name in names}
    batch = st.lists(records(hostile), min_size=1, max_size=8).map(tuple)
    return Plan(
        mode,
        draw(st.sampled_from(["run-1", "run\t\\2", "rün-3"])),
        draw(st.sampled_from([None, "gen-1", "gen\\2"])),
        tuple(draw(st.lists(batch, min_size=1, max_size=3))),
    )


def stored(backend: SqlBackend, table: str) -> list[tuple[Any, ...]]:
    """Every column of every row as PostgreSQL prints it: exact, scale of numerics included."""
    return query(backend, f'SELECT t::text FROM "{table}" t ORDER BY "ID"')


def quarantined(backend: SqlBackend, entity: str) -> list[tuple[Any, ...]]:
    return query(
        backend,
        'SELECT "RECORD_ID", "PAYLOAD", "REASON", "RUN_ID", "QUARANTINED_AT"'
        ' FROM "GNOS_QUARANTINE" WHERE "ENTITY" = %s ORDER BY "SEQ"',
        (entity,),
    )


def outcome(result: IOResult[WriteOutcome, SinkError]) -> object:
    if isinstance(result, IOFailure):
        return unsafe_perform_io(result.failure()).code
    return unsafe_perform_io(result.unwrap())


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(plan=plans())
def test_bulk_and_prepared_paths_store_and_quarantine_the_same(
    pair: tuple[SqlBackend, SqlBackend], plan: Plan
) -> None:
    shipped, reference = pair
    schema = new_schema()
    for backend in pair:
        ok(backend.sink.prepare(schema))
    for backend in pair:
        spy(backend).paths.clear()
    for records_ in plan.batches:
        batch = Batch(schema.entity, plan.run_id, records_, generation=plan.generation)
        assert outcome(shipped.sink.write(batch)) == outcome(reference.sink.write(batch))
    table = shipped.sink.table_name(schema.entity)
    assert stored(shipped, table) == stored(reference, table)
    assert quarantined(shipped, schema.entity) == quarantined(reference, schema.entity)
    paths = spy(shipped).paths
    for path in paths:
        event(path)
    event(plan.mode)
    if plan.mode == "tricky":  # every batch must have gone in at once
        assert paths == ["bulk"] * len(plan.batches)
    elif plan.mode == "refused by the database":  # else found by the prepared path, row by row
        assert " ".join(paths).replace("bulk refused prepared", "bulk").split() == ["bulk"] * len(
            plan.batches
        )
    assert set(spy(reference).paths) <= {"prepared"}  # it never bulks


def rec(rid: int, second: int = 0, extra: dict[str, Any] | None = None, **values: Any) -> Any:
    mod_ts = T0 + timedelta(seconds=second)
    row = {"ID": rid, "MOD_TS": mod_ts, "QTY": rid, "CODE": f"C{rid}", "NOTE": "n", **values}
    return NormalizedRecord(rid, mod_ts, row, extra)


def test_a_clean_batch_goes_in_at_once(backend: SqlBackend) -> None:
    schema = new_schema()
    ok(backend.sink.prepare(schema))
    batch = Batch(schema.entity, "r1", (rec(1, NOTE="tab\there \\ é"), rec(2), rec(1, 1)))
    assert ok(backend.sink.write(batch)) == WriteOutcome(written=2)
    assert spy(backend).paths == ["bulk"]
    table = backend.sink.table_name(schema.entity)
    rows = query(backend, f'SELECT "ID", "MOD_TS", "NOTE" FROM "{table}" ORDER BY "ID"')
    assert rows == [(1, T0 + timedelta(seconds=1), "n"), (2, T0, "n")]


def test_a_value_the_database_refuses_sends_the_batch_down_the_prepared_path(
    backend: SqlBackend,
) -> None:
    schema = new_schema()
    ok(backend.sink.prepare(schema))
    batch = Batch(schema.entity, "r1", (rec(1), rec(2, CODE="far too long"), rec(3)))
    assert ok(backend.sink.write(batch)) == WriteOutcome(written=2, quarantined=1)
    assert spy(backend).paths == ["bulk refused", "prepared"]
    [(record_id, reason)] = [
        (r["record_id"], r["reason"]) for r in ok(backend.sink.quarantined(schema.entity))
    ]
    assert (record_id, reason) == ("2", "value too long for type character varying(8)")
    assert sorted(ok(backend.sink.snapshot(schema.entity))) == [1, 3]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"AMOUNT": Decimal("NaN")}, "AMOUNT: not a finite decimal: NaN"),
        ({"NOTE": "lone\udc80"}, "NOTE: text is not valid Unicode (lone surrogate)"),
        # not stored as 7: a type the column does not take is refused, as on every dialect
        ({"QTY": "7"}, "QTY: expected an integer, got str '7'"),
    ],
    ids=["nan", "surrogate", "text in integer"],
)
def test_what_the_bulk_path_cannot_vouch_for_takes_the_prepared_path(
    backend: SqlBackend, changes: dict[str, Any], reason: str | None
) -> None:
    schema = new_schema()
    ok(backend.sink.prepare(schema))
    result = ok(backend.sink.write(Batch(schema.entity, "r1", (rec(1), rec(2, **changes)))))
    assert spy(backend).paths == ["prepared"]
    reasons = [r["reason"] for r in ok(backend.sink.quarantined(schema.entity))]
    assert reasons == ([reason] if reason else [])
    assert result.quarantined == len(reasons)


def stage_oid(backend: SqlBackend, spec: TableSpec) -> int | None:
    [(oid,)] = query(
        backend, "SELECT to_regclass(%s)::oid", (f'pg_temp."{stage_name(spec, bulk=True)}"',)
    )
    return None if oid is None else int(oid)


def test_the_stage_is_made_once_per_session_and_layout(backend: SqlBackend) -> None:
    schema = new_schema()
    ok(backend.sink.prepare(schema))
    spec = backend.sink._tables[schema.entity]
    assert stage_oid(backend, spec) is None
    ok(backend.sink.write(Batch(schema.entity, "r1", (rec(1),))))
    first = stage_oid(backend, spec)
    assert first is not None
    ok(backend.sink.write(Batch(schema.entity, "r1", (rec(2),))))
    assert stage_oid(backend, spec) == first  # reused, and emptied at commit:
    assert query(backend, f'SELECT count(*) FROM pg_temp."{stage_name(spec, bulk=True)}"') == [(0,)]
    assert spy(backend).paths == ["bulk", "bulk"]


def test_schema_evolution_gets_a_stage_with_the_new_column(backend: SqlBackend) -> None:
    schema = new_schema()
    ok(backend.sink.prepare(schema))
    ok(backend.sink.write(Batch(schema.entity, "r1", (rec(1),))))
    old_spec = backend.sink._tables[schema.entity]
    evolved = build_schema(
        schema.entity, [*FIELDS, SourceField("zone_code", FieldType.VARCHAR, max_length=4)]
    ).unwrap()
    ok(backend.sink.prepare(evolved))
    new_spec = backend.sink._tables[schema.entity]
    assert stage_name(new_spec) != stage_name(old_spec)
    ok(backend.sink.write(Batch(schema.entity, "r2", (rec(2, ZONE_CODE="Z1"), rec(1, 1)))))
    table = backend.sink.table_name(schema.entity)
    rows = query(backend, f'SELECT "ID", "ZONE_CODE", "GNOS_RUN_ID" FROM "{table}" ORDER BY 1')
    assert rows == [(1, None, "r2"), (2, "Z1", "r2")]
    assert spy(backend).paths == ["bulk", "bulk"]
    # the widened column: a value only the new width takes goes in at once too
    wider = build_schema(
        schema.entity, [*FIELDS, SourceField("zone_code", FieldType.VARCHAR, max_length=10)]
    ).unwrap()
    ok(backend.sink.prepare(wider))
    ok(backend.sink.write(Batch(schema.entity, "r3", (rec(3, ZONE_CODE="ZONE-10"),))))
    assert spy(backend).paths == ["bulk", "bulk", "bulk"]


@pytest.mark.parametrize("first_batch_fails", [True, False], ids=["creating", "reusing"])
def test_a_rolled_back_batch_leaves_no_rows_no_checkpoint_and_the_stage_still_works(
    pg_url: str, first_batch_fails: bool
) -> None:
    backend = open_spy(pg_url, failing=True)
    conn = backend.db.conn
    assert isinstance(conn, FailingConnection)
    try:
        schema = new_schema()
        ok(backend.sink.prepare(schema))
        key = StateKey("incremental", schema.entity)

        def batch(rid: int) -> Batch:
            checkpoint = Checkpoint(SyncMode.INCREMENTAL, Position(T0, rid))
            return Batch(schema.entity, "r1", (rec(rid),), state_key=key, checkpoint=checkpoint)

        if not first_batch_fails:
            ok(backend.sink.write(batch(1)))
        conn.fail_commit = True  # the stage's creation, if it was in this batch, is undone too
        assert isinstance(backend.sink.write(batch(2)), IOFailure)
        conn.fail_commit = False
        before = [1] if not first_batch_fails else []
        assert sorted(ok(backend.sink.snapshot(schema.entity))) == before
        saved = ok(backend.state.load(key))
        assert saved == (batch(1).checkpoint if before else None)
        ok(backend.sink.write(batch(3)))
        assert sorted(ok(backend.sink.snapshot(schema.entity))) == [*before, 3]
        assert ok(backend.state.load(key)) == batch(3).checkpoint
        assert spy(backend).paths == ["bulk"] * (len(before) + 2)
    finally:
        backend.close()


def test_timestamps_travel_as_microseconds_and_come_back_exact_over_pythons_range(
    backend: SqlBackend,
) -> None:
    schema = new_schema()
    ok(backend.sink.prepare(schema))
    edges = [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),  # a negative epoch offset
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2024, 2, 29, 12, 0, 0, 1, tzinfo=timezone(timedelta(hours=-3))),
        datetime(2255, 6, 6, 1, 2, 3, 999_999, tzinfo=UTC),  # beyond float8's exact microseconds
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    ]
    batch = tuple(rec(i + 1, PICKED_TS=ts) for i, ts in enumerate(edges))
    ok(backend.sink.write(Batch(schema.entity, "r1", batch)))
    assert spy(backend).paths == ["bulk"]
    table = backend.sink.table_name(schema.entity)
    got = query(backend, f'SELECT "PICKED_TS" FROM "{table}" ORDER BY "ID"')
    assert [row[0] for row in got] == edges
