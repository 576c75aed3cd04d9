"""Referential consistency between entities: reported, never used to drop data."""

from __future__ import annotations

from collections.abc import Iterable

from gruponos.domain.records import NormalizedRecord


def missing_references(
    children: Iterable[NormalizedRecord], column: str, known_parents: frozenset[int]
) -> frozenset[int]:
    """Ids of ``children`` whose ``column`` names a parent id not in ``known_parents``.

    A null reference is not a missing one (optional relations are null by design).

    >>> from datetime import datetime, UTC
    >>> rec = NormalizedRecord(7, datetime(2020, 1, 1, tzinfo=UTC), {"ORDER_ID": 3})
    >>> sorted(missing_references([rec], "ORDER_ID", frozenset({1, 2})))
    [7]
    """
    return frozenset(
        child.id
        for child in children
        if isinstance(parent := child.values.get(column), int) and parent not in known_parents
    )
