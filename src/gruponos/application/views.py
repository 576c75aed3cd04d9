"""The analyst's views (``gruponos views``): create from the WMS's describe, or drop.

Creating starts from the WMS's describe, as ``gruponos tables create`` does: the table is prepared
(created, or its new columns added) and its view ``<table>_V`` re-created over it, so the view has
every column the WMS describes today.
"""

from __future__ import annotations

from dataclasses import dataclass

from returns.io import IOResult

from gruponos.application.ports import SinkViews, WmsSource
from gruponos.domain.errors import DomainError
from gruponos.domain.schema import EntitySchema


@dataclass(frozen=True, slots=True)
class ViewChange:
    """A view as the CLI reports it: its name and what happened to it."""

    entity: str
    view: str
    outcome: str  # "created", "dropped" or "absent"


class ViewAdmin:
    """Creates and drops the entity views from what the WMS describes."""

    def __init__(self, source: WmsSource, views: SinkViews) -> None:
        self._source = source
        self._views = views

    def create(self, entity: str) -> IOResult[ViewChange, DomainError]:
        described: IOResult[EntitySchema, DomainError] = self._source.describe(entity)
        return described.bind(
            lambda schema: self._views.create_view(schema).map(
                lambda view: ViewChange(entity, view, "created")
            )
        )

    def drop(self, entity: str) -> IOResult[ViewChange, DomainError]:
        dropped: IOResult[tuple[str, bool], DomainError] = self._views.drop_view(entity)
        return dropped.map(
            lambda found: ViewChange(entity, found[0], "dropped" if found[1] else "absent")
        )
