"""Verify: the WMS against the loaded tables, per entity.

The WMS describes the entity first (an entity it does not know is an error, not an empty "ok"),
then every id and ``mod_ts`` is read from the WMS (a full read window; the source is best asked
for ``fields=id,mod_ts`` only) and every live row from the sink, and the two are compared: counts,
ids missing from the sink, extra ids in the sink (deleted in the WMS; a full sync soft-deletes
them), rows whose ``mod_ts`` differs, newest ``mod_ts`` on each side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from returns.io import IOResult

from gruponos.application.errors import WmsError
from gruponos.application.ports import Page, RecordSink, WmsSource
from gruponos.application.railway import fold_pages
from gruponos.domain.checkpoints import FullWindow
from gruponos.domain.errors import DomainError


@dataclass(frozen=True, slots=True)
class EntityDiff:
    """How one entity's table differs from the WMS."""

    entity: str
    source_count: int
    target_count: int
    missing: tuple[int, ...]  # in the WMS, not in the target
    extra: tuple[int, ...]  # in the target, not in the WMS
    changed: tuple[int, ...]  # in both, different mod_ts
    source_newest: datetime | None
    target_newest: datetime | None

    @property
    def clean(self) -> bool:
        return not (self.missing or self.extra or self.changed)

    def to_json(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "clean": self.clean,
            "source_count": self.source_count,
            "target_count": self.target_count,
            "missing": list(self.missing),
            "extra": list(self.extra),
            "changed": list(self.changed),
            "source_newest_mod_ts": iso(self.source_newest),
            "target_newest_mod_ts": iso(self.target_newest),
        }


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _instant(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def compare(
    entity: str, source: Mapping[int, datetime | None], target: Mapping[int, datetime]
) -> EntityDiff:
    """The difference between the WMS's ``id -> mod_ts`` (None: unreadable) and the sink's."""
    both = source.keys() & target.keys()
    source_times = [t for t in source.values() if t is not None]
    return EntityDiff(
        entity=entity,
        source_count=len(source),
        target_count=len(target),
        missing=tuple(sorted(source.keys() - target.keys())),
        extra=tuple(sorted(target.keys() - source.keys())),
        changed=tuple(sorted(i for i in both if source[i] != target[i])),
        source_newest=max(source_times, default=None),
        target_newest=max(target.values(), default=None),
    )


def _add_ids(found: dict[int, datetime | None], page: Page) -> dict[int, datetime | None]:
    for raw in page.records:
        found[int(raw["id"])] = _instant(raw.get("mod_ts"))
    return found


def source_ids(source: WmsSource, entity: str) -> IOResult[dict[int, datetime | None], WmsError]:
    """Every id of ``entity`` in the WMS with its ``mod_ts`` (None when unreadable)."""
    return fold_pages(source.read(entity, FullWindow()), {}, _add_ids)


class VerifyEntities:
    """Compares an entity's table with the WMS (``gruponos verify``)."""

    def __init__(self, source: WmsSource, sink: RecordSink) -> None:
        self._source = source
        self._sink = sink

    def entity(self, entity: str) -> IOResult[EntityDiff, DomainError]:
        """One entity: describe (the list of an unknown entity would just be empty), read, compare."""
        read: IOResult[dict[int, datetime | None], DomainError] = self._source.describe(
            entity
        ).bind(lambda _: source_ids(self._source, entity))
        return read.bind(
            lambda wms: self._sink.snapshot(entity).map(lambda loaded: compare(entity, wms, loaded))
        )
