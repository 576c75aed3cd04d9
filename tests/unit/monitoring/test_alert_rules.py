"""The built-in alert rules, pure: what holds and what clears for a given run and history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gruponos.application.alert_rules import AlertPolicy, judge_freshness, judge_run
from gruponos.domain.checkpoints import SyncMode
from gruponos.domain.runs import EntityReport, RunStatus, SyncReport

T0 = datetime(2025, 1, 1, tzinfo=UTC)
POLICY = AlertPolicy()


def _run(
    n: int, status: RunStatus = RunStatus.SUCCEEDED, seconds: float = 60, **entity: object
) -> SyncReport:
    report = EntityReport("allocation", SyncMode.INCREMENTAL, status=status, **entity)  # type: ignore[arg-type]
    start = T0 + timedelta(hours=n)
    return SyncReport(
        f"r{n}", SyncMode.INCREMENTAL, start, start + timedelta(seconds=seconds), status, (report,)
    )


def _keys(verdict_conditions: tuple[object, ...]) -> set[str]:
    return {c.key for c in verdict_conditions}  # type: ignore[attr-defined]


def test_a_failure_holds_run_failed_and_a_success_clears_it() -> None:
    failed = judge_run(
        _run(1, RunStatus.FAILED, error="[wms.unauthorized] no"), "incremental", [], POLICY
    )
    assert _keys(failed.holding) == {"run_failed/incremental/allocation"}
    ok = judge_run(_run(2), "incremental", [], POLICY)
    assert "run_failed/incremental/allocation" in ok.cleared
    assert not ok.holding


def test_consecutive_failures_need_n_in_a_row_and_a_stopped_run_judges_nothing() -> None:
    history = [_run(i, RunStatus.FAILED) for i in (3, 2)]
    third = judge_run(_run(4, RunStatus.FAILED), "incremental", history, POLICY)
    assert "consecutive_failures/incremental/allocation" in _keys(third.holding)
    broken = [_run(3, RunStatus.FAILED), _run(2)]
    second = judge_run(_run(4, RunStatus.FAILED), "incremental", broken, POLICY)
    assert "consecutive_failures/incremental/allocation" in second.cleared
    stopped = judge_run(_run(5, RunStatus.INTERRUPTED), "incremental", history, POLICY)
    assert not stopped.holding and not stopped.cleared


def test_quarantine_share_and_dry_runs() -> None:
    many = judge_run(_run(1, read=100, quarantined=2), "incremental", [], POLICY)
    assert _keys(many.holding) == {"quarantine/incremental/allocation"}
    few = judge_run(_run(1, read=1000, quarantined=2), "incremental", [], POLICY)
    assert "quarantine/incremental/allocation" in few.cleared
    dry = SyncReport(
        "d",
        SyncMode.FULL,
        T0,
        T0,
        RunStatus.FAILED,
        _run(1, RunStatus.FAILED).entities,
        dry_run=True,
    )
    assert (
        judge_run(dry, "full", [], POLICY)
        == judge_run(_run(1), "full", [], AlertPolicy()).__class__()
    )


def test_duration_against_the_median_of_earlier_successful_runs() -> None:
    usual = [_run(i, seconds=60) for i in range(1, 4)]
    slow = judge_run(_run(5, seconds=200), "incremental", usual, POLICY)
    assert "duration/incremental/-" in _keys(slow.holding)
    normal = judge_run(_run(5, seconds=150), "incremental", usual, POLICY)
    assert "duration/incremental/-" in normal.cleared
    too_little_history = judge_run(_run(5, seconds=900), "incremental", usual[:2], POLICY)
    assert (
        "duration/incremental/-"
        not in _keys(too_little_history.holding) | too_little_history.cleared
    )


def test_freshness_per_pipeline_sla() -> None:
    now = T0 + timedelta(days=2)
    verdict = judge_freshness(
        {
            ("incremental", "allocation"): now - timedelta(hours=4),
            ("incremental", "order_hdr"): now - timedelta(hours=1),
            ("full", "allocation"): now - timedelta(days=2),
            ("incremental", "order_dtl"): None,
            ("other", "allocation"): None,  # no SLA: not judged
        },
        now,
        POLICY,
    )
    assert _keys(verdict.holding) == {
        "freshness/incremental/allocation",
        "freshness/incremental/order_dtl",
    }
    assert verdict.cleared == {"freshness/incremental/order_hdr", "freshness/full/allocation"}
