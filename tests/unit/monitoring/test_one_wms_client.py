"""With metrics on, a sync builds one WMS client: the counted one (issue 21: each client has its
own connection pool and TLS context, whose certificates take ~50 ms to load)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest

from gruponos.adapters.logs import LoggingObserver
from gruponos.container import build_container
from gruponos.entrypoints.cli.monitoring import monitored
from gruponos.settings import load_settings


def test_a_monitored_sync_builds_only_the_counted_wms_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[object] = []
    original = ssl.SSLContext.load_verify_locations

    def counted(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loads.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    wms = {"base_url": "https://wms.invalid/x", "username": "u", "password": "p"}
    settings = load_settings(
        env_file=None,
        wms=wms,
        sink={"url": f"sqlite:///{tmp_path}/t.db"},
        metrics={"enabled": True},
    ).unwrap()
    container = build_container(settings)
    try:
        monitored(container, settings, LoggingObserver())
        use_case = container.sync()
        assert use_case._source is container.counted_wms()  # what it reads from
        assert len(loads) == 1  # one TLS context: no second, uncounted client was built
    finally:
        container.shutdown_resources()
