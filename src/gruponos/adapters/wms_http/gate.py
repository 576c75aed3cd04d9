"""Request gates: how many WMS requests may be in flight at once, in a process or across many.

lgfapi allows fewer than 10 concurrent requests per user. A :class:`RequestGate` is entered around
each HTTP request attempt (a retry waiting in backoff holds no slot):

- :class:`ProcessGate`: a semaphore for the threads of one process (``wms.max_concurrency``);
- :class:`RedisGate`: a semaphore shared by every process using the same Redis and key, with a
  lease per holder (renewed while held) so the slots of a killed process come back after the
  lease, FIFO tickets so no waiter starves, and a wake-up list per waiter (no busy loop);
- :class:`PostgresGate`: ``limit`` session advisory locks on the sink's PostgreSQL, freed by the
  server as soon as a holder's connection dies.

A shared gate is entered after the process's own (:class:`StackedGate`), so a process never
holds a shared slot while it waits for one of its own. A shared gate that cannot be reached raises
:class:`GateUnavailable`; the fetcher retries it like a transient failure.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from gruponos.adapters.urls import redact

if TYPE_CHECKING:
    import redis

log = structlog.get_logger(__name__)

#: How long a shared slot's lease lasts without renewal (a killed holder's slot comes back then).
DEFAULT_LEASE_SECONDS = 15.0
#: How long a waiter blocks for a wake-up before it asks again (a backstop, not the pace).
DEFAULT_POLL_SECONDS = 0.5


class GateUnavailable(Exception):  # noqa: N818 - reads as what happened, like TimeoutError
    """The shared limiter did not answer (the message has no password)."""


class RequestGate(Protocol):
    """Admits a bounded number of requests at once; ``slot()`` blocks until one is free."""

    def slot(self) -> AbstractContextManager[None]: ...

    def close(self) -> None: ...


def cap_name(base_url: str, user: str | None) -> str:
    """The name of the cap shared by every process that talks to one WMS as one user (the API's
    limit is per user); stable, and it shows neither the URL nor the user."""
    digest = hashlib.sha256(f"{base_url.rstrip('/')}\x1f{user or ''}".encode()).hexdigest()
    return f"wms-{digest[:16]}"


class ProcessGate:
    """At most ``limit`` requests at once among the threads of this process."""

    def __init__(self, limit: int) -> None:
        self._slots = threading.BoundedSemaphore(limit)

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._slots:
            yield

    def close(self) -> None:
        """Nothing to release."""


class StackedGate:
    """Every gate in turn (the process's own first), released in reverse order."""

    def __init__(self, *gates: RequestGate) -> None:
        self._gates = gates

    @contextmanager
    def slot(self) -> Iterator[None]:
        with ExitStack() as stack:
            for gate in self._gates:
                stack.enter_context(gate.slot())
            yield

    def close(self) -> None:
        """The gates belong to whoever made them."""


# -- Redis ----------------------------------------------------------------------------------------
# Keys (one hash tag, so a cluster keeps them on one node): holders (zset token -> lease expiry,
# ms, server clock), queue (zset token -> FIFO ticket), waiting (zset token -> waiter's lease
# expiry), tickets (counter); ``wake:<token>`` is the list a waiter blocks on.

_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[3])
"""

# KEYS: holders, queue, waiting, tickets; ARGV: token, limit, lease ms, wake prefix, waiter's
# lease ms
_ACQUIRE = (
    _PRELUDE
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)) do
  redis.call('ZREM', KEYS[2], gone)
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), ARGV[1])
end
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], 86400000) end
local free = tonumber(ARGV[2]) - redis.call('ZCARD', KEYS[1])
if free > 0 and redis.call('ZRANK', KEYS[2], ARGV[1]) < free then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('DEL', ARGV[4] .. ARGV[1])
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  return 1
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), ARGV[1])
return 0
"""
)

# KEYS: holders, queue, waiting; ARGV: token, limit, lease ms, wake prefix
_RELEASE = (
    _PRELUDE
    + """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('DEL', ARGV[4] .. ARGV[1])
local free = tonumber(ARGV[2]) - redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
if free > 0 then
  for _, head in ipairs(redis.call('ZRANGE', KEYS[2], 0, free - 1)) do
    redis.call('RPUSH', ARGV[4] .. head, 1)
    redis.call('PEXPIRE', ARGV[4] .. head, lease)
  end
end
return free
"""
)

