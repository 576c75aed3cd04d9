"""Table administration (``gruponos tables``): create from the WMS's describe, drop, describe.

Every change starts from the WMS's describe, so an entity the WMS does not know neither creates
nor drops anything. Creating never drops: it adds the columns of new fields (the sink's
``prepare``); dropping removes the table and its history table with every loaded row.
"""

from __future__ import annotations

from dataclasses import dataclass

from returns.io import IOResult

from gruponos.application.ports import RecordSink, SinkTables, WmsSource
from gruponos.domain.errors import DomainError
from gruponos.domain.schema import EntitySchema


@dataclass(frozen=True, slots=True)
class TableDropped:
    table: str
    existed: bool
    schema: EntitySchema  # what the WMS described before the drop: create it again from this


@dataclass(frozen=True, slots=True)
class TableReady:
    table: str
    columns: tuple[tuple[str, str], ...]  # (column, SQL type), in table order


class TableAdmin:
    """Creates and drops entity tables from what the WMS describes."""

    def __init__(self, source: WmsSource, sink: RecordSink, tables: SinkTables) -> None:
        self._source = source
        self._sink = sink
        self._tables = tables

    def create(self, entity: str) -> IOResult[TableReady, DomainError]:
        """Create the entity's table from the WMS's describe, or add the columns of new fields."""
        described: IOResult[EntitySchema, DomainError] = self._source.describe(entity)
        return described.bind(self.create_from)

    def create_from(self, schema: EntitySchema) -> IOResult[TableReady, DomainError]:
        """Create the table of an already described entity (after :meth:`drop`)."""
        prepared: IOResult[None, DomainError] = self._sink.prepare(schema)
        return prepared.bind(lambda _: describe_table(self._tables, schema.entity))

    def drop(self, entity: str) -> IOResult[TableDropped, DomainError]:
        """Drop the entity's table once the WMS has described it (its rows are lost)."""
        described: IOResult[EntitySchema, DomainError] = self._source.describe(entity)
        return described.bind(
            lambda schema: self._tables.drop_table(entity).map(
                lambda existed: TableDropped(self._tables.table_name(entity), existed, schema)
            )
        )


def describe_table(tables: SinkTables, entity: str) -> IOResult[TableReady, DomainError]:
    """The entity's table as the database has it (no columns: the table does not exist)."""
    columns: IOResult[tuple[tuple[str, str], ...], DomainError] = tables.describe_table(entity)
    return columns.map(lambda found: TableReady(tables.table_name(entity), found))
