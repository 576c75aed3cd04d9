"""Run locks: one holder per (pipeline, entity), released when the holder's process dies."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from returns.io import IOFailure, IOSuccess
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.state import FileStateStore, take_file_lock
from gruponos.application.errors import StateError
from gruponos.application.ports import StateStore
from gruponos.domain.checkpoints import StateKey
from support.sqlsink import BackendFactory

KEY = StateKey("full", "order_hdr")

_HOLDER = """
import sys, time
from returns.unsafe import unsafe_perform_io
from gruponos.adapters.sql import open_sql_backend
from gruponos.domain.checkpoints import StateKey
backend = unsafe_perform_io(open_sql_backend(sys.argv[1]).unwrap())
lease = backend.state.lock(StateKey("full", "order_hdr"), "holder-process")
print("locked" if lease else "failed", flush=True)
time.sleep(120)
"""


def locked_error(store: StateStore, owner: str) -> StateError | None:
    result = store.lock(KEY, owner)
    if isinstance(result, IOSuccess):
        unsafe_perform_io(result.unwrap()).release()
        return None
    assert isinstance(result, IOFailure)
    error: StateError = unsafe_perform_io(result.failure())
    return error


def test_second_lock_fails_until_released(open_backend: BackendFactory) -> None:
    first, second = open_backend(), open_backend()
    lease = unsafe_perform_io(first.state.lock(KEY, "run-1").unwrap())
    error = locked_error(second.state, "run-2")
    assert error is not None
    assert error.code == "state.locked"
    assert "run-1" in error.message
    other = second.state.lock(StateKey("full", "other_entity"), "run-2")  # other keys are free
    unsafe_perform_io(other.unwrap()).release()
    lease.release()
    lease.release()  # harmless
    assert locked_error(second.state, "run-2") is None


def test_lock_released_when_holder_process_is_killed(db_url: str) -> None:
    from gruponos.adapters.sql import open_sql_backend  # noqa: PLC0415

    holder = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _HOLDER, db_url], stdout=subprocess.PIPE, text=True
    )
    backend = unsafe_perform_io(open_sql_backend(db_url).unwrap())
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        error = locked_error(backend.state, "me")
        assert error is not None
        assert "holder-process" in error.message
        holder.kill()
        holder.wait(timeout=10)
        deadline = time.monotonic() + 10
        while locked_error(backend.state, "me") is not None:
            assert time.monotonic() < deadline, "the lock outlived its holder"
            time.sleep(0.05)
    finally:
        holder.kill()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()
        backend.close()


def test_file_state_store_lock_and_atomic_save(tmp_path: Path) -> None:
    from gruponos.domain.checkpoints import Checkpoint, SyncMode  # noqa: PLC0415

    path = tmp_path / "state" / "gruponos-state.json"
    store, other = FileStateStore(path), FileStateStore(path)
    assert unsafe_perform_io(store.load(KEY).unwrap()) is None
    checkpoint = Checkpoint(SyncMode.FULL, generation="g1", last_id=7)
    assert isinstance(store.save(KEY, checkpoint), IOSuccess)
    assert unsafe_perform_io(other.load(KEY).unwrap()) == checkpoint
    assert unsafe_perform_io(other.all().unwrap()) == {KEY: checkpoint}
    assert [p.name for p in path.parent.iterdir() if p.suffix == ".json"] == [path.name]
    lease = unsafe_perform_io(store.lock(KEY, "run-1").unwrap())
    error = locked_error(other, "run-2")
    assert error is not None
    assert "run-1" in error.message
    lease.release()
    assert locked_error(other, "run-2") is None
    assert isinstance(store.reset(KEY), IOSuccess)
    assert unsafe_perform_io(store.load(KEY).unwrap()) is None
    path.write_text("{not json", encoding="utf-8")
    failure = store.load(KEY)
    assert isinstance(failure, IOFailure)
    assert unsafe_perform_io(failure.failure()).code == "state.corrupt"


def lock_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".lock"))


def test_sqlite_syncs_leave_no_lock_file_beside_the_database(tmp_path: Path) -> None:
    from gruponos.adapters.memory import InMemoryWms, ManualClock  # noqa: PLC0415
    from gruponos.adapters.sql import open_sql_backend  # noqa: PLC0415
    from gruponos.application.sync import SyncEntities, SyncOptions  # noqa: PLC0415
    from gruponos.domain.checkpoints import SyncMode  # noqa: PLC0415
    from gruponos.domain.runs import RunStatus  # noqa: PLC0415
    from support.records import allocation, allocation_schema  # noqa: PLC0415

    wms = InMemoryWms({"allocation": allocation_schema()}, page_size=3)
    for rid in range(1, 8):
        wms.put("allocation", allocation(rid))
    backend = unsafe_perform_io(open_sql_backend(f"sqlite:///{tmp_path / 'wms.db'}").unwrap())
    runs = iter(range(100))
    sync = SyncEntities(
        wms,
        backend.sink,
        backend.state,
        backend.runs,
        ManualClock(),
        lambda: f"run-{next(runs)}",
        SyncOptions(batch_size=4),
    )
    try:
        for mode in (SyncMode.FULL, SyncMode.INCREMENTAL, SyncMode.FULL):
            report = unsafe_perform_io(sync.run(mode, ["allocation"]).unwrap())
            assert report.status is RunStatus.SUCCEEDED
            assert lock_files(tmp_path) == []  # none after each run, hidden ones included
        lease = unsafe_perform_io(backend.state.lock(KEY, "run-1").unwrap())
        assert len(lock_files(tmp_path)) == 1  # while held, there is one
        with sqlite_state(tmp_path) as other:
            error = locked_error(other, "run-2")
        assert error is not None
        assert "run-1" in error.message  # still refused, naming the holder
        lease.release()
        assert lock_files(tmp_path) == []
    finally:
        backend.close()


@contextmanager
def sqlite_state(folder: Path) -> Iterator[StateStore]:
    """The in-sink state store of a second backend on ``folder``'s database."""
    from gruponos.adapters.sql import open_sql_backend  # noqa: PLC0415

    backend = unsafe_perform_io(open_sql_backend(f"sqlite:///{folder / 'wms.db'}").unwrap())
    try:
        yield backend.state
    finally:
        backend.close()


