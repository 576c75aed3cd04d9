"""Monitoring settings: the metrics a run exports and the built-in alerts it sends.

``GRUPONOS_METRICS__...`` and ``GRUPONOS_ALERTS__...``. A webhook channel is on when
``GRUPONOS_ALERTS__WEBHOOK__URL`` is set, e-mail when ``GRUPONOS_ALERTS__SMTP__HOST`` is; the
webhook URL (it often carries a token) and the SMTP password are secrets, masked wherever shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricsSettings(_Section):
    """Prometheus metrics (``gruponos_*``)."""

    enabled: bool = Field(default=True, description="count run events into the metrics")
    pushgateway_url: str | None = Field(
        None,
        description="push a one-shot sync's final metrics to this Pushgateway (http://host:9091)",
    )
    pushgateway_job: str = Field(
        "gruponos",
        pattern=r"^[a-zA-Z_][a-zA-Z0-9_-]{0,63}$",
        description="the Pushgateway job; each pipeline is its own group within it",
    )
    textfile: Path | None = Field(
        None, description="write a one-shot sync's final metrics to this node-exporter .prom file"
    )

    @field_validator("pushgateway_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


class WebhookSettings(_Section):
    """A generic webhook (JSON), or Slack's or Teams' incoming-webhook payload."""

    url: SecretStr | None = Field(None, description="on when set; a secret (tokens live in it)")
    format: Literal["generic", "slack", "teams"] = Field(
        "generic", description="payload: generic JSON, Slack or Teams incoming webhook"
    )
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="per request")


class SmtpSettings(_Section):
    """E-mail through an SMTP server (STARTTLS and login when configured)."""

    host: str | None = Field(None, description="on when set")
    port: int = Field(587, ge=1, le=65535, description="SMTP port (587: submission)")
    starttls: bool = Field(default=True, description="upgrade to TLS before logging in")
    username: str | None = Field(None, description="login (with password) when set")
    password: SecretStr | None = Field(None, description="SMTP password (a secret)")
    sender: str = Field("gruponos@localhost", description="the From address")
    recipients: tuple[str, ...] = Field((), description="comma-separated addresses")
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="per connection")

    @field_validator("recipients", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


class AlertsSettings(_Section):
    """Built-in alert rules and channels, for teams without Prometheus."""

    state_path: Path = Field(
        Path("gruponos-alerts.json"),
        description="which alerts are active (one alert per condition until it clears)",
    )
    consecutive_failures: int = Field(3, ge=2, le=100, description="runs in a row that failed")
    freshness_incremental_seconds: float = Field(
        3 * 3600.0, gt=0, description="freshness SLA of the incremental pipeline"
    )
    freshness_full_seconds: float = Field(
        8 * 86400.0, gt=0, description="freshness SLA of the full pipeline"
    )
    quarantine_share: float = Field(
        0.01, ge=0, le=1, description="alert when a run quarantines more than this share"
    )
    duration_factor: float = Field(
        3.0, gt=1, description="alert when a run takes this many times its median duration"
    )
    retries: int = Field(3, ge=0, le=10, description="re-sends of a failed notice")
    backoff_seconds: float = Field(1.0, ge=0, le=300, description="first re-send delay, doubled")
    checks: bool = Field(default=False, description="run the data-quality checks after each sync")
    webhook: WebhookSettings = WebhookSettings()
    smtp: SmtpSettings = SmtpSettings()

    @property
    def channels_configured(self) -> bool:
        return self.webhook.url is not None or self.smtp.host is not None
