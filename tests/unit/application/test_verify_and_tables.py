"""verify and table administration as use cases: the in-memory WMS against a sink."""

from __future__ import annotations

from pathlib import Path

from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.memory import InMemoryDatabase, InMemorySink, InMemoryWms
from gruponos.adapters.sql import open_sql_backend
from gruponos.application.tables import TableAdmin, describe_table
from gruponos.application.verify import VerifyEntities, compare
from gruponos.domain.batches import Batch
from gruponos.domain.normalize import RecordNormalizer
from support.records import allocation, allocation_schema


def _wms(*ids: int) -> InMemoryWms:
    wms = InMemoryWms({"allocation": allocation_schema()}, page_size=2)
    for record_id in ids:
        wms.put("allocation", allocation(record_id, f"2020-11-20T11:00:{record_id:02d}+00:00"))
    return wms


def _loaded(wms: InMemoryWms, ids: list[int]) -> InMemorySink:
    sink = InMemorySink(InMemoryDatabase())
    unsafe_perform_io(sink.prepare(allocation_schema()).unwrap())
    normalizer = RecordNormalizer(allocation_schema())
    records = tuple(normalizer.normalize(wms.records["allocation"][i]).unwrap() for i in ids)
    unsafe_perform_io(sink.write(Batch("allocation", "run-1", records)).unwrap())
    return sink


def test_verify_finds_missing_extra_and_changed_rows_across_pages() -> None:
    wms = _wms(1, 2, 3, 4, 5)
    sink = _loaded(wms, [1, 2, 3, 4])
    wms.touch("allocation", 2)  # newer in the WMS than in the sink
    wms.delete("allocation", 4)  # still in the sink: extra
    # 5 was never loaded: missing

    diff = unsafe_perform_io(VerifyEntities(wms, sink).entity("allocation").unwrap())

    assert (diff.missing, diff.extra, diff.changed) == ((5,), (4,), (2,))
    assert (diff.source_count, diff.target_count, diff.clean) == (4, 4, False)
    assert diff.source_newest == max(wms.truth("allocation").values())


def test_verify_of_a_faithful_table_is_clean() -> None:
    wms = _wms(1, 2, 3)
    diff = unsafe_perform_io(
        VerifyEntities(wms, _loaded(wms, [1, 2, 3])).entity("allocation").unwrap()
    )
    assert diff.clean
    assert diff.to_json()["source_count"] == diff.to_json()["target_count"] == 3


def test_verify_of_an_entity_the_wms_does_not_know_is_an_error_not_an_empty_ok() -> None:
    wms = _wms(1)
    result = VerifyEntities(wms, _loaded(wms, [1])).entity("no_such")
    assert not is_successful(result)
    assert unsafe_perform_io(result.failure()).code == "wms.not_found"


def test_verify_stops_at_a_failed_page() -> None:
    wms = _wms(1, 2, 3, 4, 5)
    sink = _loaded(wms, [1])
    wms.fail_at_page = 2
    result = VerifyEntities(wms, sink).entity("allocation")
    assert unsafe_perform_io(result.failure()).code == "wms.retries_exhausted"


def test_compare_counts_unreadable_source_timestamps_as_changed() -> None:
    loaded = unsafe_perform_io(_loaded(_wms(1), [1]).snapshot("allocation").unwrap())
    diff = compare("allocation", {1: None}, loaded)
    assert diff.changed == (1,)
    assert diff.source_newest is None


def test_tables_create_drop_and_describe_against_sqlite(tmp_path: Path) -> None:
    backend = unsafe_perform_io(open_sql_backend(f"sqlite:///{tmp_path / 't.db'}").unwrap())
    admin = TableAdmin(_wms(1), backend.sink, backend.sink)
    try:
        absent = unsafe_perform_io(describe_table(backend.sink, "allocation").unwrap())
        assert absent.columns == ()

        ready = unsafe_perform_io(admin.create("allocation").unwrap())
        assert ready.table == "WMS_ALLOCATION"
        assert ("ID", "INTEGER") in {(c, t.upper()) for c, t in ready.columns}

        dropped = unsafe_perform_io(admin.drop("allocation").unwrap())
        assert (dropped.table, dropped.existed) == ("WMS_ALLOCATION", True)
        assert unsafe_perform_io(describe_table(backend.sink, "allocation").unwrap()).columns == ()
        again = unsafe_perform_io(admin.drop("allocation").unwrap())
        assert again.existed is False

        recreated = unsafe_perform_io(admin.create_from(dropped.schema).unwrap())
        assert recreated.columns == ready.columns
    finally:
        backend.close()


def test_tables_of_an_entity_the_wms_does_not_know_drop_nothing(tmp_path: Path) -> None:
    backend = unsafe_perform_io(open_sql_backend(f"sqlite:///{tmp_path / 't.db'}").unwrap())
    try:
        admin = TableAdmin(_wms(1), backend.sink, backend.sink)
        unsafe_perform_io(admin.create("allocation").unwrap())
        unknown = InMemoryWms({})  # the WMS no longer describes allocation
        refused = TableAdmin(unknown, backend.sink, backend.sink).drop("allocation")
        assert unsafe_perform_io(refused.failure()).code == "wms.not_found"
        assert unsafe_perform_io(describe_table(backend.sink, "allocation").unwrap()).columns
    finally:
        backend.close()
