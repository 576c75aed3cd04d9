"""A new full pass tells observers its id range (what progress bars estimate a total from)."""

from __future__ import annotations

from returns.unsafe import unsafe_perform_io

from gruponos.adapters.memory import InMemoryWms
from gruponos.application.sync import SyncOptions
from gruponos.domain.checkpoints import SyncMode
from support.fakes import world
from support.records import allocation, allocation_schema


def _wms(ids: range) -> InMemoryWms:
    wms = InMemoryWms({"allocation": allocation_schema()}, page_size=50)
    for i in ids:
        wms.insert(
            "allocation", i, **{k: v for k, v in allocation(i).items() if k not in ("id", "mod_ts")}
        )
    return wms


def test_a_new_full_pass_reports_the_lowest_and_highest_id() -> None:
    w = world(_wms(range(11, 131)))
    unsafe_perform_io(
        w.use_case(SyncOptions(read_parallelism=2)).run(SyncMode.FULL, ["allocation"]).unwrap()
    )
    (event,) = [e for e in w.observer.events if e.kind == "id_bounds"]
    assert (event.entity, dict(event.data)) == ("allocation", {"low": 11, "high": 130})
    kinds = w.observer.kinds()
    assert kinds.index("entity_started") < kinds.index("id_bounds") < kinds.index("page_read")


def test_an_incremental_run_reports_no_id_range() -> None:
    w = world(_wms(range(1, 20)))
    unsafe_perform_io(
        w.use_case(SyncOptions(read_parallelism=2))
        .run(SyncMode.INCREMENTAL, ["allocation"])
        .unwrap()
    )
    assert "id_bounds" not in w.observer.kinds()
