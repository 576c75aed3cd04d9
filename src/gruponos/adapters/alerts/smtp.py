"""The e-mail channel: SMTP with STARTTLS (certificate verified) and login when configured.

The password never reaches an error, a log line or a report.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from returns.io import IOFailure, IOResult, IOSuccess

from gruponos.adapters.alerts.errors import unresolvable
from gruponos.application.alerting import AlertError, Notice


def message(notice: Notice, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    """The e-mail of ``notice``: the title as subject, the summary and details as text."""
    condition = notice.condition
    mail = EmailMessage()
    mail["Subject"] = notice.title
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    lines = [
        condition.summary if notice.state == "firing" else f"cleared: {condition.summary}",
        "",
        f"rule: {condition.rule}",
        f"pipeline: {condition.pipeline or '-'}",
        f"entity: {condition.entity or '-'}",
        f"severity: {condition.severity}",
        f"at: {notice.at.isoformat()}",
        f"run: {notice.run_id or '-'}",
    ]
    mail.set_content("\n".join(lines) + "\n")
    return mail


class SmtpChannel:
    """Implements ``AlertChannel``: one e-mail per notice to ``recipients``."""

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: tuple[str, ...],
        *,
        starttls: bool = True,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._recipients = recipients
        self._starttls = starttls
        self._username = username
        self._password = password
        self._timeout = timeout
        self._tls = tls_context

    def __repr__(self) -> str:  # never the password
        return f"SmtpChannel(host={self._host!r}, port={self._port})"

    def send(self, notice: Notice) -> IOResult[None, AlertError]:
        where = {"server": f"{self._host}:{self._port}"}
        if not self._recipients:
            refused = {**where, "retryable": False}
            return IOFailure(
                AlertError("alerts.smtp_no_recipients", "smtp: no recipients", refused)
            )
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls(context=self._tls or ssl.create_default_context())
                if self._username is not None and self._password is not None:
                    smtp.login(self._username, self._password)
                smtp.send_message(message(notice, self._sender, self._recipients))
        except smtplib.SMTPAuthenticationError:
            refused = {**where, "retryable": False}
            return IOFailure(AlertError("alerts.smtp_auth", "smtp: login refused", refused))
        except (smtplib.SMTPException, OSError) as exc:
            context = {**where, "retryable": not unresolvable(exc)}
            return IOFailure(
                AlertError("alerts.smtp_failed", f"smtp: {type(exc).__name__}", context)
            )
        return IOSuccess(None)
