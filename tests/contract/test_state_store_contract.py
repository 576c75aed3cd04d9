"""The ``StateStore`` contract, once for every adapter: see ``conftest.py``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from returns.io import IOFailure, IOResult, IOSuccess
from returns.unsafe import unsafe_perform_io

from gruponos.domain.checkpoints import Checkpoint, FullWindow, Position, StateKey, SyncMode
from support.sqlsink import T0

from .conftest import States

FULL = StateKey("full", "order_hdr")
INCREMENTAL = StateKey("incremental", "order_hdr")
OTHER = StateKey("full", "allocation")


def ok(result: IOResult[Any, Any]) -> Any:
    assert isinstance(result, IOSuccess), result
    return unsafe_perform_io(result.unwrap())


def full(last_id: int, *, complete: bool = False) -> Checkpoint:
    return Checkpoint(
        SyncMode.FULL,
        generation="gen-1",
        last_id=last_id,
        complete=complete,
        high_water=Position(T0, 3),
        windows=(FullWindow(after_id=last_id, until_id=900),),
    )


def incremental(second: int, rid: int) -> Checkpoint:
    return Checkpoint(SyncMode.INCREMENTAL, Position(T0 + timedelta(seconds=second), rid))


def test_checkpoints_save_load_and_overwrite_per_key(states: States) -> None:
    store = states.store
    assert ok(store.load(FULL)) is None
    assert ok(store.all()) == {}
    ok(store.save(FULL, full(10)))
    ok(store.save(INCREMENTAL, incremental(1, 5)))
    ok(store.save(OTHER, full(3, complete=True)))
    assert ok(store.load(FULL)) == states.kept(full(10))
    assert ok(store.load(INCREMENTAL)) == states.kept(incremental(1, 5))
    ok(store.save(FULL, full(20)))  # the key's newer checkpoint replaces it
    ok(store.save(INCREMENTAL, incremental(2, 6)))
    expected = {
        FULL: full(20),
        INCREMENTAL: incremental(2, 6),
        OTHER: full(3, complete=True),
    }
    assert ok(store.all()) == {k: states.kept(v) for k, v in expected.items()}
    assert ok(states.second().load(FULL)) == states.kept(full(20))  # durable, not per session


def test_reset_forgets_one_key(states: States) -> None:
    states.needs("reset")
    store = states.store
    ok(store.save(FULL, full(10)))
    ok(store.save(INCREMENTAL, incremental(1, 5)))
    ok(store.reset(FULL))
    ok(store.reset(StateKey("full", "never_saved")))  # harmless
    assert ok(store.load(FULL)) is None
    assert ok(store.all()) == {INCREMENTAL: states.kept(incremental(1, 5))}


def test_one_lock_holder_per_key(states: States) -> None:
    first, second = states.store, states.second()
    lease = ok(first.lock(FULL, "run-1"))
    for contender in (second, first):  # another session, or the same one again
        refused = contender.lock(FULL, "run-2")
        assert isinstance(refused, IOFailure)
        error = unsafe_perform_io(refused.failure())
        assert error.code == "state.locked"
        assert "run-1" in error.message  # names the holder
    ok(second.lock(OTHER, "run-2")).release()  # other keys are free
    ok(second.lock(INCREMENTAL, "run-2")).release()
    lease.release()
    lease.release()  # harmless
    ok(second.lock(FULL, "run-2")).release()
