"""The API over a real container (SQLite in a temporary folder, a WMS simulator for replays),
served by uvicorn on loopback and called with httpx; runs go to a recording executor."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from dependency_injector import providers

from gruponos.adapters.api_settings import ApiSettings
from gruponos.application.ports import RunRequest
from gruponos.container import Container, build_container
from gruponos.entrypoints.api.app import create_app
from gruponos.settings import Settings
from gruponos.simulator.testing import running
from support.api_auth import AUDIENCE, ISSUER, ApiKey, Issuer, api_key
from support.api_server import serving

WMS_PASSWORD = "Wms-Api-Test-5ecret-91"


@dataclass
class RecordingExecutor:
    """Implements ``RunExecutor``: accepts and remembers runs; runs none of them."""

    submitted: list[RunRequest] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    full: bool = False

    def submit(self, request: RunRequest) -> bool:
        if self.full:
            return False
        self.submitted.append(request)
        return True

    def cancel(self, run_id: str, reason: str) -> bool:
        self.cancelled.append(run_id)
        return True

    def active(self) -> tuple[RunRequest, ...]:
        return ()

    def close(self) -> None:
        """Nothing runs."""


@dataclass
class Service:
    client: httpx.Client
    container: Container
    executor: RecordingExecutor
    issuer: Issuer
    keys: dict[str, ApiKey]
    secrets: tuple[str, ...]


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer()


def make_settings(tmp: Path, wms_url: str, api: dict[str, Any]) -> Settings:
    return Settings(
        _env_file=None,
        sink={"url": f"sqlite:///{tmp / 'sink.db'}"},
        wms={"base_url": wms_url, "username": "wms_user", "password": WMS_PASSWORD},
        api=ApiSettings(**api),
    )


@contextmanager
def serve_api(tmp_path: Path, issuer: Issuer, **api_overrides: Any) -> Iterator[Service]:
    keys = {
        "operator": api_key("ci-operator", "operator"),
        "revoked": api_key("old", "admin", revoked=True),
    }
    api = {
        "jwks_file": issuer.write_jwks(tmp_path / "jwks.json"),
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "keys": tuple(k.entry for k in keys.values()),
        "mutations_per_minute": 10_000,
        **api_overrides,
    }
    with running(records=20, password=WMS_PASSWORD) as (sim, _):
        settings = make_settings(tmp_path, sim.base_url, api)
        container = build_container(settings)
        executor = RecordingExecutor()
        container.executor.override(providers.Object(executor))
        app = create_app(container)
        with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            yield Service(
                client,
                container,
                executor,
                issuer,
                keys,
                (WMS_PASSWORD, *(k.secret for k in keys.values())),
            )


@pytest.fixture
def service(tmp_path: Path, issuer: Issuer) -> Iterator[Service]:
    with serve_api(tmp_path, issuer) as served:
        yield served


@pytest.fixture(scope="module")
def shared_service(tmp_path_factory: pytest.TempPathFactory, issuer: Issuer) -> Iterator[Service]:
    """One service for a module's tests that leave nothing behind that the next one reads."""
    with serve_api(tmp_path_factory.mktemp("api"), issuer) as served:
        yield served
