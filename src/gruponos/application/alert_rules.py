"""The built-in alert rules, pure: a finished run (and the runs before it, and the checkpoints)
in, the conditions that hold and those that cleared out.

A condition has a stable ``key`` (rule, pipeline, entity): the dispatcher sends one notice when
it starts to hold and one when it clears, never one per run while it holds.

- ``run_failed``: the entity's sync failed in this run; clears when it succeeds (or only has too
  many quarantined records, which is ``quarantine``'s business).
- ``consecutive_failures``: the entity failed in each of the pipeline's last N runs with it.
- ``freshness``: now minus the newest committed ``mod_ts`` is above the pipeline's SLA.
- ``quarantine``: the run quarantined more than the share of what it read.
- ``duration``: the run took more than ``duration_factor`` times the median of the pipeline's
  earlier successful runs (at least 3 of them).
- ``data_quality``: a completeness or consistency check found something (see checks).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from gruponos.domain.checkpoints import Checkpoint, SyncMode
from gruponos.domain.runs import EntityReport, RunStatus, SyncReport

RULES = (
    "run_failed",
    "consecutive_failures",
    "freshness",
    "quarantine",
    "duration",
    "data_quality",
)


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """The rules' thresholds (the settings fill these)."""

    consecutive_failures: int = 3
    #: Freshness SLA per pipeline name; a pipeline without one is not judged.
    freshness: Mapping[str, timedelta] = field(
        default_factory=lambda: {"incremental": timedelta(hours=3), "full": timedelta(days=8)}
    )
    quarantine_share: float = 0.01
    duration_factor: float = 3.0
    #: Earlier successful runs needed before ``duration`` judges a run.
    duration_history: int = 3


