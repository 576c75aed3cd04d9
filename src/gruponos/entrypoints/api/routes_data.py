"""``/api/v1/entities`` (freshness, quarantine, replay), ``/api/v1/state``, ``/api/v1/config``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from returns.io import IOResult
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.application.ports import (
    QuarantineStore,
    RecordSink,
    RunHistory,
    RunQuery,
    SinkTables,
    StateStore,
)
from gruponos.domain.checkpoints import StateKey
from gruponos.domain.naming import is_entity_name
from gruponos.entrypoints.api.auth import Principal
from gruponos.entrypoints.api.deps import ApiContext, context, requires, unwrapped
from gruponos.entrypoints.api.models import (
    EntityOut,
    QuarantinedOut,
    ReplayOut,
    ReplayRequest,
    StateOut,
)
from gruponos.entrypoints.api.problems import PROBLEM_RESPONSES, ProblemError
from gruponos.entrypoints.api.routes_runs import last_run
from gruponos.entrypoints.results import replay_reports

router = APIRouter(prefix="/api/v1", responses=PROBLEM_RESPONSES)

Context = Annotated[ApiContext, Depends(context)]
Viewer = Annotated[Principal, Depends(requires("viewer"))]
Operator = Annotated[Principal, Depends(requires("operator", mutating=True))]
Admin = Annotated[Principal, Depends(requires("admin"))]
AdminChange = Annotated[Principal, Depends(requires("admin", mutating=True))]

#: How many quarantined records an entity's row counts at most.
QUARANTINE_COUNTED = 10_000
#: How many recent runs are searched for an entity's last run.
RECENT_RUNS = 50


def _entity(ctx: ApiContext, name: str) -> str:
    if name not in ctx.settings.entities:
        raise ProblemError(404, f"{name[:64]!r} is not a configured entity", "entity.unknown")
    return name


def _value(result: IOResult[Any, Any]) -> Any:
    return unsafe_perform_io(result.unwrap()) if is_successful(result) else None


@router.get("/entities", summary="Per entity: rows, newest mod_ts, freshness, last run, quarantine")
def list_entities(ctx: Context, _: Viewer) -> list[EntityOut]:
    sink: RecordSink = ctx.container.sink()
    history: RunHistory = ctx.container.runs()
    quarantine: QuarantineStore = ctx.container.quarantine()
    tables: SinkTables = ctx.container.sink()
    recent = unwrapped(history.find_runs(RunQuery(limit=RECENT_RUNS)))
    now = datetime.now(UTC)
    out = []
    for entity in ctx.settings.entities:
        snapshot: dict[int, datetime] | None = _value(sink.snapshot(entity))
        newest = max(snapshot.values()) if snapshot else None
        held = _value(quarantine.newest(entity, QUARANTINE_COUNTED)) or ()
        ran = next((r for r in recent if any(e.entity == entity for e in r.entities)), None)
        out.append(
            EntityOut(
                entity=entity,
                table=tables.table_name(entity),
                rows=None if snapshot is None else len(snapshot),
                newest_mod_ts=newest.isoformat() if newest else None,
                freshness_seconds=(now - newest).total_seconds() if newest else None,
                last_run=last_run(ran),
                quarantined=len(held),
            )
        )
    return out


@router.get("/entities/{name}/quarantine", summary="The newest quarantined records of an entity")
def list_quarantine(
    name: str,
    ctx: Context,
    _: Viewer,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[QuarantinedOut]:
    store: QuarantineStore = ctx.container.quarantine()
    found = unwrapped(store.newest(_entity(ctx, name), limit))
    return [QuarantinedOut.model_validate(record.to_json()) for record in found]


@router.post(
    "/entities/{name}/quarantine/replay",
    summary="Normalize the entity's quarantined records again and load those that pass",
)
def replay_quarantine(
    name: str, ctx: Context, _: Operator, body: ReplayRequest | None = None
) -> ReplayOut:
    from gruponos.container import StartupError, build_container  # noqa: PLC0415

    entity = _entity(ctx, name)
    dry_run = body.dry_run if body else False
    container = build_container(ctx.settings, dry_run=dry_run)
    try:
        result = container.replay().run([entity])
    except StartupError as exc:
        raise ProblemError(503, exc.error.message, exc.error.code) from None
    finally:
        container.shutdown_resources()
    reports, nothing_ran = replay_reports(result)
    if nothing_ran is not None:
        raise ProblemError(503, nothing_ran.message, nothing_ran.code)
    return ReplayOut(entity=entity, dry_run=dry_run, report=reports[0].to_json())


@router.get("/state", summary="Every checkpoint, per pipeline and entity")
def list_state(ctx: Context, _: Viewer) -> list[StateOut]:
    store: StateStore = ctx.container.state()
    found = unwrapped(store.all())
    return [
        StateOut(pipeline=key.pipeline, entity=key.entity, checkpoint=checkpoint.to_json())
        for key, checkpoint in sorted(found.items(), key=lambda kv: (kv[0].pipeline, kv[0].entity))
    ]


@router.delete(
    "/state/{pipeline}/{entity}",
    status_code=204,
    summary="Forget a checkpoint: the next run of that pipeline starts over",
    response_class=Response,
)
def reset_state(pipeline: str, entity: str, ctx: Context, _: AdminChange) -> Response:
    sync = ctx.settings.sync
    if pipeline not in (sync.full_pipeline, sync.incremental_pipeline):
        raise ProblemError(404, f"no pipeline {pipeline[:64]!r}", "state.unknown_pipeline")
    if not is_entity_name(entity):
        raise ProblemError(404, f"{entity[:64]!r} is not an entity name", "entity.unknown")
    store: StateStore = ctx.container.state()
    key = StateKey(pipeline, entity)
    lease = unwrapped(store.lock(key, "gruponos-api-reset"), status=409)
    try:
        unwrapped(store.reset(key))
    finally:
        lease.release()
    return Response(status_code=204)


@router.get("/config", summary="The effective configuration, secrets masked")
def show_config(ctx: Context, _: Admin) -> dict[str, Any]:
    from gruponos.settings import masked  # noqa: PLC0415

    shown: dict[str, Any] = masked(ctx.settings)
    return shown
