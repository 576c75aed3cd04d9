"""The metric reference cannot drift: docs/monitoring.md's table, the registry, the rules and
the dashboard name the same metrics with the same labels; every alert rule is documented and
unit-tested (rules_test.yml)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from gruponos.adapters.metrics import METRIC_LABELS, SyncMetrics

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "monitoring.md").read_text(encoding="utf-8")
DEPLOY = ROOT / "deploy" / "prometheus"
RULES = (DEPLOY / "rules.yml").read_text(encoding="utf-8")
ROW = re.compile(r"^\| `(gruponos_\w+)` \| (\w+) \| ([^|]*) \|", re.M)
SUFFIXES = ("_bucket", "_sum", "_count")


def _documented() -> dict[str, tuple[str, tuple[str, ...]]]:
    return {
        name: (kind, tuple(re.findall(r"`(\w+)`", labels)))
        for name, kind, labels in ROW.findall(DOC)
    }


def _exported() -> dict[str, tuple[str, tuple[str, ...]]]:
    metrics = SyncMetrics(CollectorRegistry())
    exported = {}
    for family in metrics.registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        exported[name] = (family.type, METRIC_LABELS[name])
    return exported


def test_the_docs_table_is_the_registry() -> None:
    assert _documented() == _exported()


def test_samples_carry_exactly_the_documented_labels() -> None:
    metrics = SyncMetrics(CollectorRegistry())
    metrics.records_read.labels("full", "allocation").inc()
    metrics.wms_requests.labels("allocation", "2xx").inc()
    metrics.run_duration.labels("full").observe(3)
    metrics.committed_up_to("full", "allocation", 0.0)
    documented = _documented()
    for family in metrics.registry.collect():
        for sample in family.samples:
            base = family.name + ("_total" if family.type == "counter" else "")
            labels = set(sample.labels) - {"le"}
            if family.type == "counter" and sample.name.endswith("_created"):
                continue
            assert labels == set(documented[base][1]), sample


def _names_in(text: str) -> set[str]:
    names = set()
    for found in re.findall(r"\b(gruponos_[a-z_]+)", text):
        bases = [found.removesuffix(s) for s in SUFFIXES if found.endswith(s)]
        names.add(next((b for b in bases if b in METRIC_LABELS), found))
    return names


def test_rules_and_dashboard_use_only_exported_metrics() -> None:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text(encoding="utf-8"))
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for where, text in (("rules.yml", RULES), ("grafana-dashboard.json", exprs)):
        unknown = _names_in(text) - set(METRIC_LABELS)
        assert not unknown, f"{where} names {unknown}"
    assert "run_id" not in RULES and "run_id" not in exprs


def test_every_alert_rule_is_documented_and_unit_tested() -> None:
    alerts = re.findall(r"- alert: (\w+)", RULES)
    tested = set(re.findall(r"alertname: (\w+)", (DEPLOY / "rules_test.yml").read_text()))
    assert len(alerts) >= 8
    for alert in alerts:
        assert f"| `{alert}` |" in DOC, alert
        assert alert in tested, alert
