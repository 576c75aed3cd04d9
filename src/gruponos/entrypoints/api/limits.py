"""Request limits: bodies of at most 64 KB (413), and mutating calls per subject (429)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gruponos.entrypoints.api.problems import ProblemError, problem_response

MAX_BODY_BYTES = 64 * 1024


class BodyLimit:
    """ASGI middleware: a body over ``limit`` bytes is refused with 413, by its
    ``Content-Length`` before it is read, or while it streams in when it has none (the body,
    at most ``limit`` bytes, is read first and then handed on)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = problem_response(
            413, f"the body is over {self.limit} bytes", "request.too_large"
        )
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away: the app sees the disconnect
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        handed = False

        async def replay() -> Message:
            nonlocal handed
            if not handed:
                handed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class RateLimiter:
    """At most ``per_minute`` calls per subject in any 60 s (a sliding window)."""

    def __init__(self, per_minute: int, now: Callable[[], float] = time.monotonic) -> None:
        self._limit = per_minute
        self._now = now
        self._calls: dict[str, deque[float]] = {}
        self._mutex = threading.Lock()

    def take(self, subject: str) -> None:
        """Count a call, or raise a 429 problem with ``Retry-After`` (whole seconds)."""
        with self._mutex:
            now = self._now()
            calls = self._calls.setdefault(subject, deque())
            while calls and calls[0] <= now - 60.0:
                calls.popleft()
            if len(calls) >= self._limit:
                wait = max(1, math.ceil(calls[0] + 60.0 - now))
                raise ProblemError(
                    429,
                    f"at most {self._limit} changes a minute; try again in {wait} s",
                    "request.rate_limited",
                    {"Retry-After": str(wait)},
                )
            calls.append(now)


def audit_fields(scope: Scope) -> dict[str, Any]:
    """What the audit log line of a mutating call says about who made it (set by the routes)."""
    state = scope.get("state", {})
    principal = state.get("principal")
    return {
        "subject": getattr(principal, "subject", None),
        "role": getattr(principal, "role", None),
        "run_id": state.get("run_id"),
    }


class AuditLog:
    """ASGI middleware: every mutating call (POST, PUT, PATCH, DELETE) is logged once with its
    subject, role, method, route, run id and outcome (the response's status)."""

    MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in self.MUTATING:
            await self.app(scope, receive, send)
            return
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            import structlog  # noqa: PLC0415 - configured by the serving command

            structlog.get_logger("gruponos.api").info(
                "api.audit",
                method=scope["method"],
                route=scope["path"],
                outcome=status,
                **audit_fields(scope),
            )
