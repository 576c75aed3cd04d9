"""The composition root picks adapters from settings and never falls back to a fake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.memory import InMemoryWms
from gruponos.adapters.sql import SqlSink, SqlStateStore
from gruponos.adapters.state import FileStateStore
from gruponos.application.commit import SaveAfterCommit
from gruponos.container import StartupError, build_container
from gruponos.domain.checkpoints import SyncMode
from gruponos.settings import Settings, load_settings
from support.records import allocation, allocation_schema


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    overrides.setdefault("sink", {"url": f"sqlite:///{tmp_path}/t.db"})
    return load_settings(env_file=None, **overrides).unwrap()


def test_sqlite_url_selects_the_sql_sink_and_in_sink_state(tmp_path: Path) -> None:
    container = build_container(_settings(tmp_path))
    try:
        assert isinstance(container.sink(), SqlSink)
        state = container.state()
        assert isinstance(state, SqlStateStore)
        assert container.commit() is container.sink()  # batch and checkpoint: one transaction
    finally:
        container.shutdown_resources()


def test_file_state_is_selected_by_kind(tmp_path: Path) -> None:
    settings = _settings(tmp_path, state={"kind": "file", "path": str(tmp_path / "s.json")})
    container = build_container(settings)
    state = container.state()
    assert isinstance(state, FileStateStore)
    assert state.path == tmp_path / "s.json"
    try:
        assert isinstance(container.commit(), SaveAfterCommit)  # the file saves after the sink
    finally:
        container.shutdown_resources()


def test_an_incomplete_wms_configuration_fails_at_start_up(tmp_path: Path) -> None:
    container = build_container(_settings(tmp_path))
    with pytest.raises(StartupError) as raised:
        container.wms()
    assert raised.value.error.code == "config.incomplete"
    assert "wms.base_url" in raised.value.error.message


def test_an_unreachable_database_fails_at_start_up_without_secrets(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, sink={"url": "postgresql://etl@127.0.0.1:1/db", "password": "pw-SECRET"}
    )
    container = build_container(settings)
    with pytest.raises(StartupError) as raised:
        container.sink()
    assert raised.value.error.code == "sink.connect_failed"
    assert "pw-SECRET" not in str(raised.value.error)


def test_tests_override_the_source_and_the_real_sink_loads(tmp_path: Path) -> None:
    wms = InMemoryWms({"allocation": allocation_schema()}, page_size=3)
    for i in range(1, 8):
        wms.put("allocation", allocation(i))
    container = build_container(_settings(tmp_path))
    container.wms.override(providers.Object(wms))
    try:
        report = unsafe_perform_io(container.sync().run(SyncMode.FULL, ["allocation"]).unwrap())
        assert report.entities[0].written == 7
        snapshot = unsafe_perform_io(container.sink().snapshot("allocation").unwrap())
        assert set(snapshot) == set(range(1, 8))
    finally:
        container.shutdown_resources()
