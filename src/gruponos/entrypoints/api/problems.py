"""Errors as RFC 9457 problem details (``application/problem+json``): never a stack trace,
never a secret (every text passes :func:`~gruponos.adapters.urls.redact`)."""

from __future__ import annotations

import traceback
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from gruponos.adapters.urls import redact

PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    503: "Unavailable",
}


class Problem(BaseModel):
    """RFC 9457 problem details; ``code`` is gruponos' stable error code."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    code: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="one entry per invalid field (422)"
    )


class ProblemError(Exception):
    """Raised by routes and dependencies; rendered by :func:`problem_response`."""

    def __init__(
        self,
        status: int,
        detail: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code
        self.headers = headers or {}


def problem_response(
    status: int,
    detail: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    problem = Problem(
        title=_TITLES.get(status, "Error"),
        status=status,
        detail=None if detail is None else redact(detail),
        code=code,
        errors=errors,
    )
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=status,
        headers=headers,
        media_type=PROBLEM_JSON,
    )


#: Documented on every route, so clients (and schemathesis) know the problem responses.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "model": Problem,
        "description": title,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status, title in _TITLES.items()
    if status not in (405,)
}


async def _on_problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)  # noqa: S101 - registered for ProblemError only
    return problem_response(exc.status, exc.detail, exc.code, exc.headers)


async def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for it only
    return problem_response(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))


async def _on_invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it only
    errors = [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in exc.errors()
    ]
    detail = "invalid request"
    if errors:
        detail = f"{'.'.join(errors[0]['loc'])}: {errors[0]['msg']}"
    return problem_response(422, detail, "request.invalid", errors=errors)


async def _on_bug(request: Request, exc: Exception) -> JSONResponse:
    import structlog  # noqa: PLC0415 - configured by the serving command

    # The trace goes to the service's log (plain text: fast), never into the response.
    trace = "".join(traceback.format_exception(exc))
    structlog.get_logger("gruponos.api").error(
        "api.internal_error", route=request.url.path, error=type(exc).__name__, trace=trace
    )
    return problem_response(500, "internal error: see the service's log", "api.internal")


HANDLERS = {
    ProblemError: _on_problem,
    StarletteHTTPException: _on_http,
    RequestValidationError: _on_invalid,
    Exception: _on_bug,
}
