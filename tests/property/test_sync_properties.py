"""Sync invariants under change and interruption, against the in-memory adapters.

- incremental sync with records modified and inserted between page reads, interrupted at an
  arbitrary page and re-run, ends with the sink equal to the source, without duplicates;
- the stored checkpoint is never ahead of committed data: every source record at or before the
  checkpoint position is in the sink;
- monotonic upsert: the same versions applied in any order, with repeats, leave the newest.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.memory import InMemorySink, InMemoryWms
from gruponos.adapters.memory.wms import Hook
from gruponos.application.sync import SyncOptions
from gruponos.domain.batches import Batch
from gruponos.domain.checkpoints import Position, StateKey, SyncMode
from gruponos.domain.records import NormalizedRecord
from support.fakes import world
from support.records import allocation_schema

KEY = StateKey("incremental", "allocation")

change = st.tuples(
    st.sampled_from(["touch", "insert", "none"]), st.integers(min_value=0, max_value=10**6)
)


def _changing_source(
    initial: int, page_size: int, changes: list[list[tuple[str, int]]]
) -> tuple[InMemoryWms, Hook, list[int]]:
    """A source with ``initial`` records, a hook that applies ``changes[k]`` before page k+2 of
    each read (of each window of a parallel full pass), and the count of changes applied.

    The burst is bounded: an endless stream of inserts would be chased forever by any reader.
    """
    wms = InMemoryWms({"allocation": allocation_schema()}, page_size=page_size)
    for i in range(1, initial + 1):
        wms.insert("allocation", i, alloc_qty=str(i))
    next_id = [initial + 1]
    applied = [0]

    def churn(source: InMemoryWms, entity: str, page: int) -> None:
        for kind, pick in changes[page - 2] if page - 2 < len(changes) else []:
            applied[0] += 1
            ids = sorted(source.records[entity])
            if kind == "touch" and ids:
                source.touch(entity, ids[pick % len(ids)], alloc_qty=str(pick))
            elif kind == "delete" and ids:
                source.delete(entity, ids[pick % len(ids)])
            elif kind == "insert":
                source.insert(entity, next_id[0], alloc_qty="1")
                next_id[0] += 1

    return wms, churn, applied


@settings(max_examples=200, deadline=None)
@given(
    initial=st.integers(min_value=0, max_value=40),
    page_size=st.integers(min_value=1, max_value=9),
    batch_size=st.integers(min_value=1, max_value=13),
    changes=st.lists(st.lists(change, max_size=3), max_size=12),
    fail_at_page=st.one_of(st.none(), st.integers(min_value=1, max_value=15)),
    overlap_ms=st.sampled_from([0, 1, 5, 1000]),
    state_in_sink=st.booleans(),
)
def test_interrupted_incremental_sync_under_change_converges(
    initial: int,
    page_size: int,
    batch_size: int,
    changes: list[list[tuple[str, int]]],
    fail_at_page: int | None,
    overlap_ms: int,
    state_in_sink: bool,
) -> None:
    wms, churn, _ = _changing_source(initial, page_size, changes)

    w = world(wms, state_in_sink=state_in_sink)
    options = SyncOptions(batch_size=batch_size, overlap=timedelta(milliseconds=overlap_ms))
    wms.between_pages = churn
    wms.fail_at_page = fail_at_page
    w.use_case(options).run(SyncMode.INCREMENTAL, ["allocation"])

    # The checkpoint is never ahead of committed data.
    checkpoint = unsafe_perform_io(w.state.load(KEY).unwrap())
    if checkpoint is not None and checkpoint.position is not None:
        stored = w.db.live("allocation")
        for rid, mod_ts in wms.truth("allocation").items():
            if Position(mod_ts, rid) <= checkpoint.position:
                assert rid in stored and stored[rid].mod_ts == mod_ts

    # A re-run, with the source quiet, converges: sink == source, no duplicates.
    wms.between_pages = None
    wms.fail_at_page = None
    unsafe_perform_io(w.use_case(options).run(SyncMode.INCREMENTAL, ["allocation"]).unwrap())
    stored_ids = [rid for rid, row in w.db.tables["allocation"].items() if row.deleted_at is None]
    assert len(stored_ids) == len(set(stored_ids))
    assert {rid: r.mod_ts for rid, r in w.db.live("allocation").items()} == wms.truth("allocation")
    final = unsafe_perform_io(w.state.load(KEY).unwrap())
    if wms.records["allocation"]:
        assert final is not None and final.position is not None
        newest = max(Position(ts, rid) for rid, ts in wms.truth("allocation").items())
        assert final.position == newest


BASE = datetime(2024, 1, 1, tzinfo=UTC)
versions = st.lists(
    st.tuples(st.integers(min_value=1, max_value=6), st.integers(min_value=0, max_value=50)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(applied=versions, chunk=st.integers(min_value=1, max_value=7))
def test_monotonic_upsert_keeps_the_newest_version_whatever_the_order(
    applied: list[tuple[int, int]], chunk: int
) -> None:
    sink = InMemorySink()
    sink.prepare(allocation_schema())
    records = [
        NormalizedRecord(rid, BASE + timedelta(seconds=sec), {"ID": rid, "ALLOC_QTY": sec})
        for rid, sec in applied
    ]
    for start in range(0, len(records), chunk):
        batch = Batch("allocation", "run", tuple(records[start : start + chunk]))
        unsafe_perform_io(sink.write(batch).unwrap())
    newest: dict[int, int] = {}
    for rid, sec in applied:
        newest[rid] = max(sec, newest.get(rid, sec))
    stored = sink.db.live("allocation")
    assert {rid: rec.values["ALLOC_QTY"] for rid, rec in stored.items()} == newest


@settings(max_examples=200, deadline=None)
@given(
    initial=st.integers(min_value=0, max_value=30),
    page_size=st.integers(min_value=1, max_value=7),
    batch_size=st.integers(min_value=1, max_value=11),
    changes=st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(["touch", "insert", "delete"]),
                st.integers(min_value=0, max_value=99),
            ),
            max_size=3,
        ),
        max_size=10,
    ),
    fail_at_page=st.one_of(st.none(), st.integers(min_value=1, max_value=12)),
    fail_at_write=st.one_of(st.none(), st.integers(min_value=1, max_value=12)),
    parallelism=st.integers(min_value=1, max_value=4),
    prefetch=st.sampled_from([0, 1, 2]),
)
def test_full_pass_under_change_then_incremental_converges(
    initial: int,
    page_size: int,
    batch_size: int,
    changes: list[list[tuple[str, int]]],
    fail_at_page: int | None,
    fail_at_write: int | None,
    parallelism: int,
    prefetch: int,
) -> None:
    """A full pass (read in up to 4 id windows at once, changed under it, maybe interrupted and
    resumed after a failed read or a failed write) never has a checkpoint ahead of committed
    data, and bookmarks the incremental
    pipeline so that the next incremental sync, reading only from the bookmark, converges;
    a further quiet full pass soft-deletes exactly what the source deleted."""
    wms, churn, applied = _changing_source(initial, page_size, changes)

    w = world(wms)
    options = SyncOptions(
        batch_size=batch_size,
        overlap=timedelta(0),
        read_parallelism=parallelism,
        min_window_ids=1,
        prefetch_pages=prefetch,
    )
    wms.between_pages = churn
    wms.fail_at_page = fail_at_page
    w.sink.fail_on_write = fail_at_write
    w.use_case(options).run(SyncMode.FULL, ["allocation"])
    w.sink.fail_on_write = None

    # Never ahead: a record there from the start, still in the source, whose id the checkpoint
    # says is done (outside every window left to read) is in the sink.
    checkpoint = unsafe_perform_io(w.state.load(StateKey("full", "allocation")).unwrap())
    if checkpoint is not None and not checkpoint.complete:
        left = checkpoint.remaining()
        stored = w.db.tables.get("allocation", {})
        for rid in set(range(1, initial + 1)) & set(wms.records["allocation"]):
            pending = any(
                (win.after_id is None or rid > win.after_id)
                and (win.until_id is None or rid < win.until_id)
                for win in left
            )
            assert pending or rid in stored, f"id {rid} is behind the checkpoint, not stored"

    wms.between_pages = None
    wms.fail_at_page = None
    if fail_at_page is not None or fail_at_write is not None:  # resume the interrupted pass
        unsafe_perform_io(w.use_case(options).run(SyncMode.FULL, ["allocation"]).unwrap())
    served = wms.pages_served
    unsafe_perform_io(w.use_case(options).run(SyncMode.INCREMENTAL, ["allocation"]).unwrap())
    live = {rid: r.mod_ts for rid, r in w.db.live("allocation").items()}
    truth = wms.truth("allocation")
    # Deletes are only seen by a full pass; everything else is already equal.
    assert {rid: ts for rid, ts in live.items() if rid in truth} == truth
    incremental_read = wms.pages_served - served
    assert incremental_read <= 2 + (applied[0] + 1) // page_size + 1  # not a full re-read
    unsafe_perform_io(w.use_case(options).run(SyncMode.FULL, ["allocation"]).unwrap())
    assert {rid: r.mod_ts for rid, r in w.db.live("allocation").items()} == truth
