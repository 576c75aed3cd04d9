"""Built-in alerting: conditions become notices on channels, once per condition.

:class:`Alerting` keeps the set of active conditions in an :class:`AlertLedger`: a condition that
starts to hold is sent as ``firing`` once; while it holds nothing more is sent; when a later
judgement finds it clear a ``resolved`` notice follows. Each notice goes to every channel with
retries and exponential backoff (through the clock); a channel that still fails is reported and
skipped: alerting never fails the run that triggered it. A failure the channel marks
``retryable: False`` (a name that does not resolve, a refusal) is not retried. A condition no
channel delivered stays inactive, so the next judgement tries again.

:class:`AlertOnRun` is the ``SyncObserver`` that judges each finished run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Literal, Protocol

from returns.io import IO, IOResult, IOSuccess
from returns.methods import unwrap_or_failure

from gruponos.application.alert_rules import (
    AlertPolicy,
    Condition,
    Verdict,
    judge_freshness,
    judge_run,
    newest_committed,
)
from gruponos.application.ports import Clock, RunHistory, StateStore, SyncEvent
from gruponos.domain.checkpoints import Checkpoint, StateKey
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


#: A notice and the lines of the channels that failed to deliver it.
Outcome = tuple[Notice, tuple[str, ...]]


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

    def settle(self, verdict: Verdict, run_id: str | None = None) -> IO[Delivery]:
        """Send what ``verdict`` starts or clears; what went wrong is in the delivery."""
        delivered = self._ledger.active().bind(partial(self._deliver, verdict, run_id))
        return unwrap_or_failure(delivered.alt(lambda error: Delivery(failures=(str(error),))))

    def _deliver(
        self, verdict: Verdict, run_id: str | None, active: dict[str, Condition]
    ) -> IOResult[Delivery, AlertError]:
        now = self._clock.now()
        notices = [Notice(c, "firing", now, run_id) for c in verdict.holding if c.key not in active]
        notices += [
            Notice(active[key], "resolved", now, run_id)
            for key in sorted(verdict.cleared & active.keys())
        ]
        outcomes: IO[tuple[Outcome, ...]] = IO(())
        for notice in notices:
            outcomes = outcomes.bind(partial(self._then_send, notice))
        return IOResult.from_io(outcomes).bind(partial(self._record, active))

    def _then_send(self, notice: Notice, done: tuple[Outcome, ...]) -> IO[tuple[Outcome, ...]]:
        return self._to_all(notice).map(lambda failed: (*done, (notice, failed)))

    def _record(
        self, active: dict[str, Condition], outcomes: tuple[Outcome, ...]
    ) -> IOResult[Delivery, AlertError]:
        """Mark what at least one channel delivered; keep the rest inactive (tried again)."""
        sent = tuple(n for n, failed in outcomes if len(failed) < len(self._channels))
        failures = tuple(line for _, failed in outcomes for line in failed)
        for notice in sent:
            if notice.state == "firing":
                active[notice.condition.key] = notice.condition
            else:
                active.pop(notice.condition.key, None)
        delivery = Delivery(sent, failures)
        if not sent:
            return IOSuccess(delivery)
        saved = self._ledger.save(active).map(lambda _: delivery)
        return saved.alt(lambda error: Delivery(sent, (*failures, str(error)))).lash(IOSuccess)

    def _to_all(self, notice: Notice) -> IO[tuple[str, ...]]:
        """Send to every channel; one line per channel that failed after its retries."""
        failed: IO[tuple[str, ...]] = IO(())
        for channel in self._channels:
            failed = failed.bind(partial(self._then_to, channel, notice))
        return failed

    def _then_to(
        self, channel: AlertChannel, notice: Notice, lines: tuple[str, ...]
    ) -> IO[tuple[str, ...]]:
        return self._send(channel, notice, 0).map(
            lambda error: lines if error is None else (*lines, _line(channel, error))
        )

    def _send(self, channel: AlertChannel, notice: Notice, attempt: int) -> IO[AlertError | None]:
        """Send with retries and backoff; the last error when every attempt failed."""
        if attempt:
            self._clock.sleep(self._backoff * 2 ** (attempt - 1))
        sent: IOResult[AlertError | None, AlertError | None] = channel.send(notice)
        outcome: IO[AlertError | None] = unwrap_or_failure(sent)
        return outcome.bind(
            lambda error: (
                self._send(channel, notice, attempt + 1)
                if error is not None
                and attempt < self._retries
                and error.context.get("retryable", True)
                else IO(error)
            )
        )


def _line(channel: AlertChannel, error: AlertError) -> str:
    return f"{channel.name}: {error.message} [{error.code}]"


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
        self._history.list_runs(self._limit).map(partial(self._judge_listed, event.run_id)).alt(
            lambda error: self._on_problem(f"alerts: run history unreadable: {error}")
        )

    def _judge_listed(self, run_id: str, reports: tuple[SyncReport, ...]) -> None:
        report = next((r for r in reports if r.run_id == run_id), None)
        if report is not None:
            self.settle(report, reports)

    def settle_verdict(self, verdict: Verdict) -> IO[Delivery]:
        """Send what ``verdict`` (the checks', say) starts or clears."""
        return self._alerting.settle(verdict).map(self._remember)

    def settle(self, report: SyncReport, reports: Sequence[SyncReport]) -> IO[Delivery]:
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
        return (
            self._freshness(report)
            .bind(lambda fresh: self._alerting.settle(verdict.plus(fresh), report.run_id))
            .map(self._remember)
        )

    def _remember(self, delivery: Delivery) -> Delivery:
        self.last = delivery
        for line in delivery.failures:
            self._on_problem(f"alerts: {line}")
        return delivery

    def _freshness(self, report: SyncReport) -> IO[Verdict]:
        pipeline = self._pipelines.get(report.mode.value, report.mode.value)
        now = self._clock.now()

        def judged(checkpoints: Mapping[StateKey, Checkpoint]) -> Verdict:
            # The run's pipeline only: an entity it never committed is stale from the start.
            newest: dict[tuple[str, str], datetime | None] = {
                (pipeline, e.entity): None for e in report.entities if not e.status.stopped
            }
            for key, checkpoint in checkpoints.items():
                if (key.pipeline, key.entity) in newest:
                    newest[key.pipeline, key.entity] = newest_committed(checkpoint)
            return judge_freshness(newest, now, self._policy)

        return self._state.all().map(judged).value_or(Verdict())
