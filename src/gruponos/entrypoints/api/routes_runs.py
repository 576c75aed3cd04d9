"""``/api/v1/pipelines`` and ``/api/v1/runs``: start, list, show and cancel runs."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.application.ports import RunHistory, RunQuery
from gruponos.domain.checkpoints import SyncMode
from gruponos.domain.runs import RunStatus, SyncReport
from gruponos.domain.schedule import next_run
from gruponos.entrypoints.api.auth import Principal
from gruponos.entrypoints.api.deps import ApiContext, context, requires, unwrapped
from gruponos.entrypoints.api.models import (
    CancelAccepted,
    LastRun,
    Pipeline,
    PipelineOut,
    RunAccepted,
    RunCreate,
    RunOut,
    RunPage,
)
from gruponos.entrypoints.api.problems import PROBLEM_RESPONSES, ProblemError

router = APIRouter(prefix="/api/v1", responses=PROBLEM_RESPONSES)

Context = Annotated[ApiContext, Depends(context)]
Viewer = Annotated[Principal, Depends(requires("viewer"))]
Operator = Annotated[Principal, Depends(requires("operator", mutating=True))]

#: Refusals that are the service's state, not the request's: 503 (else 409).
_UNAVAILABLE = frozenset({"run.executor_full", "run.history_failed"})
_STATUSES = tuple(s.value for s in RunStatus)


def last_run(report: SyncReport | None) -> LastRun | None:
    if report is None:
        return None
    return LastRun(
        run_id=report.run_id,
        status=report.status.value,
        started_at=report.started_at.isoformat(),
        finished_at=report.finished_at.isoformat() if report.finished_at else None,
    )


@router.get("/pipelines", summary="The two pipelines, their schedules, last and next run")
def list_pipelines(ctx: Context, _: Viewer) -> list[PipelineOut]:
    api, sync = ctx.settings.api, ctx.settings.sync
    now = datetime.now(UTC)
    out = []
    for mode, state_key, schedule in (
        (SyncMode.FULL, sync.full_pipeline, api.full_schedule),
        (SyncMode.INCREMENTAL, sync.incremental_pipeline, api.incremental_schedule),
    ):
        newest = unwrapped(ctx.container.runs().find_runs(RunQuery(limit=1, mode=mode)))
        upcoming = next_run(schedule, now) if schedule else None
        out.append(
            PipelineOut(
                name=mode.value,
                state_key=state_key,
                schedule=schedule,
                last_run=last_run(newest[0] if newest else None),
                next_run=upcoming.isoformat() if upcoming else None,
            )
        )
    return out


@router.post(
    "/runs",
    status_code=202,
    summary="Start a run (queued at once; poll its Location)",
)
def start_run(
    body: RunCreate,
    request: Request,
    response: Response,
    ctx: Context,
    principal: Operator,
    idempotency_key: Annotated[
        str | None, Header(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")
    ] = None,
) -> RunAccepted:
    configured = ctx.settings.entities
    entities = tuple(dict.fromkeys(body.entities)) if body.entities else configured
    unknown = [name for name in entities if name not in configured]
    if unknown:
        raise ProblemError(
            422,
            f"not configured entities: {', '.join(repr(n[:64]) for n in unknown[:5])}",
            "run.unknown_entity",
        )
    result = ctx.runs.start(
        SyncMode(body.pipeline),
        entities,
        dry_run=body.dry_run,
        triggered_by=principal.subject,
        idempotency_key=idempotency_key,
    )
    refused = result.swap().map(lambda error: error.code)
    busy = is_successful(refused) and unsafe_perform_io(refused.unwrap()) in _UNAVAILABLE
    started = unwrapped(result, status=503 if busy else 409)
    run_id = started.request.run_id
    request.state.run_id = run_id
    location = f"/api/v1/runs/{run_id}"
    response.headers["Location"] = location
    return RunAccepted(
        run_id=run_id, status="queued", location=location, replayed=not started.created
    )


def _cursor(report: SyncReport) -> str:
    text = json.dumps([report.started_at.isoformat(), report.run_id])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _after(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        started, run_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        moment = datetime.fromisoformat(started)
        if moment.tzinfo is None or not isinstance(run_id, str):
            raise ValueError("not a cursor")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ProblemError(
            400, "cursor is not one this API returned", "request.bad_cursor"
        ) from None
    return moment, run_id


@router.get("/runs", summary="Runs, newest first, with cursor pagination", response_model=RunPage)
def list_runs(
    ctx: Context,
    _: Viewer,
    pipeline: Pipeline | None = None,
    status: Annotated[RunStatus | None, Query(description="one of " + ", ".join(_STATUSES))] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> Response:
    query = RunQuery(
        limit=limit + 1,  # one more tells whether there is a next page
        mode=SyncMode(pipeline) if pipeline else None,
        status=status,
        after=_after(cursor) if cursor else None,
    )
    found = unwrapped(ctx.container.runs().find_runs(query))
    page = found[:limit]
    more = len(found) > limit
    # The reports are to_json() documents already: serialized as they are (RunOut documents
    # them), not validated a second time on the busiest route.
    body = {
        "items": [r.to_json() for r in page],
        "next_cursor": _cursor(page[-1]) if more and page else None,
    }
    return Response(orjson.dumps(body), media_type="application/json")


def _run(ctx: ApiContext, run_id: str) -> SyncReport:
    history: RunHistory = ctx.container.runs()
    report = unwrapped(history.get_run(run_id[:200]))
    if report is None:
        raise ProblemError(404, f"no run {run_id[:64]!r}", "run.not_found")
    return report


@router.get("/runs/{run_id}", summary="A run: status, per-entity counts, errors, data quality")
def show_run(run_id: str, ctx: Context, _: Viewer) -> RunOut:
    return RunOut.model_validate(_run(ctx, run_id).to_json())


@router.post(
    "/runs/{run_id}/cancel",
    status_code=202,
    summary="Cancel a run: the batch in flight commits, the run ends cancelled",
)
def cancel_run(run_id: str, request: Request, ctx: Context, principal: Operator) -> CancelAccepted:
    request.state.run_id = run_id[:200]
    _run(ctx, run_id)  # 404 first
    unwrapped(ctx.runs.cancel(run_id, f"cancelled over the API by {principal.subject}"), 409)
    return CancelAccepted(run_id=run_id)
