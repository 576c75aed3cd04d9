"""The analyst's views on real SQLite and PostgreSQL: live rows only, typed, unquoted names."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from returns.io import IOResult
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.sql import SqlBackend
from gruponos.domain.batches import Batch
from gruponos.domain.schema import FieldType, SourceField, build_schema
from support.sqlsink import T0, BackendFactory, query, record, schema

T = TypeVar("T")
ZONE = "America/Mexico_City"  # UTC-6 all year since 2022


def ok(result: IOResult[T, Any]) -> T:
    return unsafe_perform_io(result.unwrap())


def execute(backend: SqlBackend, sql: str) -> None:
    with backend.db.mutex:
        cur = backend.db.conn.cursor()
        try:
            cur.execute(sql)
        finally:
            cur.close()
        backend.db.conn.commit()


def is_postgres(backend: SqlBackend) -> bool:
    return backend.db.dialect.name == "postgresql"


def loaded(backend: SqlBackend) -> SqlBackend:
    """Three orders loaded; order 2 soft-deleted."""
    ok(backend.sink.prepare(schema()))
    ok(backend.sink.write(Batch("order_hdr", "r1", (record(1, 1), record(2, 2), record(3, 3)))))
    execute(backend, 'UPDATE "WMS_ORDER_HDR" SET "GNOS_DELETED_AT" = "MOD_TS" WHERE "ID" = 2')
    return backend


def test_view_holds_exactly_the_live_rows_without_bookkeeping(
    open_backend: BackendFactory,
) -> None:
    backend = loaded(open_backend())
    assert ok(backend.sink.create_view(schema())) == "wms_order_hdr_v"
    rows = query(backend, "select id, status_id, order_nbr from wms_order_hdr_v order by id")
    assert rows == [(1, 1, "O1-1"), (3, 3, "O3-3")]
    with backend.db.mutex:
        cur = backend.db.conn.cursor()
        cur.execute("select * from wms_order_hdr_v")
        columns = [d[0] for d in cur.description]
        cur.close()
        backend.db.conn.rollback()
    assert sorted(columns) == ["id", "mod_ts", "order_nbr", "rush_flg", "status_id", "total_qty"]


def test_view_gives_numbers_and_utc_timestamps(open_backend: BackendFactory) -> None:
    backend = loaded(open_backend())
    backend.sink.view_time_zone = ZONE
    ok(backend.sink.create_view(schema()))
    if is_postgres(backend):
        (row,) = query(
            backend,
            "select total_qty, mod_ts, mod_ts_local, rush_flg from wms_order_hdr_v where id = 1",
        )
        utc = (T0 + timedelta(seconds=1)).replace(tzinfo=None)
        assert row == (Decimal("12.50"), utc, utc - timedelta(hours=6), True)
        types = dict(
            query(
                backend,
                "select column_name, data_type from information_schema.columns"
                " where table_schema = current_schema() and table_name = 'wms_order_hdr_v'",
            )
        )
        assert types["total_qty"] == "numeric"
        assert types["mod_ts"] == types["mod_ts_local"] == "timestamp without time zone"
    else:  # SQLite: decimals as numbers, instants as UTC ISO text, no local column
        (row,) = query(
            backend,
            "select total_qty, typeof(total_qty), mod_ts, rush_flg from wms_order_hdr_v where id = 1",
        )
        assert row[:2] == (12.5, "real")
        assert datetime.fromisoformat(row[2]) == T0 + timedelta(seconds=1)
        assert row[3] == 1
        (count,) = query(backend, "select count(*) from wms_order_hdr_v where total_qty > 12.4")
        assert count == (2,)  # compared as numbers, not as text


def test_prepare_keeps_the_view_current_after_schema_evolution(
    open_backend: BackendFactory,
) -> None:
    backend = open_backend()
    backend.sink.keep_views = True
    ok(backend.sink.prepare(schema()))
    assert query(backend, "select count(*) from wms_order_hdr_v") == [(0,)]
    wider = schema("order_hdr", SourceField("carrier_code", FieldType.VARCHAR, max_length=10))
    ok(backend.sink.prepare(wider))
    ok(backend.sink.write(Batch("order_hdr", "r1", (record(1, 1, CARRIER_CODE="UPS"),))))
    assert query(backend, "select carrier_code from wms_order_hdr_v") == [("UPS",)]
    execute(backend, "DROP VIEW wms_order_hdr_v")
    ok(backend.sink.prepare(wider))  # nothing to alter, but the view is missing
    assert query(backend, "select count(*) from wms_order_hdr_v") == [(1,)]


def test_views_off_by_default_and_drop(open_backend: BackendFactory) -> None:
    backend = loaded(open_backend())
    present = "select count(*) from wms_order_hdr_v"
    ok(backend.sink.prepare(schema()))
    assert ok(backend.sink.drop_view("order_hdr")) == ("wms_order_hdr_v", False)
    ok(backend.sink.create_view(schema()))
    assert query(backend, present) == [(2,)]
    assert ok(backend.sink.drop_view("order_hdr")) == ("wms_order_hdr_v", True)
    ok(backend.sink.create_view(schema()))
    assert ok(backend.sink.drop_table("order_hdr")) is True  # its view goes first
    assert ok(backend.sink.drop_view("order_hdr")) == ("wms_order_hdr_v", False)


def test_concurrent_prepares_with_views_all_succeed(open_backend: BackendFactory) -> None:
    backends = [open_backend() for _ in range(4)]
    ok(backends[0].sink.prepare(schema()))  # the table exists: only the views are to be made
    for backend in backends:
        backend.sink.keep_views = True
    barrier = threading.Barrier(len(backends))

    def prepare(backend: SqlBackend) -> bool:
        barrier.wait()
        return is_successful(backend.sink.prepare(schema()))

    with ThreadPoolExecutor(len(backends)) as pool:
        assert all(pool.map(prepare, backends))
    assert query(backends[0], "select count(*) from wms_order_hdr_v") == [(0,)]


def test_a_widened_column_under_a_view_is_altered_and_the_view_kept(
    open_backend: BackendFactory,
) -> None:
    backend = loaded(open_backend())
    ok(backend.sink.create_view(schema()))  # views off: created by `gruponos views create`
    longer = [
        SourceField("id", FieldType.PK),
        SourceField("mod_ts", FieldType.DATETIME),
        SourceField("status_id", FieldType.INTEGER),
        SourceField("total_qty", FieldType.DECIMAL),
        SourceField("order_nbr", FieldType.VARCHAR, max_length=60),  # was 20
        SourceField("rush_flg", FieldType.BOOLEAN),
    ]
    ok(backend.sink.prepare(build_schema("order_hdr", longer).unwrap()))
    long_nbr = "N" * 50
    ok(backend.sink.write(Batch("order_hdr", "r2", (record(4, 4, nbr=long_nbr),))))
    assert query(backend, "select order_nbr from wms_order_hdr_v where id = 4") == [(long_nbr,)]
