"""The webhook channel: a JSON POST, generic or in Slack's or Teams' incoming-webhook format.

The URL is a secret (Slack's and Teams' URLs carry their token in the path): no error, log line
or report ever shows it.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
from returns.io import IOFailure, IOResult, IOSuccess

from gruponos.adapters.alerts.errors import unresolvable
from gruponos.application.alerting import AlertError, Notice

WebhookFormat = Literal["generic", "slack", "teams"]

#: Colours of Slack attachments and Teams cards: firing red, warnings amber, resolved green.
_COLOURS = {"critical": "d63333", "warning": "e8a33d", "resolved": "2eb886"}


def payload(notice: Notice, fmt: WebhookFormat) -> dict[str, Any]:
    """The JSON body of ``notice`` in ``fmt``."""
    condition = notice.condition
    colour = _COLOURS["resolved" if notice.state == "resolved" else condition.severity]
    text = condition.summary if notice.state == "firing" else f"cleared: {condition.summary}"
    if fmt == "slack":
        return {
            "text": f"{notice.title}\n{text}",
            "attachments": [{"color": f"#{colour}", "text": text}],
        }
    if fmt == "teams":
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": notice.title,
            "themeColor": colour,
            "title": notice.title,
            "text": text,
        }
    return {
        "source": "gruponos",
        "status": notice.state,
        "key": condition.key,
        "rule": condition.rule,
        "pipeline": condition.pipeline,
        "entity": condition.entity,
        "severity": condition.severity,
        "summary": condition.summary,
        "at": notice.at.isoformat(),
        "run_id": notice.run_id,
    }


class WebhookChannel:
    """Implements ``AlertChannel``: POSTs each notice as JSON to ``url``.

    ``transport`` is for tests (``httpx.MockTransport``); TLS is verified.
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        fmt: WebhookFormat = "generic",
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url = url
        self._format: WebhookFormat = fmt
        self._timeout = timeout
        self._transport = transport

    def __repr__(self) -> str:  # never the URL: it holds the token
        return f"WebhookChannel(format={self._format!r})"

    def send(self, notice: Notice) -> IOResult[None, AlertError]:
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport) as client:
                response = client.post(self._url, json=payload(notice, self._format))
        except httpx.HTTPError as exc:
            return IOFailure(
                AlertError(
                    "alerts.webhook_unreachable",
                    f"webhook: {type(exc).__name__}",
                    {"retryable": not unresolvable(exc)},
                )
            )
        if not response.is_success:
            status = response.status_code
            return IOFailure(
                AlertError(
                    "alerts.webhook_refused",
                    f"webhook answered HTTP {status}",
                    # a refusal (400 bad payload, 403, 404 gone) stays one: no retry
                    {"status": status, "retryable": status >= 500 or status in (408, 429)},
                )
            )
        return IOSuccess(None)
