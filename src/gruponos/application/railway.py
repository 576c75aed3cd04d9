"""Small railway helpers for the use cases: sequences of results that stop at the first failure.

Nothing here unwraps a result: values are reached with ``map`` and ``bind`` only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from returns.io import IOResult, IOSuccess
from returns.pipeline import is_successful

from gruponos.application.errors import WmsError
from gruponos.application.ports import Page
from gruponos.domain.errors import DomainError

A = TypeVar("A")
T = TypeVar("T")
E = TypeVar("E", bound=DomainError)


def widened(result: IOResult[T, DomainError]) -> IOResult[T, DomainError]:
    """A port's result with its error seen as any ``DomainError``, to chain ports together."""
    return result


def each(items: Iterable[A], step: Callable[[A], IOResult[T, E]]) -> IOResult[tuple[T, ...], E]:
    """``step`` for every item in order; the first failure is the result (no step runs after
    it), else every value, in order."""
    done: list[T] = []
    for item in items:
        result = step(item)
        if not is_successful(result):
            return result.map(lambda _: ())
        result.map(done.append)
    return IOSuccess(tuple(done))


def fold_pages(
    pages: Iterable[IOResult[Page, WmsError]], initial: A, step: Callable[[A, Page], A]
) -> IOResult[A, WmsError]:
    """``step`` over every page in order; the first failed page is the result (no more pages are
    read after it)."""
    folded: IOResult[A, WmsError] = IOSuccess(initial)
    for page in pages:
        folded = folded.bind(_folding(page, step))
        if not is_successful(folded):
            break
    return folded


def _folding(
    page: IOResult[Page, WmsError], step: Callable[[A, Page], A]
) -> Callable[[A], IOResult[A, WmsError]]:
    return lambda acc: page.map(lambda got: step(acc, got))
