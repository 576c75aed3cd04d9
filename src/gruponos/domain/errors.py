"""Typed domain errors: a stable ``code``, a human message and context, never a secret."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class DomainError:
    """Base of every error the pure core can return inside a ``Result``."""

    code: str
    message: str
    context: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        details = ", ".join(f"{key}={value}" for key, value in sorted(self.context.items()))
        return f"[{self.code}] {self.message}" + (f" ({details})" if details else "")


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One reason a record cannot be loaded as it is."""

    field: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class RecordRejected(DomainError):  # noqa: N818 - a value, not an exception
    """A record failed normalization or validation; it goes to quarantine with these problems."""

    problems: tuple[FieldProblem, ...] = ()

    @property
    def reason(self) -> str:
        """One line that names every problem, for the quarantine table and reports."""
        return "; ".join(f"{p.field}: {p.message}" for p in self.problems) or self.message


@dataclass(frozen=True, slots=True)
class SchemaError(DomainError):
    """An entity schema (from ``describe``) cannot be mapped to a table."""