@dataclass(frozen=True, slots=True)
class Condition:
    """Something an operator should hear about, while it holds."""

    rule: str
    pipeline: str | None
    entity: str | None
    summary: str
    severity: str = "critical"

    @property
    def key(self) -> str:
        return "/".join((self.rule, self.pipeline or "-", self.entity or "-"))


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a run showed: the conditions that hold, and the keys of those judged clear."""

    holding: tuple[Condition, ...] = ()
    cleared: frozenset[str] = frozenset()

    def plus(self, other: Verdict) -> Verdict:
        return Verdict(self.holding + other.holding, self.cleared | other.cleared)


def _judge(condition: Condition, *, holds: bool) -> Verdict:
    if holds:
        return Verdict(holding=(condition,))
    return Verdict(cleared=frozenset({condition.key}))


def judge_run(
    report: SyncReport,
    pipeline: str,
    earlier: Sequence[SyncReport],
    policy: AlertPolicy,
) -> Verdict:
    """The run-based rules over ``report`` (a finished run of ``pipeline``); ``earlier`` are the
    pipeline's earlier runs, newest first. A stopped entity (interrupted, cancelled) or a dry
    run judges nothing."""
    verdict = Verdict()
    if report.dry_run:
        return verdict
    for entity in report.entities:
        if entity.status.stopped or entity.status is RunStatus.RUNNING:
            continue
        verdict = verdict.plus(_entity_rules(entity, pipeline, earlier, policy))
    return verdict.plus(_duration(report, pipeline, earlier, policy))


def _entity_rules(
    entity: EntityReport, pipeline: str, earlier: Sequence[SyncReport], policy: AlertPolicy
) -> Verdict:
    name = entity.entity
    failed = entity.status is RunStatus.FAILED
    verdict = _judge(
        Condition(
            "run_failed", pipeline, name, f"{pipeline} sync of {name} failed: {entity.error}"
        ),
        holds=failed,
    )
    streak = [failed, *(_failed(run, name) for run in earlier)]
    needed = policy.consecutive_failures
    in_a_row = len(streak) >= needed and all(s is True for s in streak[:needed])
    verdict = verdict.plus(
        _judge(
            Condition(
                "consecutive_failures",
                pipeline,
                name,
                f"{pipeline} sync of {name} failed {needed} times in a row: {entity.error}",
            ),
            holds=in_a_row,
        )
    )
    if entity.read:
        share = entity.reject_ratio
        verdict = verdict.plus(
            _judge(
                Condition(
                    "quarantine",
                    pipeline,
                    name,
                    f"{pipeline} sync of {name} quarantined {entity.quarantined} of "
                    f"{entity.read} records ({share:.1%} > {policy.quarantine_share:.1%})",
                    severity="warning",
                ),
                holds=share > policy.quarantine_share,
            )
        )
    return verdict


def _failed(run: SyncReport, entity: str) -> bool | None:
    """Whether ``entity`` failed in ``run`` (``None``: not in it, or stopped)."""
    for report in run.entities:
        if report.entity == entity and not report.status.stopped:
            return report.status is RunStatus.FAILED
    return None


def _duration(
    report: SyncReport, pipeline: str, earlier: Sequence[SyncReport], policy: AlertPolicy
) -> Verdict:
    seconds = _seconds(report)
    past = [
        s
        for run in earlier
        if run.status is RunStatus.SUCCEEDED and (s := _seconds(run)) is not None
    ]
    if seconds is None or len(past) < policy.duration_history:
        return Verdict()
    usual = median(past)
    return _judge(
        Condition(
            "duration",
            pipeline,
            None,
            f"{pipeline} run took {seconds:.0f} s, over {policy.duration_factor:g} times its "
            f"usual {usual:.0f} s",
            severity="warning",
        ),
        holds=seconds > policy.duration_factor * max(usual, 1.0),
    )


def _seconds(run: SyncReport) -> float | None:
    if run.finished_at is None:
        return None
    return (run.finished_at - run.started_at).total_seconds()


def newest_committed(checkpoint: Checkpoint) -> datetime | None:
    """The newest ``mod_ts`` up to which the entity is surely loaded: an incremental
    checkpoint's position, or a complete full pass's high-water mark."""
    if checkpoint.mode is SyncMode.INCREMENTAL and checkpoint.position is not None:
        return checkpoint.position.mod_ts
    if checkpoint.complete and checkpoint.high_water is not None:
        return checkpoint.high_water.mod_ts
    return None


def judge_freshness(
    newest: Mapping[tuple[str, str], datetime | None],
    now: datetime,
    policy: AlertPolicy,
) -> Verdict:
    """``freshness`` per (pipeline, entity): ``newest`` committed ``mod_ts`` (``None``: nothing
    committed yet, which is stale too once the pipeline has an SLA)."""
    verdict = Verdict()
    for (pipeline, entity), stamp in sorted(newest.items()):
        sla = policy.freshness.get(pipeline)
        if sla is None:
            continue
        age = None if stamp is None else now - stamp
        shown = "nothing committed yet" if age is None else f"{_hours(age)} old"
        verdict = verdict.plus(
            _judge(
                Condition(
                    "freshness",
                    pipeline,
                    entity,
                    f"{entity} data of the {pipeline} pipeline is {shown} (SLA {_hours(sla)})",
                ),
                holds=age is None or age > sla,
            )
        )
    return verdict


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def judge_findings(
    findings: Iterable[tuple[str, str, int, str]], checked: Iterable[tuple[str, str]]
) -> Verdict:
    """``data_quality`` per (check, entity): ``findings`` as (check, entity, count, summary);
    every (check, entity) in ``checked`` without a finding is clear."""
    verdict = Verdict()
    found = set()
    for check, entity, count, summary in findings:
        found.add((check, entity))
        verdict = verdict.plus(
            _judge(Condition("data_quality", check, entity, summary, "warning"), holds=count > 0)
        )
    for check, entity in checked:
        if (check, entity) not in found:
            verdict = verdict.plus(
                _judge(Condition("data_quality", check, entity, ""), holds=False)
            )
    return verdict
