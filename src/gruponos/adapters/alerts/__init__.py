"""Built-in alert channels (webhook, e-mail) and where active alerts are kept."""

from __future__ import annotations

from gruponos.adapters.alerts.ledger import JsonFileLedger
from gruponos.adapters.alerts.smtp import SmtpChannel
from gruponos.adapters.alerts.webhook import WebhookChannel, payload

__all__ = ["JsonFileLedger", "SmtpChannel", "WebhookChannel", "payload"]
