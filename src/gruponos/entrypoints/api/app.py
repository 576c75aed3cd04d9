"""The FastAPI application over a container: :func:`create_app`.

>>> # app = create_app(build_container(settings))   # then uvicorn.run(app)

The container is the hook for what else the service exposes: a block can add routes or
collectors to the app it returns (``app.state.gruponos.container`` holds it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from returns.pipeline import is_successful

from gruponos.__about__ import __version__
from gruponos.entrypoints.api import routes_data, routes_runs
from gruponos.entrypoints.api.auth import Authenticator
from gruponos.entrypoints.api.deps import ApiContext, authenticated, context
from gruponos.entrypoints.api.limits import AuditLog, BodyLimit, RateLimiter
from gruponos.entrypoints.api.models import Status
from gruponos.entrypoints.api.problems import HANDLERS, PROBLEM_RESPONSES, ProblemError

if TYPE_CHECKING:
    from gruponos.container import Container

Context = Annotated[ApiContext, Depends(context)]

_DESCRIPTION = """Start gruponos runs and watch them. Authenticate with a bearer JWT from
your OIDC provider or an `X-API-Key`. Roles: `viewer` reads, `operator` also starts and cancels
runs and replays quarantine, `admin` also resets state and reads the configuration. Errors are
RFC 9457 problem details (`application/problem+json`)."""


def create_app(container: Container, *, insecure_dev: bool = False) -> FastAPI:
    """The API over ``container`` (its settings, history, state and run service).

    ``insecure_dev`` lets every request in as ``admin`` without credentials: the serving
    command allows it only on a loopback address, and says so on every start.
    """
    settings = container.settings()
    api = settings.api

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        container.executor().close()  # runs stop as on SIGTERM: the batch in flight commits
        container.shutdown_resources()

    app = FastAPI(
        title="gruponos API",
        version=__version__,
        description=_DESCRIPTION,
        docs_url="/docs" if api.docs else None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.gruponos = ApiContext(
        container=container,
        settings=settings,
        authenticator=Authenticator(api, insecure_dev=insecure_dev),
        limiter=RateLimiter(api.mutations_per_minute),
        runs=container.run_service(),
    )
    for error, handler in HANDLERS.items():
        app.add_exception_handler(error, handler)
    app.add_middleware(AuditLog)
    app.add_middleware(BodyLimit)
    app.include_router(_ops)
    app.include_router(routes_runs.router)
    app.include_router(routes_data.router)
    return app


_ops = APIRouter(responses=PROBLEM_RESPONSES)


@_ops.get("/healthz", summary="Liveness: the process answers")
def healthz() -> Status:
    return Status(status="ok")


@_ops.get("/readyz", summary="Readiness: the sink and the state store answer (no details)")
def readyz(ctx: Context) -> Status:
    sink_ok = is_successful(ctx.container.sink().check())
    state_ok = is_successful(ctx.container.state().all())
    if not (sink_ok and state_ok):
        raise ProblemError(503, "not ready", "api.not_ready")
    return Status(status="ready")


@_ops.get(
    "/metrics",
    summary="Prometheus metrics (viewer and up unless api.metrics_public)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(request: Request, ctx: Context) -> Response:
    if not ctx.settings.api.metrics_public:
        principal = authenticated(request)
        if not principal.may("viewer"):
            raise ProblemError(403, "this needs the viewer role", "auth.forbidden")
    try:
        from gruponos.adapters.metrics import exposition  # noqa: PLC0415 - optional adapter
    except ImportError:
        raise ProblemError(
            503, "metrics are not available in this build", "metrics.missing"
        ) from None
    body, content_type = exposition()
    return Response(body, media_type=content_type)
