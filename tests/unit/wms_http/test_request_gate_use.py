"""How the HTTP source uses a shared request gate: one slot per attempt, none held in backoff,
and a limiter that does not answer retried like any transient failure."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import orjson
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.wms_http import BasicAuthConfig, HttpxWmsSource, WmsClientConfig
from gruponos.adapters.wms_http.gate import GateUnavailable

BASE = "https://wms.example.com/prod"
ENTITIES = orjson.dumps({"allocation": "url"})


class RecordingGate:
    """A shared gate that logs entries and exits, refusing the first ``unavailable`` ones."""

    def __init__(self, log: list[str], unavailable: int = 0) -> None:
        self.log = log
        self.unavailable = unavailable

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self.unavailable:
            self.unavailable -= 1
            self.log.append("limiter down")
            raise GateUnavailable("ConnectionError: refused")
        self.log.append("enter")
        try:
            yield
        finally:
            self.log.append("exit")

    def close(self) -> None:
        self.log.append("closed")


def source(log: list[str], statuses: list[int], gate: RecordingGate) -> HttpxWmsSource:
    def answer(request: httpx.Request) -> httpx.Response:
        status = statuses.pop(0)
        log.append(f"GET {status}")
        return httpx.Response(status, content=ENTITIES if status == 200 else b"{}")

    config = WmsClientConfig(
        base_url=BASE, auth=BasicAuthConfig("integ", "pw"), max_attempts=3, backoff_base=0.01
    )
    return HttpxWmsSource(
        config,
        sleep=lambda seconds: log.append("backoff"),
        transport=httpx.MockTransport(answer),
        random=lambda: 0.5,
        shared_gate=gate,
    )


def test_each_attempt_holds_a_slot_and_a_retry_in_backoff_holds_none() -> None:
    log: list[str] = []
    with source(log, [503, 200], RecordingGate(log)) as wms:
        assert is_successful(wms.list_entities())
    assert log == ["enter", "GET 503", "exit", "backoff", "enter", "GET 200", "exit"]


def test_the_source_does_not_close_the_shared_gate() -> None:
    log: list[str] = []
    with source(log, [200], RecordingGate(log)) as wms:
        wms.check()
    assert "closed" not in log


def test_a_limiter_that_does_not_answer_is_retried_then_reported() -> None:
    log: list[str] = []
    with source(log, [200], RecordingGate(log, unavailable=1)) as wms:
        assert is_successful(wms.check())
    assert log == ["limiter down", "backoff", "enter", "GET 200", "exit"]

    log.clear()
    with source(log, [], RecordingGate(log, unavailable=3)) as wms:
        error = unsafe_perform_io(wms.check().failure())
    assert error.code == "wms.retries_exhausted"
    assert "request limiter (ConnectionError: refused)" in error.message
    assert not any(entry.startswith("GET") for entry in log)
