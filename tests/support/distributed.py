"""In-memory wiring of the distributed run model (as the container wires it with real adapters)
and the fakes its tests inject: a plan store whose commits crash after a number of batches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from returns.io import IOResult
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.memory import (
    InMemoryDatabase,
    InMemoryRunHistory,
    InMemorySink,
    InMemoryWms,
    ManualClock,
)
from gruponos.adapters.memory.plans import InMemoryRunPlans
from gruponos.adapters.memory.sink import InMemorySinkState
from gruponos.application.errors import PortError, SinkError
from gruponos.application.ports import TaskCommit
from gruponos.application.scaleout import DistributedOptions, DistributedRuns
from gruponos.application.sync import SyncOptions
from gruponos.domain.batches import Batch, WriteOutcome
from gruponos.domain.runs import SyncReport
from gruponos.domain.scaleout import TaskState
from support.records import allocation, allocation_schema

LEASE = 60.0


class Killed(Exception):  # noqa: N818 - a worker process killed (-9) mid-window
    """Raised inside a commit: the worker dies there, holding its lease."""


class CrashingPlans(InMemoryRunPlans):
    """Commits ``crash_after`` more batches, then the next commit kills the worker (raises
    before anything of that batch is written). ``None``: never."""

    def __init__(self, sink: InMemorySink) -> None:
        super().__init__(sink)
        self.crash_after: int | None = None

    def commit(
        self, batch: Batch, task: TaskState, owner: str, progress: TaskCommit
    ) -> IOResult[WriteOutcome, PortError]:
        if self.crash_after is not None:
            if self.crash_after == 0:
                self.crash_after = None
                raise Killed(f"worker {owner} killed")
            self.crash_after -= 1
        return super().commit(batch, task, owner, progress)


class CountingHistory(InMemoryRunHistory):
    """Counts the reports recorded per (run, status)."""

    def __init__(self, db: InMemoryDatabase) -> None:
        super().__init__(db)
        self.recorded: list[tuple[str, str]] = []

    def record(self, report: SyncReport) -> IOResult[None, SinkError]:
        self.recorded.append((report.run_id, report.status.value))
        return super().record(report)


@dataclass
class Cluster:
    wms: InMemoryWms
    db: InMemoryDatabase
    sink: InMemorySink
    state: InMemorySinkState
    runs: CountingHistory
    plans: CrashingPlans
    clock: ManualClock
    runs_model: DistributedRuns
    options: SyncOptions = field(default_factory=SyncOptions)

    def live(self, entity: str = "allocation") -> dict[int, object]:
        return {rid: rec.mod_ts for rid, rec in self.db.live(entity).items()}


def source(n: int, page_size: int = 5) -> InMemoryWms:
    wms = InMemoryWms({"allocation": allocation_schema()}, page_size=page_size)
    for i in range(1, n + 1):
        raw = allocation(i)
        wms.insert("allocation", i, **{k: v for k, v in raw.items() if k not in ("id", "mod_ts")})
    return wms


def cluster(
    wms: InMemoryWms,
    *,
    window_ids: int = 10,
    batch_size: int = 4,
    plans_of: Callable[[InMemorySink], CrashingPlans] = CrashingPlans,
    **options: object,
) -> Cluster:
    db = InMemoryDatabase()
    sink = InMemorySink(db)
    clock = ManualClock()
    state = InMemorySinkState(db)
    runs = CountingHistory(db)
    plans = plans_of(sink)
    sync_options = SyncOptions(
        batch_size=batch_size,
        prefetch_pages=0,
        write_behind=False,
        **options,  # type: ignore[arg-type]
    )
    model = DistributedRuns(
        wms,
        sink,
        state,
        runs,
        plans,
        clock,
        sync_options,
        DistributedOptions(window_ids=window_ids, lease_seconds=LEASE),
    )
    return Cluster(wms, db, sink, state, runs, plans, clock, model, sync_options)


def ok(result: IOResult[object, object]) -> object:
    """The value of a result that must be a success (the test fails with the error)."""
    assert is_successful(result), result
    return unsafe_perform_io(result.unwrap())


def err(result: IOResult[object, PortError]) -> PortError:
    """The error of a result that must be a failure."""
    assert not is_successful(result), result
    return unsafe_perform_io(result.swap().unwrap())
