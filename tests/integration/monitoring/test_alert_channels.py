"""The built-in alert channels against a local HTTP receiver and a local SMTP server, driven by
real sync runs (in-memory ports): one notice per condition while it holds, one resolution when
it clears, retries with backoff, and a dead channel never fails the run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made here (no network, no openssl binary)."""
    import datetime as dt  # noqa: PLC0415
    import ipaddress  # noqa: PLC0415

    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "smtp.crt", tmp_path / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_smtp_with_starttls_verifies_the_server_and_logs_in_over_tls(tmp_path: Path) -> None:
    import ssl  # noqa: PLC0415

    from aiosmtpd.controller import Controller  # noqa: PLC0415
    from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: PLC0415

    from gruponos.application.alert_rules import Condition  # noqa: PLC0415
    from gruponos.application.alerting import Notice  # noqa: PLC0415

    from .conftest import _Handler  # noqa: PLC0415

    cert, key = _self_signed(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    box = Mailbox(free_port())

    def authenticate(*args: Any) -> AuthResult:
        data = args[-1]
        ok = isinstance(data, LoginPassword) and data.password == SMTP_PASSWORD.encode()
        return AuthResult(success=ok)

    controller = Controller(
        _Handler(box),
        hostname="127.0.0.1",
        port=box.port,
        tls_context=server_tls,
        require_starttls=True,  # nothing before STARTTLS, login only over TLS
        auth_require_tls=True,
        authenticator=authenticate,
    )
    controller.start()
    try:
        trusted = ssl.create_default_context(cafile=str(cert))
        condition = Condition("run_failed", "full", "allocation", "a run failed")
        notice = Notice(condition, "firing", datetime.now(UTC), "run-1")
        channel = SmtpChannel(
            "127.0.0.1",
            box.port,
            "gruponos@test",
            ("ops@test",),
            username=SMTP_USER,
            password=SMTP_PASSWORD,
            tls_context=trusted,
        )
        sent = channel.send(notice)
        assert is_successful(sent), sent
        assert [m["Subject"] for m in box.mails] == [
            "[gruponos FIRING] run_failed run_failed/full/allocation"
        ]
        # a server whose certificate is not trusted is refused, and nothing is sent
        untrusting = SmtpChannel(
            "127.0.0.1", box.port, "gruponos@test", ("ops@test",),
            username=SMTP_USER, password=SMTP_PASSWORD,
        )  # fmt: skip
        refused = untrusting.send(notice)
        assert not is_successful(refused)
        assert SMTP_PASSWORD not in str(refused)
        assert len(box.mails) == 1
    finally:
        controller.stop()
