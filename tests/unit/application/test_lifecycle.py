"""A run asked to stop (SIGINT, SIGTERM, a cancel) commits the batch in flight and says so."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.memory import InMemoryWms
from gruponos.application.errors import SyncError
from gruponos.application.lifecycle import StopSignal
from gruponos.application.ports import SyncEvent
from gruponos.application.sync import SyncOptions
from gruponos.domain.checkpoints import StateKey, SyncMode
from gruponos.domain.runs import RunStatus, SyncReport
from gruponos.domain.schema import build_schema
from support.fakes import RecordingObserver, World, world
from support.records import ALLOCATION_FIELDS, allocation

ENTITIES = ("allocation", "order_dtl")


def _wms(n: int) -> InMemoryWms:
    schemas = {e: build_schema(e, ALLOCATION_FIELDS).unwrap() for e in ENTITIES}
    wms = InMemoryWms(schemas, page_size=5)
    for entity in ENTITIES:
        for i in range(1, n + 1):
            raw = allocation(i)
            wms.insert(entity, i, **{k: v for k, v in raw.items() if k not in ("id", "mod_ts")})
    return wms


class StopAfterPages:
    """An observer that asks the run to stop once ``pages`` pages were read."""

    def __init__(self, stop: StopSignal, pages: int, status: RunStatus) -> None:
        self.stop, self.pages, self.status, self.seen = stop, pages, status, 0

    def on_event(self, event: SyncEvent) -> None:
        if event.kind == "page_read":
            self.seen += 1
            if self.seen == self.pages:
                self.stop.request(self.status, f"stopped after {self.pages} pages")


def _run(
    w: World, mode: SyncMode, stop: StopSignal | None = None, **options: object
) -> tuple[bool, SyncReport, str]:
    opts = SyncOptions(**{"batch_size": 7, "read_parallelism": 1, **options})  # type: ignore[arg-type]
    result = w.use_case(opts).run(mode, ENTITIES, stop)
    if is_successful(result):
        return True, unsafe_perform_io(result.unwrap()), "ok"
    error: SyncError = unsafe_perform_io(result.failure())
    return False, error.context["report"], error.code


@settings(max_examples=60, deadline=None)
@given(
    pages=st.integers(min_value=1, max_value=10),  # 5 pages per entity
    status=st.sampled_from([RunStatus.INTERRUPTED, RunStatus.CANCELLED]),
    mode=st.sampled_from(list(SyncMode)),
    write_behind=st.booleans(),
    prefetch=st.sampled_from([0, 2]),
)
def test_a_stopped_run_commits_what_it_read_and_the_next_run_finishes_the_job(
    pages: int, status: RunStatus, mode: SyncMode, write_behind: bool, prefetch: int
) -> None:
    w = world(_wms(23))  # 5 pages per entity
    stop = StopSignal()
    w.observer = StopAfterPages(stop, pages, status)  # type: ignore[assignment]
    ok, report, code = _run(w, mode, stop, write_behind=write_behind, prefetch_pages=prefetch)

    assert not ok and code == f"sync.{status.value}"
    assert report.status is status
    stopped = [e for e in report.entities if e.status is status]
    assert stopped and all(e.error for e in stopped)
    assert all(e.status in (RunStatus.SUCCEEDED, status) for e in report.entities)
    for entity in report.entities:
        # whatever was read is committed, and the checkpoint covers no more than that
        assert entity.read == entity.written + entity.stale + entity.quarantined
        pipeline = "full" if mode is SyncMode.FULL else "incremental"
        stored = w.db.checkpoints.get(StateKey(pipeline, entity.entity))
        assert stored == entity.checkpoint or (stored is None and entity.read == 0)
    if mode is SyncMode.FULL:  # an unfinished pass soft-deletes nothing
        assert all(e.deleted == 0 for e in stopped)

    w.observer = RecordingObserver()
    ok, report, _ = _run(w, mode)
    assert ok, report
    for name in ENTITIES:
        assert sorted(w.db.live(name)) == list(range(1, 24))


def test_a_stop_before_the_run_reaches_an_entity_reports_it_not_started() -> None:
    w = world(_wms(10))
    stop = StopSignal()
    stop.request(RunStatus.INTERRUPTED, "SIGTERM")
    ok, report, code = _run(w, SyncMode.FULL, stop)
    assert (ok, code, report.status) == (False, "sync.interrupted", RunStatus.INTERRUPTED)
    assert [(e.entity, e.status, e.error) for e in report.entities] == [
        (e, RunStatus.INTERRUPTED, "not started: SIGTERM") for e in ENTITIES
    ]
    assert w.db.live("allocation") == {}


def test_a_stop_request_only_takes_interrupted_or_cancelled() -> None:
    with pytest.raises(ValueError, match="interrupted or cancelled"):
        StopSignal().request(RunStatus.FAILED)