def test_file_locks_removed_on_release_still_admit_one_holder_at_a_time(tmp_path: Path) -> None:
    """Threads take and release the same lock file as fast as they can: a holder that removes
    the file on release must never let two in at once (each holds its own open file)."""
    path = tmp_path / ".wms.db.full.order_hdr.lock"
    inside, overlaps, taken = [0], [0], [0]
    guard = threading.Lock()

    deadline = time.monotonic() + 60

    def contend() -> None:
        # until the lock has changed hands often enough (a loaded machine takes longer)
        while taken[0] < 200 and time.monotonic() < deadline:
            result = take_file_lock(path, "t")
            if not isinstance(result, IOSuccess):
                continue
            with guard:
                inside[0] += 1
                overlaps[0] += inside[0] > 1
                taken[0] += 1
            time.sleep(0)  # let the others try while this one holds it
            with guard:
                inside[0] -= 1
            unsafe_perform_io(result.unwrap()).release()

    threads = [threading.Thread(target=contend) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert taken[0] >= 200
    assert overlaps[0] == 0
    assert lock_files(tmp_path) == []


def test_a_lock_file_a_killed_holder_left_is_taken_and_then_removed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wms.db'}"
    holder = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _HOLDER, url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        holder.kill()
        holder.wait(timeout=10)
        assert len(lock_files(tmp_path)) == 1  # kill -9: nobody removed it, nothing holds it
        with sqlite_state(tmp_path) as store:
            lease = unsafe_perform_io(store.lock(KEY, "next-run").unwrap())  # not blocked
            lease.release()
        assert lock_files(tmp_path) == []
    finally:
        holder.kill()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()
