"""The shared WMS request cap on the real Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432).

Every test uses a cap name of its own, so tests (and other suites) never share slots.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any, cast

import psycopg
import pytest
import redis

from gruponos.adapters.wms_http.gate import (
    GateUnavailable,
    PostgresGate,
    RedisGate,
    RequestGate,
    connect_redis_gate,
)
from support.sqlsink import PG_DSN
from support.waiting import wait_for

REDIS_URL = os.getenv("GRUPONOS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def cap_name() -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"gruponos:cap:{{{name}}}*"))
    if keys:
        client.delete(*keys)
    client.close()


def redis_gate(name: str, limit: int, **options: float) -> RedisGate:
    return connect_redis_gate(REDIS_URL, name, limit, **options)


def pg_gate(name: str, limit: int) -> PostgresGate:
    return PostgresGate(lambda: psycopg.connect(PG_DSN, connect_timeout=5), name, limit)


def peak_in_slots(gates: list[RequestGate], threads: int, limit: int) -> tuple[int, int]:
    """``threads`` threads (spread over ``gates``) each take a slot and stay in it until ``limit``
    are in at once (or 10 s pass); the most in at once, and how many got through."""
    lock = threading.Lock()
    inside = peak = done = 0
    full = threading.Event()

    def work(gate: RequestGate) -> None:
        nonlocal inside, peak, done
        with gate.slot():
            with lock:
                inside += 1
                peak = max(peak, inside)
                if inside >= limit:
                    full.set()
            full.wait(10)
            with lock:
                inside -= 1
                done += 1

    workers = [threading.Thread(target=work, args=(gates[i % len(gates)],)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    return peak, done


# -- Redis ------------------------------------------------------------------------------------


def test_redis_gate_caps_every_process_sharing_the_name(cap_name: str) -> None:
    gates = [redis_gate(cap_name, 3) for _ in range(2)]  # two processes' worth of clients
    try:
        peak, done = peak_in_slots(list(gates), threads=12, limit=3)
        assert (peak, done) == (3, 12)
        assert gates[0].in_use() == 0  # every slot given back
    finally:
        for gate in gates:
            gate.close()


def test_redis_gate_serves_waiters_in_arrival_order(cap_name: str) -> None:
    gate = redis_gate(cap_name, 1)
    client = redis.Redis.from_url(REDIS_URL)
    queue = f"gruponos:cap:{{{cap_name}}}:queue"
    order: list[int] = []
    try:
        with gate.slot():
            waiters = []
            for n in range(5):
                waiter = threading.Thread(target=_take, args=(gate, order, n))
                waiter.start()
                waiters.append(waiter)
                # the next waiter arrives only once this one holds its ticket
                assert wait_for(partial(_queued, client, queue, n + 1))
        for waiter in waiters:
            waiter.join(30)
        assert order == [0, 1, 2, 3, 4]
    finally:
        client.close()
        gate.close()


def _queued(client: redis.Redis, queue: str, count: int) -> bool:
    return client.zcard(queue) == count


def _take(gate: RequestGate, order: list[int], n: int) -> None:
    with gate.slot():
        order.append(n)


HOLDER = """
import sys, time
from gruponos.adapters.wms_http.gate import connect_redis_gate
gate = connect_redis_gate(sys.argv[1], sys.argv[2], 1, lease_seconds=1.0, poll_seconds=0.1)
with gate.slot():
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_killed_holders_slot_comes_back_after_its_lease(cap_name: str) -> None:
    gate = redis_gate(cap_name, 1, lease_seconds=1.0, poll_seconds=0.1)
    client = redis.Redis.from_url(REDIS_URL)
    holders = f"gruponos:cap:{{{cap_name}}}:holders"
    with subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", HOLDER, REDIS_URL, cap_name], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            _lease_comes_back(gate, client, holders, holder)
        finally:
            if holder.poll() is None:
                holder.kill()
            client.close()
            gate.close()


def _lease_comes_back(
    gate: RedisGate, client: redis.Redis, holders: str, holder: subprocess.Popen[str]
) -> None:
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    assert gate.in_use() == 1
    # alive, the holder renews its lease past the first expiry

    def expiry() -> float:
        [(_, score)] = cast(
            "list[tuple[bytes, float]]", client.zrange(holders, 0, -1, withscores=True)
        )
        return score

    first_expiry = expiry()
    assert wait_for(lambda: expiry() > first_expiry)
    assert gate.in_use() == 1
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    assert wait_for(lambda: gate.in_use() == 0, deadline=10)  # its lease ran out
    assert _taken_within(gate, 10)


def _taken_within(gate: RequestGate, seconds: float) -> bool:
    taken = threading.Event()

    def take() -> None:
        with gate.slot():
            taken.set()

    taker = threading.Thread(target=take)
    taker.start()
    got = taken.wait(seconds)
    taker.join(seconds)
    return got


