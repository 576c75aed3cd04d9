"""The API's request and response bodies (the OpenAPI schema is generated from these)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Pipeline = Literal["full", "incremental"]


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pipeline: Pipeline
    entities: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="configured entities to sync; default: all of them",
    )
    dry_run: bool = False


class RunAccepted(BaseModel):
    run_id: str
    status: str
    location: str
    replayed: bool = Field(description="an earlier request with this Idempotency-Key")


class RunOut(BaseModel):
    """A run's report, as ``gruponos runs show --json`` prints it."""

    run_id: str
    mode: str
    status: str
    started_at: str
    finished_at: str | None
    dry_run: bool
    triggered_by: str | None
    error: str | None
    checks: list[dict[str, Any]] | None = Field(
        default=None,
        description="the data-quality checks run after the run (check, entity, count, summary); "
        "null when they did not run",
    )
    totals: dict[str, int]
    entities: list[dict[str, Any]] = Field(
        description="per entity: status, counts, error, checkpoint, data_quality, warnings"
    )


class RunPage(BaseModel):
    items: list[RunOut]
    next_cursor: str | None = Field(description="pass as cursor= for the next page")


class CancelAccepted(BaseModel):
    run_id: str
    status: Literal["cancelling"] = "cancelling"


class LastRun(BaseModel):
    run_id: str
    status: str
    started_at: str
    finished_at: str | None


class PipelineOut(BaseModel):
    name: Pipeline
    state_key: str = Field(description="the pipeline's name in the state store")
    schedule: str | None = Field(description="cron, UTC; null when not scheduled")
    last_run: LastRun | None
    next_run: str | None


class EntityOut(BaseModel):
    entity: str
    table: str
    rows: int | None = Field(description="live (not soft-deleted) rows; null if unreadable")
    newest_mod_ts: str | None
    freshness_seconds: float | None = Field(description="now - newest_mod_ts")
    last_run: LastRun | None
    quarantined: int = Field(description="records in quarantine (counted up to 10000)")


class QuarantinedOut(BaseModel):
    seq: int
    entity: str
    record_id: Any
    kind: str
    reason: str
    run_id: str
    quarantined_at: str


class ReplayOut(BaseModel):
    entity: str
    dry_run: bool
    report: dict[str, Any]


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = False


class StateOut(BaseModel):
    pipeline: str
    entity: str
    checkpoint: dict[str, Any]


class Status(BaseModel):
    status: str
