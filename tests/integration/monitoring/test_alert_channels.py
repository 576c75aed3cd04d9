"""The built-in alert channels against a local HTTP receiver and a local SMTP server, driven by
real sync runs (in-memory ports): one notice per condition while it holds, one resolution when
it clears, retries with backoff, and a dead channel never fails the run."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from returns.pipeline import is_successful

from gruponos.adapters.alerts import JsonFileLedger, SmtpChannel, WebhookChannel
from gruponos.adapters.logs import FanOutObserver
from gruponos.adapters.memory import InMemoryRunHistory, InMemoryWms
from gruponos.application.alert_rules import AlertPolicy
from gruponos.application.alerting import AlertChannel, Alerting, AlertOnRun
from gruponos.application.sync import SyncOptions
from gruponos.domain.checkpoints import SyncMode
from support.fakes import World, world
from support.records import allocation, allocation_schema

from .conftest import SMTP_PASSWORD, SMTP_USER, Mailbox, Receiver, free_port

# Freshness is judged against the fake clock; without SLAs it stays quiet
# here (the dead-channel test sets one).
POLICY = AlertPolicy(freshness={})


def _world() -> World:
    wms = InMemoryWms({"allocation": allocation_schema()}, page_size=5)
    for i in range(1, 11):
        wms.insert(
            "allocation", i, **{k: v for k, v in allocation(i).items() if k not in ("id", "mod_ts")}
        )
    return world(wms)


def _alerted(
    w: World, channels: list[AlertChannel], ledger: Path, policy: AlertPolicy = POLICY
) -> AlertOnRun:
    alerting = Alerting(channels, JsonFileLedger(ledger), w.clock, retries=2, backoff=1.0)
    on_run = AlertOnRun(
        alerting,
        InMemoryRunHistory(w.db),
        w.state,
        w.clock,
        policy,
        {"full": "full", "incremental": "incremental"},
    )
    w.observer = FanOutObserver(w.observer, on_run)  # type: ignore[assignment]
    return on_run


def _sync(w: World, *, fail: bool) -> bool:
    w.wms.fail_at_page = w.wms.pages_served + 1 if fail else None
    result = w.use_case(SyncOptions(batch_size=7)).run(SyncMode.FULL, ["allocation"])
    return is_successful(result)


def _smtp(box: Mailbox) -> SmtpChannel:
    return SmtpChannel(
        "127.0.0.1",
        box.port,
        "gruponos@test",
        ("ops@test",),
        starttls=False,
        username=SMTP_USER,
        password=SMTP_PASSWORD,
    )


def test_one_alert_per_condition_and_a_resolution_on_both_channels(
    receiver: Receiver, mailbox: Mailbox, tmp_path: Path
) -> None:
    w = _world()
    _alerted(w, [WebhookChannel(receiver.url), _smtp(mailbox)], tmp_path / "alerts.json")
    assert not _sync(w, fail=True)
    assert not _sync(w, fail=True)  # still failing: no second alert
    firing = [(b["status"], b["key"]) for b in receiver.bodies]
    assert firing == [("firing", "run_failed/full/allocation")]
    assert [m["Subject"] for m in mailbox.mails] == [
        "[gruponos FIRING] run_failed run_failed/full/allocation"
    ]
    assert mailbox.logins == [SMTP_USER]
    assert _sync(w, fail=False)
    assert _sync(w, fail=False)  # clear and staying clear: one resolution only
    assert [(b["status"], b["key"]) for b in receiver.bodies] == [
        ("firing", "run_failed/full/allocation"),
        ("resolved", "run_failed/full/allocation"),
    ]
    assert [m["Subject"].split("]")[0] for m in mailbox.mails] == [
        "[gruponos FIRING",
        "[gruponos RESOLVED",
    ]


def test_n_consecutive_failures_is_its_own_condition(receiver: Receiver, tmp_path: Path) -> None:
    w = _world()
    _alerted(w, [WebhookChannel(receiver.url)], tmp_path / "alerts.json")
    for _ in range(4):
        _sync(w, fail=True)
    keys = [b["key"] for b in receiver.bodies if b["status"] == "firing"]
    assert keys == ["run_failed/full/allocation", "consecutive_failures/full/allocation"]


def test_a_receiver_failing_first_gets_the_notice_after_backoff(
    receiver: Receiver, tmp_path: Path
) -> None:
    receiver.refuse = 2
    w = _world()
    _alerted(w, [WebhookChannel(receiver.url)], tmp_path / "alerts.json")
    _sync(w, fail=True)
    assert receiver.requests == 3
    assert [b["status"] for b in receiver.bodies] == ["firing"]
    assert w.clock.slept[-2:] == [1.0, 2.0]


def test_a_refusal_is_not_retried(receiver: Receiver, tmp_path: Path) -> None:
    receiver.refuse, receiver.refusal = 5, 404
    w = _world()
    on_run = _alerted(w, [WebhookChannel(receiver.url)], tmp_path / "alerts.json")
    _sync(w, fail=True)
    assert receiver.requests == 1  # a 404 will not get better by asking again
    assert on_run.last.failures == ("webhook: webhook answered HTTP 404 [alerts.webhook_refused]",)


def test_a_dead_channel_never_fails_the_run_and_the_condition_is_tried_again(
    receiver: Receiver, tmp_path: Path
) -> None:
    w = _world()
    w.clock.advance(10 * 365 * 86400)  # every record is years old: freshness holds
    stale = AlertPolicy(freshness={"full": timedelta(hours=1)})
    dead = WebhookChannel(f"http://127.0.0.1:{free_port()}/hook/SECRET-token", timeout=2)
    on_run = _alerted(w, [dead], tmp_path / "alerts.json", stale)
    assert _sync(w, fail=False)  # the run succeeds although its alert could not go out
    assert on_run.last.sent == ()
    assert len(on_run.last.failures) == 1
    assert "webhook" in on_run.last.failures[0] and "SECRET" not in on_run.last.failures[0]
    assert w.clock.slept[-2:] == [1.0, 2.0]  # it was retried first
    # undelivered, so not marked active: a working channel gets it at the next judgement
    working = _alerted(w, [WebhookChannel(receiver.url)], tmp_path / "alerts.json", stale)
    assert _sync(w, fail=False)
    assert [b["key"] for b in receiver.bodies] == ["freshness/full/allocation"]
    assert working.last.failures == ()


def test_slack_and_teams_payloads(receiver: Receiver, tmp_path: Path) -> None:
    w = _world()
    _alerted(
        w,
        [WebhookChannel(receiver.url, "slack"), WebhookChannel(receiver.url, "teams")],
        tmp_path / "alerts.json",
    )
    _sync(w, fail=True)
    slack, teams = receiver.bodies
    assert slack["text"].startswith("[gruponos FIRING] run_failed")
    assert teams["@type"] == "MessageCard" and teams["themeColor"] == "d63333"
