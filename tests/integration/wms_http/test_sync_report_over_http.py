"""The sync use case over HttpxWmsSource and the simulator: what the entity report says about the
source. Every retry is counted (also those of the high-water-mark and id-bound requests of a full
pass), and a paged read while the source changes leaves a warning.

The sink and state are the in-memory fakes of the ports; backoff sleeps are recorded, not waited.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
from returns.unsafe import unsafe_perform_io
from structlog.testing import capture_logs

from gruponos.adapters.memory import (
    InMemoryDatabase,
    InMemoryRunHistory,
    InMemorySink,
    ManualClock,
)
from gruponos.adapters.memory.sink import InMemorySinkState
from gruponos.adapters.wms_http import BasicAuthConfig, HttpxWmsSource, PageMode, WmsClientConfig
from gruponos.application.sync import SOURCE_CHANGED, SyncEntities, SyncOptions
from gruponos.domain.checkpoints import SyncMode
from gruponos.domain.runs import EntityReport, SyncReport
from gruponos.simulator import FaultKind, SimulatorConfig, WmsSimulator

ENTITY = "allocation"


@contextmanager
def syncing(
    sim: WmsSimulator, page_mode: PageMode = PageMode.SEQUENCED, read_parallelism: int = 4
) -> Iterator[SyncEntities]:
    config = WmsClientConfig(
        base_url=sim.base_url,
        auth=BasicAuthConfig(sim.config.username, sim.config.password),
        page_size=40,
        page_mode=page_mode,
        max_attempts=6,
    )
    db = InMemoryDatabase()
    runs = itertools.count(1)
    options = SyncOptions(batch_size=100, read_parallelism=read_parallelism, min_window_ids=20)
    with HttpxWmsSource(config, sleep=lambda _: None) as source:
        yield SyncEntities(
            source,
            InMemorySink(db),
            InMemorySinkState(db),
            InMemoryRunHistory(db),
            ManualClock(),
            lambda: f"run-{next(runs)}",
            options,
        )


def entity_report(result: Any) -> EntityReport:
    report: SyncReport = unsafe_perform_io(result.unwrap())
    (entity,) = report.entities
    return entity


def retries_logged(logs: Iterable[Mapping[str, Any]]) -> list[str]:
    return [entry["url"] for entry in logs if entry["event"] == "wms.retry"]


def test_retries_of_the_high_water_mark_and_id_bound_requests_are_counted() -> None:
    config = SimulatorConfig(records=200, slow_seconds=0)
    with WmsSimulator(config) as sim, syncing(sim) as sync:
        # The first data requests of a new full pass: latest(), then id_bounds() (two). Each
        # fails once (503) and then succeeds ("slow" with no delay answers normally).
        for _ in range(3):
            sim.force_fault(FaultKind.UNAVAILABLE)
            sim.force_fault(FaultKind.SLOW)
        with capture_logs() as logs:
            report = entity_report(sync.run(SyncMode.FULL, [ENTITY]))
    retried = retries_logged(logs)
    assert len(retried) == 3
    assert all("page_size=1" in url for url in retried)  # the one-row requests, no page
    assert ["ordering=-mod_ts%2C-id" in u for u in retried] == [True, False, False]
    assert report.retried_requests == 3
    assert report.read == 200


@pytest.mark.parametrize("page_mode", [PageMode.SEQUENCED, PageMode.PAGED])
def test_retried_requests_equal_the_retries_logged_under_random_faults(
    page_mode: PageMode,
) -> None:
    kinds = frozenset({FaultKind.SERVER_ERROR, FaultKind.UNAVAILABLE, FaultKind.TRUNCATED})
    config = SimulatorConfig(records=300, fault_rate=0.25, fault_kinds=kinds, fault_seed=7)
    with WmsSimulator(config) as sim, syncing(sim, page_mode) as sync:
        with capture_logs() as logs:
            full = entity_report(sync.run(SyncMode.FULL, [ENTITY]))
        sim.touch(ENTITY, 30)
        with capture_logs() as later:
            incremental = entity_report(sync.run(SyncMode.INCREMENTAL, [ENTITY]))
        injected = sum(sim.faults.injected.values())
    assert full.read == 300
    assert full.retried_requests == len(retries_logged(logs)) > 0
    assert incremental.retried_requests == len(retries_logged(later))
    assert full.retried_requests + incremental.retried_requests == injected


def test_a_paged_read_while_the_source_changes_warns_in_the_report() -> None:
    config = SimulatorConfig(records=300, change_rate=2.0, change_seed=3)
    with WmsSimulator(config) as sim:
        with syncing(sim, PageMode.PAGED, read_parallelism=1) as sync:
            paged = entity_report(sync.run(SyncMode.FULL, [ENTITY]))
        with syncing(sim, PageMode.SEQUENCED, read_parallelism=1) as sync:
            sequenced = entity_report(sync.run(SyncMode.FULL, [ENTITY]))
    assert SOURCE_CHANGED in paged.warnings
    assert SOURCE_CHANGED not in sequenced.warnings  # keyset paging survives changes


@pytest.mark.parametrize("mode", [SyncMode.FULL, SyncMode.INCREMENTAL])
def test_a_paged_read_of_a_quiet_source_has_no_warning(mode: SyncMode) -> None:
    with (
        WmsSimulator(SimulatorConfig(records=300)) as sim,
        syncing(sim, PageMode.PAGED) as sync,
    ):
        report = entity_report(sync.run(mode, [ENTITY]))
    assert report.read == 300
    assert report.warnings == ()
