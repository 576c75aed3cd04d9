"""Errors that ports and use cases return inside ``IOResult``: stable codes, context, no secrets."""

from __future__ import annotations

from dataclasses import dataclass

from gruponos.domain.errors import DomainError


@dataclass(frozen=True, slots=True)
class WmsError(DomainError):
    """The WMS source failed: HTTP status, the WMS error's code and reference, URL without secrets."""

    status: int | None = None
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class SinkError(DomainError):
    """The record sink (database) failed."""


@dataclass(frozen=True, slots=True)
class StateError(DomainError):
    """The state store failed, or a lock is held by another run (code ``state.locked``)."""


@dataclass(frozen=True, slots=True)
class ConfigError(DomainError):
    """The configuration is invalid; ``context['fields']`` lists every bad field."""


@dataclass(frozen=True, slots=True)
class SyncError(DomainError):
    """A sync run failed; wraps the port error that stopped it (``context['cause']``)."""


PortError = WmsError | SinkError | StateError


class StartupError(Exception):
    """An adapter could not be built, so the process cannot start (a database that does not
    answer, an incomplete configuration). Raised by the factories the composition root uses;
    ``error`` is the typed error the entrypoint shows (one line, an exit code)."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(error.message)
        self.error = error
