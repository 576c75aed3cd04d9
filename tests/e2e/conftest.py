"""End-to-end fixtures: the simulator over real HTTP, SQLite in tmp_path or PostgreSQL in a schema
of its own (``support.sqlsink``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from e2e.harness import Cli, wms_env
from gruponos.simulator import SimulatorConfig, WmsSimulator
from support.sqlsink import db_url, pg_url

__all__ = ["db_url", "pg_url"]


@pytest.fixture
def sim() -> Iterator[WmsSimulator]:
    """A small simulated WMS: 300 rows per entity, quick 503s (Retry-After 0)."""
    with WmsSimulator(SimulatorConfig(records=300, seed=11, retry_after_seconds=0)) as server:
        yield server


@pytest.fixture
def cli(sim: WmsSimulator, db_url: str) -> Cli:
    return Cli(wms_env(sim, db_url))
