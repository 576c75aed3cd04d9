"""A one-shot run's final metrics: the node-exporter textfile, and a Pushgateway that is not
there (a message, never an exception)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from gruponos.adapters.metrics import SyncMetrics, push_metrics, write_textfile

PASSWORD = "Push-Pa55-77aa"


def _metrics() -> SyncMetrics:
    metrics = SyncMetrics(CollectorRegistry())
    metrics.records_read.labels("incremental", "allocation").inc(42)
    return metrics


def test_the_textfile_is_written_whole_and_a_missing_folder_is_a_message(tmp_path: Path) -> None:
    registry = _metrics().registry
    target = tmp_path / "gruponos.prom"
    assert write_textfile(registry, target) is None
    text = target.read_text()
    assert 'gruponos_records_read_total{entity="allocation",pipeline="incremental"} 42.0' in text
    assert [p.name for p in tmp_path.iterdir()] == ["gruponos.prom"]  # no temporary left
    missing = tmp_path / "no-such-dir" / "gruponos.prom"
    problem = write_textfile(registry, missing)
    assert problem is not None and "no-such-dir" in problem
    assert not missing.parent.exists()


def test_an_unreachable_pushgateway_is_a_message_without_its_password() -> None:
    registry = _metrics().registry
    problem = push_metrics(registry, f"http://etl:{PASSWORD}@127.0.0.1:1", "gruponos", "full", 2)
    assert problem is not None and problem.startswith("pushgateway")
    assert PASSWORD not in problem
