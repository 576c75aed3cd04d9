"""``run_with_retries`` (``--retries``) over in-memory adapters: backoff through the Clock port,
only failed entities re-run, each re-run resumes from the committed checkpoint."""

from __future__ import annotations

from collections.abc import Sequence

from returns.io import IOResult
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.memory import InMemoryWms
from gruponos.api import run_with_retries
from gruponos.application.errors import SyncError
from gruponos.application.sync import SyncOptions
from gruponos.domain.checkpoints import SyncMode
from gruponos.domain.runs import RunStatus, SyncReport
from support.fakes import World, world
from support.records import allocation, allocation_schema


def _world(n: int = 30) -> World:
    wms = InMemoryWms({"allocation": allocation_schema()}, page_size=5)
    for i in range(1, n + 1):
        wms.insert(
            "allocation", i, **{k: v for k, v in allocation(i).items() if k not in ("id", "mod_ts")}
        )
    return world(wms)


def _retrying(w: World, retries: int, delay: float = 2.0) -> IOResult[SyncReport, SyncError]:
    use_case = w.use_case(SyncOptions(batch_size=5))
    return run_with_retries(
        lambda names: use_case.run(SyncMode.FULL, names),
        ["allocation"],
        retries=retries,
        delay=delay,
        clock=w.clock,
        observer=w.observer,
    )


def test_a_failed_run_is_rerun_from_its_checkpoint_with_exponential_backoff() -> None:
    w = _world()
    w.wms.fail_at_page = 3  # after two committed pages (10 rows)
    result = _retrying(w, retries=3)
    assert is_successful(result)
    report = unsafe_perform_io(result.unwrap())
    assert report.status is RunStatus.SUCCEEDED
    assert report.entities[0].read == 20  # the re-run read only what was not committed
    assert w.clock.slept == [2.0]
    assert w.observer.kinds().count("run_started") == 2
    assert len(w.db.runs) == 2  # each attempt is a run in the history
    assert set(w.db.live("allocation")) == set(range(1, 31))


def test_backoff_doubles_and_the_last_failure_is_returned_with_the_report() -> None:
    w = _world()

    class AlwaysFailing:
        def __init__(self) -> None:
            self.calls = 0

        def __call__(self, names: Sequence[str]) -> IOResult[SyncReport, SyncError]:
            self.calls += 1
            w.wms.fail_at_page = w.wms.pages_served + 1
            return w.use_case().run(SyncMode.FULL, names)

    run = AlwaysFailing()
    result = run_with_retries(
        run, ["allocation"], retries=3, delay=1.0, clock=w.clock, observer=w.observer
    )
    assert not is_successful(result)
    error = unsafe_perform_io(result.failure())
    assert error.code == "sync.failed"
    assert error.context["report"].status is RunStatus.FAILED
    assert run.calls == 4
    assert w.clock.slept == [1.0, 2.0, 4.0]


def test_no_retries_means_one_run() -> None:
    w = _world()
    w.wms.fail_at_page = 1
    result = _retrying(w, retries=0)
    assert not is_successful(result)
    assert w.clock.slept == []