WAITER = """
import sys
from gruponos.adapters.wms_http.gate import connect_redis_gate
gate = connect_redis_gate(sys.argv[1], sys.argv[2], 1, poll_seconds=0.1)
with gate.slot():
    pass
"""


def test_a_waiter_killed_in_line_holds_up_the_next_only_briefly(cap_name: str) -> None:
    gate = redis_gate(cap_name, 1, poll_seconds=0.1)  # holders' leases: the default 15 s
    client = redis.Redis.from_url(REDIS_URL)
    queue = f"gruponos:cap:{{{cap_name}}}:queue"
    try:
        with (
            gate.slot(),
            subprocess.Popen(  # noqa: S603 - our own interpreter and script
                [sys.executable, "-c", WAITER, REDIS_URL, cap_name]
            ) as waiter,
        ):
            assert wait_for(partial(_queued, client, queue, 1))  # first in line
            waiter.send_signal(signal.SIGKILL)
            waiter.wait(10)
        # the dead waiter's place lapses after 2 s, far sooner than a holder's 15 s lease
        assert _taken_within(gate, 10)
    finally:
        client.close()
        gate.close()


def test_an_unreachable_redis_is_one_clear_error_without_the_password() -> None:
    started = time.monotonic()
    with pytest.raises(GateUnavailable) as caught:
        connect_redis_gate("redis://:hunter2@127.0.0.1:1/0", "x", 8, connect_timeout=2)
    assert time.monotonic() - started < 10  # an error, not a hang
    message = str(caught.value)
    assert "hunter2" not in message
    assert "\n" not in message
    assert "Connection" in message


def test_redis_gone_when_a_request_starts_is_an_error_not_a_hang(cap_name: str) -> None:
    gone = RedisGate(redis.Redis(port=1, socket_connect_timeout=2), cap_name, 1)
    started = time.monotonic()
    try:
        with pytest.raises(GateUnavailable, match="Connection"), gone.slot():
            pass
        assert time.monotonic() - started < 10
    finally:
        gone.close()


# -- PostgreSQL advisory locks ------------------------------------------------------------------


def test_postgres_gate_caps_every_session_sharing_the_name() -> None:
    name = f"test-{uuid.uuid4().hex}"
    gates = [pg_gate(name, 2) for _ in range(2)]
    try:
        peak, done = peak_in_slots(list(gates), threads=8, limit=2)
        assert (peak, done) == (2, 8)
    finally:
        for gate in gates:
            gate.close()


PG_HOLDER = """
import sys, time, psycopg
from gruponos.adapters.wms_http.gate import PostgresGate
gate = PostgresGate(lambda: psycopg.connect(sys.argv[1]), sys.argv[2], 1)
with gate.slot():
    print("held", flush=True)
    time.sleep(600)
"""


def test_postgres_frees_a_killed_holders_slot() -> None:
    name = f"test-{uuid.uuid4().hex}"
    gate = pg_gate(name, 1)
    with subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", PG_HOLDER, PG_DSN, name], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "held"
            assert _slots_free(name) == 0  # the only slot is the other process's
            holder.send_signal(signal.SIGKILL)
            holder.wait(10)
            assert _taken_within(gate, 10)
        finally:
            if holder.poll() is None:
                holder.kill()
            gate.close()


def _slots_free(name: str) -> int:
    """Slot 0 of ``name`` free (1) or held by another session (0), asked without waiting."""
    gate = PostgresGate(lambda: psycopg.connect(PG_DSN), name, 1)
    key = gate._key
    gate.close()
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        row = conn.execute("SELECT pg_try_advisory_lock(%s, 0)", (key,)).fetchone()
        assert row is not None
        if row[0]:
            conn.execute("SELECT pg_advisory_unlock(%s, 0)", (key,))
        return int(bool(row[0]))


def test_an_unreachable_postgres_is_gate_unavailable() -> None:
    gate = PostgresGate(
        lambda: psycopg.connect("postgresql://u:hunter2@127.0.0.1:1/x", connect_timeout=2), "n", 1
    )
    with pytest.raises(GateUnavailable) as caught, gate.slot():
        pass
    assert "hunter2" not in str(caught.value)


def _hold_in_child(gate: RedisGate, held: Any, release: Any) -> None:
    with gate.slot():
        held.release()
        release.wait(20)


def test_forked_children_of_one_gate_hold_slots_of_their_own(cap_name: str) -> None:
    gate = redis_gate(cap_name, 3)
    with gate.slot():  # the parent has used it (its renewer runs) before forking
        pass
    fork = multiprocessing.get_context("fork")
    held, release = fork.Semaphore(0), fork.Event()
    children = [fork.Process(target=_hold_in_child, args=(gate, held, release)) for _ in range(2)]
    try:
        for child in children:
            child.start()
        for _ in children:
            assert held.acquire(timeout=20)
        assert gate.in_use() == 2  # two tokens, not one shared by both children
    finally:
        release.set()
        for child in children:
            child.join(20)
        gate.close()
    assert [child.exitcode for child in children] == [0, 0]
