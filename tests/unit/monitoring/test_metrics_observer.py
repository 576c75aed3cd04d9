"""The metrics observer over real sync runs (in-memory ports): after each run the counters have
grown by exactly what the run report says, whatever mix of pages, batches, stale versions,
quarantined records, soft deletes and failures it had."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.logs import FanOutObserver
from gruponos.adapters.memory import InMemoryWms
from gruponos.adapters.metrics import MetricsObserver, SyncMetrics
from gruponos.adapters.metrics.registry import METRIC_LABELS
from gruponos.application.sync import SyncOptions
from gruponos.domain.checkpoints import SyncMode
from gruponos.domain.runs import SyncReport
from support.fakes import World, world
from support.records import allocation, allocation_schema

COUNTERS = {
    "read": "gruponos_records_read_total",
    "written": "gruponos_records_written_total",
    "stale": "gruponos_records_unchanged_total",
    "quarantined": "gruponos_records_quarantined_total",
    "deleted": "gruponos_records_soft_deleted_total",
    "retried_requests": "gruponos_wms_retries_total",
}


def _wms(n: int) -> InMemoryWms:
    wms = InMemoryWms({"allocation": allocation_schema()}, page_size=5)
    for i in range(1, n + 1):
        wms.insert(
            "allocation", i, **{k: v for k, v in allocation(i).items() if k not in ("id", "mod_ts")}
        )
    return wms


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def _watched(w: World, metrics: SyncMetrics) -> World:
    observer = MetricsObserver(metrics, {"full": "nightly", "incremental": "incremental"})
    w.observer = FanOutObserver(w.observer, observer)  # type: ignore[assignment]
    return w


def _run(w: World, mode: SyncMode) -> SyncReport:
    options = SyncOptions(batch_size=7, max_reject_ratio=0.5)
    result = w.use_case(options).run(mode, ["allocation"])
    if is_successful(result):
        return unsafe_perform_io(result.unwrap())
    report: SyncReport = unsafe_perform_io(result.failure()).context["report"]
    return report


def _pipeline(mode: SyncMode) -> str:
    return "nightly" if mode is SyncMode.FULL else "incremental"


def test_counters_equal_the_reports_run_after_run() -> None:
    metrics = SyncMetrics(CollectorRegistry())
    registry = metrics.registry
    w = _watched(world(_wms(23)), metrics)
    w.wms.touch("allocation", 4, alloc_qty="lots")  # quarantined
    expected: dict[tuple[str, str], float] = {}
    steps = [SyncMode.FULL, SyncMode.INCREMENTAL, SyncMode.FULL]
    for number, mode in enumerate(steps):
        if number == 1:
            w.wms.touch("allocation", 9, alloc_qty="7")
        if number == 2:
            w.wms.delete("allocation", 11)
        report = _run(w, mode)
        entity = report.to_json()["entities"][0]
        for count, name in COUNTERS.items():
            key = (name, _pipeline(mode))
            expected[key] = expected.get(key, 0) + entity[count]
        for (name, pipeline), value in expected.items():
            assert _value(registry, name, pipeline=pipeline, entity="allocation") == value, name
    assert expected[("gruponos_records_quarantined_total", "nightly")] >= 1
    assert expected[("gruponos_records_soft_deleted_total", "nightly")] == 1
    assert expected[("gruponos_records_written_total", "incremental")] >= 1
    assert _value(registry, "gruponos_runs_total", pipeline="nightly", status="succeeded") == 2
    assert _value(registry, "gruponos_runs_in_progress", pipeline="nightly") == 0
    assert _value(registry, "gruponos_run_duration_seconds_count", pipeline="nightly") == 2
    assert (
        _value(
            registry,
            "gruponos_last_success_timestamp_seconds",
            pipeline="incremental",
            entity="allocation",
        )
        > 0
    )
    assert (
        _value(
            registry,
            "gruponos_newest_mod_ts_timestamp_seconds",
            pipeline="incremental",
            entity="allocation",
        )
        > 0
    )


def test_a_failed_run_counts_as_failed_and_keeps_what_it_committed() -> None:
    metrics = SyncMetrics(CollectorRegistry())
    w = _watched(world(_wms(20)), metrics)
    w.wms.fail_at_page = 3
    report = _run(w, SyncMode.FULL)
    entity = report.to_json()["entities"][0]
    assert report.status.value == "failed"
    registry = metrics.registry
    assert _value(registry, "gruponos_runs_total", pipeline="nightly", status="failed") == 1
    assert (
        _value(
            registry,
            "gruponos_entity_runs_total",
            pipeline="nightly",
            entity="allocation",
            status="failed",
        )
        == 1
    )
    assert (
        _value(registry, "gruponos_records_read_total", pipeline="nightly", entity="allocation")
        == entity["read"]
        > 0
    )
    assert (
        _value(
            registry,
            "gruponos_last_success_timestamp_seconds",
            pipeline="nightly",
            entity="allocation",
        )
        == 0
    )
    failing = {"pipeline": "nightly", "entity": "allocation"}
    assert _value(registry, "gruponos_consecutive_failures", **failing) == 1
    w.wms.fail_at_page = w.wms.pages_served + 1
    _run(w, SyncMode.FULL)
    assert _value(registry, "gruponos_consecutive_failures", **failing) == 2
    w.wms.fail_at_page = None
    assert _run(w, SyncMode.FULL).status.value == "succeeded"
    assert _value(registry, "gruponos_consecutive_failures", **failing) == 0
    assert _value(registry, "gruponos_last_success_timestamp_seconds", **failing) > 0


def test_every_family_has_only_bounded_labels() -> None:
    metrics = SyncMetrics(CollectorRegistry())
    allowed = {"pipeline", "entity", "status", "status_class"}
    families = {m.name: m for m in metrics.registry.collect()}
    assert {_family(name) for name in METRIC_LABELS} == set(families)
    for name, labels in METRIC_LABELS.items():
        assert name.startswith("gruponos_")
        assert set(labels) <= allowed, name


def _family(name: str) -> str:
    return name.removesuffix("_total")
