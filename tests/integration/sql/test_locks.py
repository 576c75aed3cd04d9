"""Run locks: one holder per (pipeline, entity), released when the holder's process dies."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from returns.io import IOFailure, IOSuccess
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.state import FileStateStore
from gruponos.application.errors import StateError
from gruponos.application.ports import StateStore
from gruponos.domain.sync import StateKey
from support.sqlsink import BackendFactory

KEY = StateKey("full", "order_hdr")

_HOLDER = """
import sys, time
from returns.unsafe import unsafe_perform_io
from gruponos.adapters.sql import open_sql_backend
from gruponos.domain.sync import StateKey
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
    from gruponos.domain.sync import Checkpoint, SyncMode  # noqa: PLC0415

    path = tmp_path / "state" / "gruponos-state.json"
    store, other = FileStateStore(path), FileStateStore(path)
    assert store.in_sink is False
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
