"""Built-in alerting: conditions become notices on channels, once per condition.

:class:`Alerting` keeps the set of active conditions in an :class:`AlertLedger`: a condition that
starts to hold is sent as ``firing`` once; while it holds nothing more is sent; when a later
judgement finds it clear a ``resolved`` notice follows. Each notice goes to every channel with
retries and exponential backoff (through the clock); a channel that still fails is reported and
skipped: alerting never fails the run that triggered it. A condition no channel delivered stays
inactive, so the next judgement tries again.

:class:`AlertOnRun` is the ``SyncObserver`` that judges each finished run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from returns.io import IOResult
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.application.alert_rules import (
    AlertPolicy,
    Condition,
    Verdict,
    judge_freshness,
    judge_run,
    newest_committed,
)
from gruponos.application.ports import Clock, RunHistory, StateStore, SyncEvent
from gruponos.domain.errors import DomainError
from gruponos.domain.runs import SyncReport


@dataclass(frozen=True, slots=True)
class AlertError(DomainError):
    """A channel or the ledger failed (no secret in it: never a URL's token or a password)."""


@dataclass(frozen=True, slots=True)
class Notice:
    """One message to a channel: a condition that started to hold, or cleared."""

    condition: Condition
    state: Literal["firing", "resolved"]
    at: datetime
    run_id: str | None = None

    @property
    def title(self) -> str:
        word = "FIRING" if self.state == "firing" else "RESOLVED"
        return f"[gruponos {word}] {self.condition.rule} {self.condition.key}"


class AlertChannel(Protocol):
    """Where notices go (a webhook, e-mail)."""

    name: str

    def send(self, notice: Notice) -> IOResult[None, AlertError]: ...


class AlertLedger(Protocol):
    """The conditions active now, by key; kept between processes."""

    def active(self) -> IOResult[dict[str, Condition], AlertError]: ...

    def save(self, active: Mapping[str, Condition]) -> IOResult[None, AlertError]: ...


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one judgement sent, and the channels' failures (one line each)."""

    sent: tuple[Notice, ...] = ()
    failures: tuple[str, ...] = ()


class Alerting:
    """Sends a verdict's new and cleared conditions through the channels, once each."""

    def __init__(
        self,
        channels: Sequence[AlertChannel],
        ledger: AlertLedger,
        clock: Clock,
        *,
        retries: int = 3,
        backoff: float = 1.0,
    ) -> None:
        self._channels = tuple(channels)
        self._ledger = ledger
        self._clock = clock
        self._retries = retries
        self._backoff = backoff

    def settle(self, verdict: Verdict, run_id: str | None = None) -> Delivery:
        loaded = self._ledger.active()
        if not is_successful(loaded):
            return Delivery(failures=(str(unsafe_perform_io(loaded.failure())),))
        active = unsafe_perform_io(loaded.unwrap())
        now = self._clock.now()
        notices = [Notice(c, "firing", now, run_id) for c in verdict.holding if c.key not in active]
        notices += [
            Notice(active[key], "resolved", now, run_id)
            for key in sorted(verdict.cleared & active.keys())
        ]
        if not notices:
            return Delivery()
        sent: list[Notice] = []
        failures: list[str] = []
        for notice in notices:
            delivered = False
            for channel in self._channels:
                error = self._send(channel, notice)
                if error is None:
                    delivered = True
                else:
                    failures.append(f"{channel.name}: {error.message} [{error.code}]")
            if delivered:
                sent.append(notice)
        for notice in sent:
            if notice.state == "firing":
                active[notice.condition.key] = notice.condition
            else:
                active.pop(notice.condition.key, None)
        if sent:
            saved = self._ledger.save(active)
            if not is_successful(saved):
                failures.append(str(unsafe_perform_io(saved.failure())))
        return Delivery(tuple(sent), tuple(failures))

    def _send(self, channel: AlertChannel, notice: Notice) -> AlertError | None:
        """Send with retries; the last error when every attempt failed."""
        error: AlertError | None = None
        for attempt in range(self._retries + 1):
            if attempt:
                self._clock.sleep(self._backoff * 2 ** (attempt - 1))
            result = channel.send(notice)
            if is_successful(result):
                return None
            error = unsafe_perform_io(result.failure())
        return error


class AlertOnRun:
    """Implements ``SyncObserver``: judges each finished run (with the pipeline's earlier runs
    and the checkpoints' freshness) and settles the verdict through :class:`Alerting`.

    ``report`` lines (delivery failures) go to ``on_problem``; nothing here raises into the
    run.
    """

    def __init__(
        self,
        alerting: Alerting,
        history: RunHistory,
        state: StateStore,
        clock: Clock,
        policy: AlertPolicy,
        pipelines: Mapping[str, str],
        on_problem: Callable[[str], None] = lambda _line: None,
        history_limit: int = 50,
    ) -> None:
        self._alerting = alerting
        self._history = history
        self._state = state
        self._clock = clock
        self._policy = policy
        self._pipelines = dict(pipelines)
        self._on_problem = on_problem
        self._limit = history_limit
        self.last: Delivery = Delivery()

    def on_event(self, event: SyncEvent) -> None:
        if event.kind != "run_finished" or event.data.get("dry_run"):
            return
        runs = self._history.list_runs(self._limit)
        if not is_successful(runs):
            self._on_problem(f"alerts: run history unreadable: {unsafe_perform_io(runs.failure())}")
            return
        reports = unsafe_perform_io(runs.unwrap())
        report = next((r for r in reports if r.run_id == event.run_id), None)
        if report is None:
            return
        self.last = self.settle(report, reports)
        for line in self.last.failures:
            self._on_problem(f"alerts: {line}")

    def settle_verdict(self, verdict: Verdict) -> Delivery:
        """Send what ``verdict`` (the checks', say) starts or clears."""
        self.last = self._alerting.settle(verdict)
        for line in self.last.failures:
            self._on_problem(f"alerts: {line}")
        return self.last

    def settle(self, report: SyncReport, reports: Sequence[SyncReport]) -> Delivery:
        """Judge ``report`` among ``reports`` (the history, newest first) and send."""
        pipeline = self._pipelines.get(report.mode.value, report.mode.value)
        earlier = [
            r
            for r in reports
            if r.mode is report.mode
            and r.run_id != report.run_id
            and r.started_at <= report.started_at
        ]
        verdict = judge_run(report, pipeline, earlier, self._policy)
        verdict = verdict.plus(self._freshness(report))
        return self._alerting.settle(verdict, report.run_id)

    def _freshness(self, report: SyncReport) -> Verdict:
        stored = self._state.all()
        if not is_successful(stored):
            return Verdict()
        checkpoints = unsafe_perform_io(stored.unwrap())
        pipeline = self._pipelines.get(report.mode.value, report.mode.value)
        # The run's pipeline only: an entity it never committed is stale from the start.
        newest: dict[tuple[str, str], datetime | None] = {
            (pipeline, e.entity): None for e in report.entities if not e.status.stopped
        }
        for key, checkpoint in checkpoints.items():
            if (key.pipeline, key.entity) in newest:
                newest[key.pipeline, key.entity] = newest_committed(checkpoint)
        return judge_freshness(newest, self._clock.now(), self._policy)