# KEYS: holders; ARGV: unused, unused, lease ms, tokens... -> how many leases were still held
_RENEW = (
    _PRELUDE
    + """
local renewed = 0
for i = 4, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], now + lease, ARGV[i])
    renewed = renewed + 1
  end
end
return renewed
"""
)

# KEYS: holders -> leases alive now
_IN_USE = (
    _PRELUDE.replace("local lease = tonumber(ARGV[3])\n", "")
    + """
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""
)


class RedisGate:
    """At most ``limit`` requests at once among every process sharing ``name`` on this Redis.

    Each slot is a lease (``lease_seconds``) renewed by a background thread while held; a process
    killed while holding slots loses them when their leases run out. Waiters take FIFO tickets and
    are woken by the release that makes room for them (a blocking pop on a list of their own),
    asking again every ``poll_seconds`` in case a wake-up was lost or a lease ran out; each ask
    renews the waiter's place in line for ``4 * poll_seconds`` (at least 2 s), so a waiter killed
    in line holds up those behind it no longer than that.
    """

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        limit: int,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
    ) -> None:
        if limit < 1 or lease_seconds <= poll_seconds:
            msg = "limit must be >= 1 and lease_seconds longer than poll_seconds"
            raise ValueError(msg)
        self._redis = client
        self._limit = limit
        self._lease_ms = int(lease_seconds * 1000)
        self._lease_seconds = lease_seconds
        self._poll = poll_seconds
        self._waiter_lease_ms = int(max(4 * poll_seconds, 2.0) * 1000)
        base = f"gruponos:cap:{{{name}}}"
        self._keys = [f"{base}:holders", f"{base}:queue", f"{base}:waiting", f"{base}:tickets"]
        self._wake = f"{base}:wake:"
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)
        self._in_use = client.register_script(_IN_USE)
        self._host = socket.gethostname()
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._renewer: threading.Thread | None = None
        self._renewer_pid = 0

    @property
    def limit(self) -> int:
        return self._limit

    @contextmanager
    def slot(self) -> Iterator[None]:
        # random, not a counter: a forked child must never reuse its parent's tokens
        token = f"{self._host}:{os.getpid()}:{secrets.token_hex(8)}"
        self._wait_for(token)
        try:
            yield
        finally:
            self._give_back(token)

    def in_use(self) -> int:
        """Slots whose lease is alive right now, in every process."""
        try:
            return int(self._in_use(keys=self._keys[:1]))
        except self._errors() as exc:
            raise GateUnavailable(_reason(exc)) from None

    def close(self) -> None:
        self._stopped.set()
        renewer = self._renewer
        if renewer is not None:
            renewer.join()
        self._redis.close()

    # -- internals --------------------------------------------------------------------------

    def _args(self, token: str) -> list[str | int]:
        return [token, self._limit, self._lease_ms, self._wake, self._waiter_lease_ms]

    def _wait_for(self, token: str) -> None:
        try:
            while not self._acquire(keys=self._keys, args=self._args(token)):
                self._redis.blpop([self._wake + token], timeout=self._poll)
        except self._errors() as exc:
            self._forget(token)  # leave the queue if Redis is back; else the lease runs out
            raise GateUnavailable(_reason(exc)) from None
        except BaseException:  # interrupted in line (a stop, a signal): leave it
            self._forget(token)
            raise
        with self._lock:
            self._held.add(token)
            if self._renewer is None or self._renewer_pid != os.getpid():  # none, or forked
                self._held &= {token}  # a parent's slots are the parent's to renew
                self._renewer = threading.Thread(
                    target=self._renew_leases, name="wms-gate-renewer", daemon=True
                )
                self._renewer_pid = os.getpid()
                self._renewer.start()

    def _give_back(self, token: str) -> None:
        with self._lock:
            self._held.discard(token)
        self._forget(token)

    def _forget(self, token: str) -> None:
        try:
            self._release(keys=self._keys[:3], args=self._args(token))
        except self._errors() as exc:  # the lease runs out by itself
            log.warning("wms.gate_release_failed", reason=_reason(exc))

    def _renew_leases(self) -> None:
        while not self._stopped.wait(self._lease_seconds / 3):
            with self._lock:
                held = sorted(self._held)
            if not held:
                continue
            try:
                renewed = int(
                    self._renew(keys=self._keys[:1], args=["", "", self._lease_ms, *held])
                )
            except self._errors() as exc:
                log.warning("wms.gate_renew_failed", reason=_reason(exc), held=len(held))
                continue
            if renewed < len(held):  # this process stalled longer than a lease
                log.warning("wms.gate_lease_lost", held=len(held), renewed=renewed)

    @staticmethod
    def _errors() -> tuple[type[Exception], ...]:
        import redis  # noqa: PLC0415 - with the gate only

        return (redis.RedisError,)


def connect_redis_gate(
    url: str,
    name: str,
    limit: int,
    *,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    connect_timeout: float = 5.0,
) -> RedisGate:
    """A :class:`RedisGate` on the Redis at ``url``, checked to answer (``GateUnavailable``
    otherwise, without the URL's password)."""
    import redis  # noqa: PLC0415 - the workers extra

    client = redis.Redis.from_url(
        url,
        socket_connect_timeout=connect_timeout,
        socket_timeout=poll_seconds + connect_timeout,  # longer than a waiter's blocking pop
        health_check_interval=30,
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        raise GateUnavailable(_reason(exc)) from None
    return RedisGate(client, name, limit, lease_seconds=lease_seconds, poll_seconds=poll_seconds)


# -- PostgreSQL -----------------------------------------------------------------------------------


class PostgresGate:
    """At most ``limit`` requests at once among every process sharing ``name`` on this server:
    slot ``i`` is the session advisory lock ``(key(name), i)``. A connection per thread in a slot,
    kept for the next request; the server frees a dead session's locks at once. Waiters try every
    slot, in a random order, after a jittered wait that grows to ``max_wait`` (no queue: fair by
    chance, so a waiter is never starved for long)."""

    def __init__(
        self,
        connect: Callable[[], Any],
        name: str,
        limit: int,
        *,
        max_wait: float = 0.05,
        errors: tuple[type[Exception], ...] = (),
    ) -> None:
        self._connect = connect
        self._key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big", signed=True)
        self._limit = limit
        self._max_wait = max_wait
        self._errors = errors or _psycopg_errors()
        self._idle: list[Any] = []
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._random = secrets.SystemRandom()

    @contextmanager
    def slot(self) -> Iterator[None]:
        connection = self._connection()
        try:
            number = self._take(connection)
        except self._errors as exc:
            connection.close()
            raise GateUnavailable(_reason(exc)) from None
        try:
            yield
        finally:
            self._put_back(connection, number)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _connection(self) -> Any:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's sessions (and locks) are its own
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        try:
            connection = self._connect()
            connection.autocommit = True  # the locks are the session's, not a transaction's
        except self._errors as exc:
            raise GateUnavailable(_reason(exc)) from None
        return connection

    def _take(self, connection: Any) -> int:
        slots = list(range(self._limit))
        wait = 0.001
        while True:
            self._random.shuffle(slots)
            for number in slots:
                row = connection.execute(
                    "SELECT pg_try_advisory_lock(%s, %s)", (self._key, number)
                ).fetchone()
                if row[0]:
                    return number
            time.sleep(self._random.uniform(0, wait))
            wait = min(self._max_wait, wait * 2)

    def _put_back(self, connection: Any, number: int) -> None:
        try:
            connection.execute("SELECT pg_advisory_unlock(%s, %s)", (self._key, number))
        except self._errors as exc:  # the session is gone, and its lock with it
            log.warning("wms.gate_release_failed", reason=_reason(exc))
            connection.close()
            return
        with self._lock:
            self._idle.append(connection)


def _psycopg_errors() -> tuple[type[Exception], ...]:
    import psycopg  # noqa: PLC0415 - with the PostgreSQL gate only

    return (psycopg.Error,)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return redact(f"{type(exc).__name__}: {text}")
