"""The API's behaviour beyond who may call what: limits, problems, idempotency, pagination,
keys fetched from a JWKS URL, and the serving command's refusals."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner
from dependency_injector import providers

from gruponos.adapters.api_settings import ApiSettings
from gruponos.domain.checkpoints import SyncMode
from gruponos.domain.runs import RunStatus, SyncReport
from gruponos.entrypoints.api.auth import JwksKeys
from gruponos.entrypoints.cli.main import main
from support.api_auth import Issuer

from .conftest import Service, serve_api

OPERATOR = "operator"


def _op(service: Service) -> dict[str, str]:
    return {"X-API-Key": service.keys[OPERATOR].secret}


def test_a_body_over_64_kb_is_refused_413_whether_announced_or_streamed(service: Service) -> None:
    big = {"pipeline": "full", "entities": ["x" * 70_000]}
    announced = service.client.post("/api/v1/runs", json=big, headers=_op(service))
    assert announced.status_code == 413
    assert announced.headers["content-type"] == "application/problem+json"

    def chunks() -> Iterator[bytes]:
        yield b'{"pipeline": "full", "entities": ["'
        for _ in range(70):
            yield b"y" * 1024
        yield b'"]}'

    streamed = service.client.post(
        "/api/v1/runs",
        content=chunks(),
        headers={**_op(service), "content-type": "application/json"},
    )
    assert streamed.status_code == 413
    assert service.executor.submitted == []
    ok = service.client.post("/api/v1/runs", json={"pipeline": "full"}, headers=_op(service))
    assert ok.status_code == 202


def test_mutating_calls_are_limited_per_subject_with_retry_after(
    tmp_path: Path, issuer: Issuer
) -> None:
    with serve_api(tmp_path, issuer, mutations_per_minute=2) as service:
        cancel = "/api/v1/runs/nope/cancel"
        assert service.client.post(cancel, headers=_op(service)).status_code == 404
        assert service.client.post(cancel, headers=_op(service)).status_code == 404
        limited = service.client.post(cancel, headers=_op(service))
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        # reads are not limited, and another subject has its own budget
        assert service.client.get("/api/v1/runs", headers=_op(service)).status_code == 200
        admin = {"Authorization": f"Bearer {issuer.token(('admin',), kid='d1', alg='EdDSA')}"}
        assert service.client.post(cancel, headers=admin).status_code == 404


def test_the_same_idempotency_key_gives_the_same_run(service: Service) -> None:
    headers = {**_op(service), "Idempotency-Key": "nightly-2026-01-01"}
    first = service.client.post("/api/v1/runs", json={"pipeline": "full"}, headers=headers)
    again = service.client.post("/api/v1/runs", json={"pipeline": "full"}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["run_id"] == again.json()["run_id"]
    assert (first.json()["replayed"], again.json()["replayed"]) == (False, True)
    assert again.headers["location"] == f"/api/v1/runs/{first.json()['run_id']}"
    assert len(service.executor.submitted) == 1
    other = service.client.post("/api/v1/runs", json={"pipeline": "incremental"}, headers=headers)
    assert other.status_code == 409
    shown = service.client.get(first.headers["location"], headers=_op(service)).json()
    assert (shown["status"], shown["triggered_by"]) == ("queued", "key:ci-operator")


def test_a_full_executor_answers_503_and_says_so_in_the_history(service: Service) -> None:
    service.executor.full = True
    refused = service.client.post("/api/v1/runs", json={"pipeline": "full"}, headers=_op(service))
    assert refused.status_code == 503
    assert refused.json()["code"] == "run.executor_full"
    runs = service.client.get("/api/v1/runs", headers=_op(service)).json()["items"]
    assert [(r["status"], r["error"]) for r in runs] == [
        ("failed", "not started: the executor is full")
    ]


def test_unknown_entities_and_bad_bodies_are_422_problems(service: Service) -> None:
    for body in (
        {"pipeline": "full", "entities": ["nope"]},
        {"pipeline": "weekly"},
        {"pipeline": "full", "extra": 1},
        {"pipeline": "full", "entities": []},
    ):
        answer = service.client.post("/api/v1/runs", json=body, headers=_op(service))
        assert answer.status_code == 422, body
        assert answer.json()["detail"]
    not_json = service.client.post(
        "/api/v1/runs",
        content=b"pipeline=full",
        headers={**_op(service), "content-type": "text/plain"},
    )
    assert not_json.status_code == 422
    assert service.executor.submitted == []


def test_runs_page_by_cursor_and_filter(service: Service) -> None:
    history = service.container.runs()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(7):
        mode = SyncMode.FULL if i % 2 else SyncMode.INCREMENTAL
        status = RunStatus.FAILED if i == 3 else RunStatus.SUCCEEDED
        history.record(SyncReport(f"run-{i}", mode, start + timedelta(minutes=i), status=status))
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = service.client.get("/api/v1/runs", params=params, headers=_op(service)).json()
        seen += [r["run_id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"run-{i}" for i in reversed(range(7))]
    full = service.client.get("/api/v1/runs", params={"pipeline": "full"}, headers=_op(service))
    assert [r["run_id"] for r in full.json()["items"]] == ["run-5", "run-3", "run-1"]
    failed = service.client.get("/api/v1/runs", params={"status": "failed"}, headers=_op(service))
    assert [r["run_id"] for r in failed.json()["items"]] == ["run-3"]
    bad = service.client.get("/api/v1/runs", params={"cursor": "garbage!"}, headers=_op(service))
    assert bad.status_code == 400 and bad.json()["code"] == "request.bad_cursor"


def test_a_bug_is_a_500_problem_without_a_trace(service: Service) -> None:
    class Broken:
        def find_runs(self, query: object) -> object:
            raise RuntimeError("secret internals /etc/passwd")

    service.container.runs.override(providers.Object(Broken()))
    answer = service.client.get("/api/v1/runs", headers=_op(service))
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert "secret internals" not in answer.text and "Traceback" not in answer.text


def test_config_is_masked_for_admins(service: Service) -> None:
    admin = {"Authorization": f"Bearer {service.issuer.token(('admin',))}"}
    shown = service.client.get("/api/v1/config", headers=admin)
    assert shown.status_code == 200
    assert shown.json()["wms"]["password"] == "**********"
    assert not [s for s in service.secrets if s in shown.text]


class _Jwks(BaseHTTPRequestHandler):
    document: ClassVar[dict[str, Any]] = {}
    hits: ClassVar[int] = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        body = json.dumps(self.document).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@contextmanager
def jwks_server(document: dict[str, Any]) -> Iterator[tuple[str, type[_Jwks]]]:
    handler = type("Jwks", (_Jwks,), {"document": document, "hits": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks", handler
    finally:
        server.shutdown()
        server.server_close()


def test_keys_from_a_jwks_url_are_cached_and_fetched_again_for_a_new_kid(
    tmp_path: Path, issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(JwksKeys, "REFETCH_SECONDS", 0.0)  # the guard is tested below
    with (
        jwks_server(issuer.jwks(only=("k1",))) as (url, handler),
        serve_api(tmp_path, issuer, jwks_file=None, jwks_url=url) as service,
    ):
        rs = {"Authorization": f"Bearer {issuer.token(('viewer',))}"}
        assert service.client.get("/api/v1/runs", headers=rs).status_code == 200
        assert service.client.get("/api/v1/runs", headers=rs).status_code == 200
        assert handler.hits == 1  # cached
        # the provider rotates a new key in: a token naming it makes the service look again
        handler.document = issuer.jwks()
        es = {"Authorization": f"Bearer {issuer.token(('viewer',), kid='e1', alg='ES256')}"}
        assert service.client.get("/api/v1/runs", headers=es).status_code == 200
        assert handler.hits == 2
        unknown = {"Authorization": f"Bearer {issuer.token(('viewer',), kid='zz')}"}
        assert service.client.get("/api/v1/runs", headers=unknown).status_code == 401
        assert handler.hits == 3  # looked once more, still unknown: refused


def test_unknown_kids_refetch_the_jwks_at_most_once_per_guard_interval(issuer: Issuer) -> None:
    with jwks_server(issuer.jwks(only=("k1",))) as (url, handler):
        now = [100.0]
        settings = ApiSettings(jwks_url=url, issuer="i", audience="a")
        keys = JwksKeys(settings, now=lambda: now[0])
        assert keys.get("k1") is not None and handler.hits == 1
        assert keys.get("zz") is None and keys.get("zz") is None
        assert handler.hits == 1  # a storm of unknown kids does not hammer the provider
        now[0] += JwksKeys.REFETCH_SECONDS
        assert keys.get("zz") is None and handler.hits == 2
        now[0] += settings.jwks_cache_seconds
        assert keys.get("k1") is not None and handler.hits == 3  # the cache expired


def test_serve_refuses_to_start_without_authentication(tmp_path: Path) -> None:
    env = {"GRUPONOS_SINK__URL": f"sqlite:///{tmp_path / 's.db'}"}
    runner = CliRunner()
    plain = runner.invoke(main, ["--env-file", str(tmp_path / "none"), "api", "serve"], env=env)
    assert plain.exit_code == 2
    assert "needs authentication" in plain.output
    exposed = runner.invoke(
        main,
        [
            "--env-file",
            str(tmp_path / "none"),
            "api",
            "serve",
            "--insecure-dev",
            "--host",
            "0.0.0.0",  # noqa: S104 - the address refused
        ],
        env=env,
    )
    assert exposed.exit_code == 2
    assert "loopback" in exposed.output


def test_key_create_prints_the_key_once_and_an_entry_holding_its_hash() -> None:
    out = CliRunner().invoke(main, ["api", "key", "create", "--name", "etl", "--role", "operator"])
    assert out.exit_code == 0, out.output
    key = out.output.split("key: ", 1)[1].split()[0]
    entry = json.loads(out.output.strip().splitlines()[-1])
    assert entry == {
        "name": "etl",
        "role": "operator",
        "sha256": hashlib.sha256(key.encode()).hexdigest(),
    }
    bad = CliRunner().invoke(main, ["api", "key", "create", "--name", "a b", "--role", "admin"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
