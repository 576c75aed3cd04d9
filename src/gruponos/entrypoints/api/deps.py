"""What every route shares: the service's context, the caller, the role it needs, results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Depends, Request
from returns.io import IOResult
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.api_settings import Role
from gruponos.domain.errors import DomainError
from gruponos.entrypoints.api.auth import Authenticator, Principal
from gruponos.entrypoints.api.limits import RateLimiter
from gruponos.entrypoints.api.problems import ProblemError

if TYPE_CHECKING:
    from gruponos.application.runs import RunService
    from gruponos.container import Container
    from gruponos.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ApiContext:
    """The service's parts, built once by :func:`~gruponos.entrypoints.api.app.create_app`."""

    container: Container
    settings: Settings
    authenticator: Authenticator
    limiter: RateLimiter
    runs: RunService


def context(request: Request) -> ApiContext:
    found: ApiContext = request.app.state.gruponos
    return found


def authenticated(request: Request) -> Principal:
    principal = context(request).authenticator(request)
    request.state.principal = principal
    return principal


def requires(role: Role, *, mutating: bool = False) -> Callable[..., Principal]:
    """A dependency: the caller, holding ``role`` or a higher one (else 403); a mutating
    call also counts against the caller's rate limit (429)."""

    def dependency(
        request: Request, principal: Annotated[Principal, Depends(authenticated)]
    ) -> Principal:
        if not principal.may(role):
            raise ProblemError(
                403, f"this needs the {role} role; you are {principal.role}", "auth.forbidden"
            )
        if mutating:
            context(request).limiter.take(principal.subject)
        return principal

    return dependency


def unwrapped(result: IOResult[T, Any], status: int = 503) -> T:
    """The value, or a problem with the error's message and code (secrets redacted)."""
    if is_successful(result):
        value: T = unsafe_perform_io(result.unwrap())
        return value
    error = unsafe_perform_io(result.failure())
    if isinstance(error, DomainError):
        raise ProblemError(status, error.message, error.code)
    raise ProblemError(status, "failed", None)
