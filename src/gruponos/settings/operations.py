"""Settings of the operating surface: the run executor (in-process or Celery) and the scheduler.

``GRUPONOS_EXECUTOR__...`` and ``GRUPONOS_SCHEDULE__...``. The broker URL and the limiter URL may
carry a password: they are shown redacted wherever shown.
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gruponos.domain.schedule import schedule_fields

_BROKER_SCHEMES = ("redis://", "rediss://", "amqp://", "amqps://")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExecutorSettings(_Section):
    """Where runs execute: in the process that starts them, or on Celery workers."""

    kind: Literal["local", "celery"] = Field(
        "local", description="`local` (in-process) or `celery` (workers fed by a broker)"
    )
    broker_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="the Celery broker: `redis://host:port/db` (default) or `amqp://user@host:port/vhost`",
    )
    queue: str = Field(
        "gruponos",
        pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$",
        description="the Celery queue runs and windows are sent to",
    )
    request_cap: int = Field(
        8,
        ge=1,
        le=9,
        description="concurrent WMS requests at most across every worker (lgfapi allows fewer "
        "than 10 per user)",
    )
    limiter_url: str | None = Field(
        None,
        description="Redis holding the shared request cap; default: the broker when it is Redis, "
        "else the sink (PostgreSQL advisory locks)",
    )
    shared_request_cap: Literal["auto", "always", "never"] = Field(
        "auto",
        description="whether request_cap is applied across processes: `auto` (with the celery "
        "executor), `always` (local runs too, e.g. several cron jobs) or `never` (each process "
        "keeps only wms.max_concurrency)",
    )
    window_ids: int = Field(
        100_000,
        ge=1000,
        description="ids per window of a distributed full pass (one task each)",
    )
    lease_seconds: float = Field(
        300.0,
        ge=10,
        description="a window task's lease; renewed at every batch, taken over when it expires",
    )
    visibility_timeout_seconds: float = Field(
        7200.0,
        ge=60,
        description="Redis broker: a task not acknowledged in this time is redelivered (longer "
        "than the longest window)",
    )

    @field_validator("broker_url")
    @classmethod
    def _broker(cls, value: str) -> str:
        if not value.startswith(_BROKER_SCHEMES):
            raise ValueError("must be a redis://, rediss://, amqp:// or amqps:// URL")
        return value

    @field_validator("limiter_url")
    @classmethod
    def _limiter(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://")):
            raise ValueError("must be a redis:// or rediss:// URL")
        return value


class ScheduleSettings(_Section):
    """``gruponos scheduler``: when the two pipelines run (cron expressions, docs/scheduler.md)."""

    full: str = Field(
        "0 2 * * 0",
        description="cron of the full pipeline (default: Sunday 02:00); five fields, weekdays "
        "0-6 from Sunday, or six with the seconds first (tests, demos)",
    )
    incremental: str = Field(
        "0 */2 * * *",
        description="cron of the incremental pipeline (default: every 2 hours); same form",
    )
    timezone: str = Field("UTC", description="IANA time zone the cron expressions are read in")
    catch_up: bool = Field(
        default=True,
        description="on start, run at once a pipeline whose last success is older than its period",
    )
    misfire_grace_seconds: int = Field(
        3600, ge=1, description="a fire missed by less than this still runs (misfires coalesce)"
    )
    health_port: int = Field(
        9465, ge=0, le=65535, description="port of the scheduler's /healthz and /metrics (0: off)"
    )
    health_host: str = Field("127.0.0.1", description="address of /healthz and /metrics")

    @field_validator("full", "incremental")
    @classmethod
    def _cron(cls, value: str) -> str:
        schedule_fields(value)  # its ValueError says what is wrong
        return " ".join(value.split())

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError("must be an IANA time zone, e.g. America/Mexico_City")
        return value
