"""The SQL record sink: one transaction per batch, monotonic upserts, quarantine, soft deletes.

The core is the same for every database; what differs lives in a
:class:`~gruponos.adapters.sql.dialect.Dialect`; the connection and its transactions in
:class:`~gruponos.adapters.sql.database.SqlDatabase`; which records a table can take in
:mod:`~gruponos.adapters.sql.placing`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from returns.io import IOFailure, IOResult, IOSuccess

from gruponos.adapters.sql import ddl, views
from gruponos.adapters.sql.database import SqlDatabase
from gruponos.adapters.sql.ddl import (
    DELETED_AT,
    LOADED_AT,
    RUN_ID_LENGTH,
    SEEN_GEN,
    TableSpec,
    quote,
)
from gruponos.adapters.sql.dialect import (
    PreparedRow,
    UpsertResult,
)
from gruponos.adapters.sql.placing import newest_per_id, payload_of, placeable, storable_text
from gruponos.adapters.sql.rows import BatchMeta, extra_json, value_rows
from gruponos.adapters.sql.state import list_quarantine, save_checkpoint
from gruponos.application.errors import SinkError
from gruponos.domain.batches import Batch, Rejected, WriteOutcome
from gruponos.domain.checkpoints import Checkpoint, StateKey
from gruponos.domain.records import ID_COLUMN, MOD_TS_COLUMN, NormalizedRecord
from gruponos.domain.schema import ColumnType, EntitySchema

T = TypeVar("T")
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class _Upserted:
    """What the upsert of a batch's newest versions did."""

    result: UpsertResult
    ids: list[int]  # of the records it kept (inserted, replaced or left as stale)
    kept: list[PreparedRow] = field(default_factory=list)  # their rows, on the prepared path
    refused: list[Rejected] = field(default_factory=list)  # set aside before the database


class SqlSink:
    """:class:`~gruponos.application.ports.RecordSink` on SQLite, PostgreSQL or Oracle.

    Beyond the port, for the operations CLI: :meth:`describe_table`, :meth:`drop_table` and
    :meth:`quarantined`.
    """

    def __init__(self, db: SqlDatabase, *, table_prefix: str = "WMS_", history: bool = False):
        self.db = db
        self.prefix = table_prefix
        self.history = history
        self._tables: dict[str, TableSpec] = {}
        #: Keep each entity's ``<table>_V`` current in :meth:`prepare` (setting ``sink.views``),
        #: with ``<column>_local`` instants in this IANA zone when set.
        self.keep_views = False
        self.view_time_zone: str | None = None

    # -- schema ----------------------------------------------------------------------------------

    def prepare(self, schema: EntitySchema) -> IOResult[None, SinkError]:
        try:
            limit = self.db.dialect.max_identifier
            spec = ddl.table_spec(schema, self.prefix, history=self.history, limit=limit)
        except ValueError as exc:
            return IOFailure(SinkError("sink.bad_name", str(exc), {"entity": schema.entity}))

        def work(cur: Any) -> None:
            self.db.ensure_meta(cur)
            dropped = self._drop_view_before_ddl(cur, spec)
            changed = self._prepare_table(cur, spec, history=False)
            if spec.history:
                self._prepare_table(cur, spec, history=True)
            # The view after schema evolution: only when columns changed or it is missing.
            if dropped or (self.keep_views and (changed or not self._view_exists(cur, spec))):
                self._create_view(cur, spec)

        result = self.db.run(SinkError, "sink.prepare_failed", {"entity": schema.entity}, work)
        return result.map(lambda _: self._tables.__setitem__(schema.entity, spec))

    def _prepare_table(self, cur: Any, spec: TableSpec, *, history: bool) -> bool:
        """Bring the table to ``spec``; ``True`` when there was DDL to run."""
        name = spec.history if history and spec.history else spec.table
        if not self._table_ddl(cur, spec, name, history=history):
            return False  # nothing to change: no guard, no DDL
        with self.db.dialect.ddl_guard(self.db, name):
            for _ in range(2):  # again when another session did some of it first
                ddls = self._table_ddl(cur, spec, name, history=history)
                if all(self.db.execute_ddl(cur, sql) for sql in ddls):
                    break
        return True

    def _drop_view_before_ddl(self, cur: Any, spec: TableSpec) -> bool:
        """Drop the table's view when the table is about to change (PostgreSQL cannot widen a
        column a view reads); ``True`` when it did, and the caller re-creates it."""
        if not self._table_ddl(cur, spec, spec.table, history=False):
            return False  # the usual case: one dictionary query, nothing else
        if not self._view_exists(cur, spec):
            return False
        d = self.db.dialect
        cur.execute(views.drop_view_sql(d.name, views.view_name(spec, d.max_identifier)))
        return True

    def _view_exists(self, cur: Any, spec: TableSpec) -> bool:
        d = self.db.dialect
        return views.view_exists(cur, d.name, views.view_name(spec, d.max_identifier))

    def _create_view(self, cur: Any, spec: TableSpec) -> str:
        d = self.db.dialect
        name = views.view_name(spec, d.max_identifier)
        statements = views.create_view_sql(
            d.name, spec, limit=d.max_identifier, time_zone=self.view_time_zone
        )
        with d.ddl_guard(self.db, name):  # concurrent sessions take turns (PostgreSQL)
            for sql in statements:
                cur.execute(sql)
        return name.lower()

    # -- views (gruponos views) ------------------------------------------------------------------

    def create_view(self, schema: EntitySchema) -> IOResult[str, SinkError]:
        """(Re)create the entity's view ``<table>_V`` over its table (prepared first, so the
        table exists with every column); the view's name as the analyst types it."""
        context = {"entity": schema.entity}
        return self.prepare(schema).bind(
            lambda _: self.db.run(
                SinkError,
                "sink.view_failed",
                context,
                lambda cur: self._create_view(cur, self._tables[schema.entity]),
            )
        )

    def view_name(self, entity: str) -> str:
        """The entity's view as the analyst types it (``wms_order_dtl_v``)."""
        limit = self.db.dialect.max_identifier
        return ddl.fit_identifier(self.table_name(entity) + views.VIEW_SUFFIX, limit).lower()

    def drop_view(self, entity: str) -> IOResult[tuple[str, bool], SinkError]:
        """Drop the entity's view: its name, and ``False`` when there was none."""
        d = self.db.dialect
        name = self.view_name(entity).upper()

        def work(cur: Any) -> tuple[str, bool]:
            existed = views.view_exists(cur, d.name, name)
            if existed:
                cur.execute(views.drop_view_sql(d.name, name))
            return name.lower(), existed

        return self.db.run(SinkError, "sink.view_failed", {"entity": entity}, work)

    def _table_ddl(self, cur: Any, spec: TableSpec, name: str, *, history: bool) -> list[str]:
        """The DDL that brings table ``name`` to ``spec``, from the dictionary as it is now."""
        dialect = self.db.dialect
        existing = dialect.existing_columns(cur, name)
        if not existing:
            return [ddl.create_entity_table(dialect, spec, history=history)]
        out = []
        for column in spec.columns + ddl.META_COLUMNS:
            info = existing.get(column.name)
            if info is None:
                out.append(ddl.add_column(dialect, name, column))
            elif column.type is ColumnType.TEXT:
                widen = dialect.widen(name, column.name, info, column.max_length)
                if widen:
                    out.append(widen)
        return out

    def table_name(self, entity: str) -> str:
        """The table of ``entity`` as named in the database."""
        return ddl.entity_table(self.prefix, entity, self.db.dialect.max_identifier)

    # -- writes ----------------------------------------------------------------------------------

    def write(
        self, batch: Batch, *, also: Callable[[Any, WriteOutcome], None] | None = None
    ) -> IOResult[WriteOutcome, SinkError]:
        """:meth:`RecordSink.write <gruponos.application.ports.RecordSink.write>`; ``also(cursor,
        outcome)`` runs last in the batch's transaction (a distributed task's fenced progress,
        adapters/sql/plans.py): an exception from it rolls the whole batch back."""
        spec = self._tables.get(batch.entity)
        context = {"entity": batch.entity, "run_id": batch.run_id, "rows": len(batch.records)}
        if spec is None:
            return IOFailure(SinkError("sink.not_prepared", "prepare the entity first", context))
        dialect = self.db.dialect
        now = self.db.clock()
        records, unplaceable = placeable(batch.records)
        latest = newest_per_id(records)
        payload = None
        if latest and not spec.history:  # history tables take the prepared rows' path
            payload = dialect.bulk_payload(
                spec, latest, BatchMeta(now, batch.run_id, batch.generation)
            )
        prepared = self._prepared(batch, spec, latest, now) if payload is None else None
        older: list[PreparedRow] = []
        older_refused: list[Rejected] = []
        if spec.history:  # older versions in the batch belong in the history table too
            chosen = {id(r) for r in latest}
            versions = {(r.id, r.mod_ts): r for r in records}.values()
            older, older_refused = self._prepared(
                batch, spec, [r for r in versions if id(r) not in chosen], now
            )

        def work(cur: Any) -> WriteOutcome:
            upserted = None if payload is None else self._upsert_bulk(cur, spec, latest, payload)
            if upserted is None:  # no bulk payload, or the database refused a value in it:
                # the prepared rows find the records it refuses
                rows, refused = prepared or self._prepared(batch, spec, latest, now)
                upserted = self._upsert_prepared(cur, spec, rows, refused)
            result, kept = upserted.result, upserted.kept
            # Rows the upsert did not replace (their stored version is newer) still need the
            # generation, or the full pass would soft-delete them; it says how many it replaced.
            replaced_all = dialect.exact_upsert_count and result.written == len(upserted.ids)
            unmarked = upserted.ids if result.stale_ids is None else result.stale_ids
            if batch.generation is not None and unmarked and not replaced_all:
                dialect.mark_seen(cur, spec, unmarked, batch.generation)
            failed = list(result.failed)
            if spec.history and (kept or older):
                history = dialect.insert_history(cur, spec, kept + older)
                failed += [(row, f"history table: {why}") for row, why in history.failed]
            quarantine = [
                *batch.rejected,
                *(self._rejected(batch, r, why) for r, why in unplaceable),
                *upserted.refused,
                *older_refused,
                *(self._rejected(batch, r.record, why) for r, why in failed),
            ]
            self._quarantine(cur, quarantine, batch.run_id, now)
            if batch.checkpoint is not None and batch.state_key is not None:
                save_checkpoint(self.db, cur, batch.state_key, batch.checkpoint)
            stale = len(upserted.ids) - result.written
            outcome = WriteOutcome(result.written, stale, len(quarantine))
            if also is not None:
                also(cur, outcome)
            return outcome

        return self.db.run(SinkError, "sink.write_failed", context, work)

    def commit(
        self, batch: Batch, key: StateKey, checkpoint: Checkpoint
    ) -> IOResult[WriteOutcome, SinkError]:
        """:class:`~gruponos.application.ports.BatchCommit` when the checkpoints live in this
        database (``GNOS_STATE``): the batch and ``checkpoint`` in one transaction."""
        return self.write(replace(batch, state_key=key, checkpoint=checkpoint))

    def _upsert_bulk(
        self, cur: Any, spec: TableSpec, latest: Sequence[NormalizedRecord], payload: bytes
    ) -> _Upserted | None:
        result = self.db.dialect.upsert_bulk(cur, spec, payload)
        return None if result is None else _Upserted(result, [r.id for r in latest])

    def _upsert_prepared(
        self, cur: Any, spec: TableSpec, rows: list[PreparedRow], refused: list[Rejected]
    ) -> _Upserted:
        result = self.db.dialect.upsert(cur, spec, rows) if rows else UpsertResult(0)
        bad_ids = {row.record.id for row, _ in result.failed}
        kept = [r for r in rows if r.record.id not in bad_ids]
        return _Upserted(result, [r.record.id for r in kept], kept, refused)

    def _prepared(
        self, batch: Batch, spec: TableSpec, records: Iterable[NormalizedRecord], now: datetime
    ) -> tuple[list[PreparedRow], list[Rejected]]:
        """Convert records for the driver; those with values it cannot take go to quarantine.

        Column by column: each column of the batch is checked and converted in one call
        (:meth:`Dialect.bind_column`), so a value's type is looked at once per column, not per
        value, whenever the column holds the usual types.
        """
        records = list(records)
        if not records:
            return [], []
        dialect = self.db.dialect
        extras = [extra_json(r.extra) for r in records]
        count = len(records)
        columns: list[Sequence[Any]] = [*zip(*value_rows(records, spec.value_keys), strict=True)]
        columns += [[now] * count, [batch.run_id] * count, [batch.generation] * count, extras]
        bound: list[Sequence[Any]] = []
        reasons: dict[int, list[str]] = {}
        for name, ctype, values in zip(spec.bound_names, spec.bound_types, columns, strict=True):
            converted, unfit = dialect.bind_column(ctype, values)
            bound.append(converted)
            for index, why in unfit.items():
                reasons.setdefault(index, []).append(f"{name}: {why}")
        rows = [PreparedRow(r, v) for r, v in zip(records, zip(*bound, strict=True), strict=True)]
        if not reasons:
            return rows, []
        refused = [
            self._rejected(batch, records[i], "; ".join(reasons[i])) for i in sorted(reasons)
        ]
        return [row for i, row in enumerate(rows) if i not in reasons], refused

    @staticmethod
    def _rejected(batch: Batch, record: NormalizedRecord, reason: str) -> Rejected:
        return Rejected(batch.entity, storable_text(record.id), payload_of(record), reason)

    def _quarantine(
        self, cur: Any, rejected: Sequence[Rejected], run_id: str, now: datetime
    ) -> None:
        if not rejected:
            return
        d = self.db.dialect
        types = [ColumnType.TEXT] * 5 + [ColumnType.TIMESTAMP]
        sql = (
            f'INSERT INTO "{ddl.QUARANTINE_TABLE}" ("ENTITY", "RECORD_ID", "PAYLOAD", "REASON",'
            f' "RUN_ID", "QUARANTINED_AT") VALUES ({", ".join(d.params(types))})'
        )
        at = d.to_db(ColumnType.TIMESTAMP, now)
        d.bind_types(
            cur, [None, None, ColumnType.JSON, ColumnType.JSON, None, ColumnType.TIMESTAMP]
        )
        # The texts come from anywhere (a hostile record id, a reason quoting a value): each is
        # made storable, and the keys fit their VARCHAR(200), so the quarantine never fails.
        cur.executemany(
            sql,
            [
                (
                    storable_text(r.entity, RUN_ID_LENGTH),
                    None if r.record_id is None else storable_text(r.record_id, RUN_ID_LENGTH),
                    storable_text(r.payload),
                    storable_text(r.reason),
                    run_id,
                    at,
                )
                for r in rejected
            ],
        )

    def soft_delete_unseen(
        self, entity: str, generation: str, at: datetime
    ) -> IOResult[int, SinkError]:
        """Rows not seen by ``generation`` and not yet deleted get ``GNOS_DELETED_AT = at``.

        When the run history knows the run that started the generation, rows loaded after it
        started are spared: an incremental run may have loaded them behind the full pass.
        """
        d = self.db.dialect
        table = quote(self.table_name(entity))

        def work(cur: Any) -> int:
            if not d.existing_columns(cur, self.table_name(entity)):
                return 0
            cur.execute(
                f'SELECT {d.utc(quote("STARTED_AT"))} FROM "{ddl.RUNS_TABLE}"'
                f' WHERE "RUN_ID" = {d.param(0)}',
                (generation,),
            )
            started = cur.fetchone()
            sql = (
                f"UPDATE {table} SET {quote(DELETED_AT)} = {d.ts_param(0)}"
                f" WHERE {quote(DELETED_AT)} IS NULL"
                f" AND ({quote(SEEN_GEN)} IS NULL OR {quote(SEEN_GEN)} <> {d.param(1)})"
            )
            params: list[Any] = [d.to_db(ColumnType.TIMESTAMP, at), generation]
            if started:
                sql += f" AND {quote(LOADED_AT)} < {d.ts_param(2)}"
                began = d.from_db_timestamp(started[0])
                params.append(d.to_db(ColumnType.TIMESTAMP, began))
            d.bind_types(cur, [ColumnType.TIMESTAMP, None, ColumnType.TIMESTAMP][: len(params)])
            cur.execute(sql, params)
            return int(cur.rowcount)

        return self.db.run(SinkError, "sink.soft_delete_failed", {"entity": entity}, work)

    # -- reads -----------------------------------------------------------------------------------

    def _read(
        self, entity: str, code: str, work: Callable[[Any, str], T], empty: T
    ) -> IOResult[T, SinkError]:
        table = self.table_name(entity)

        def guarded(cur: Any) -> T:
            # A table this sink prepared exists: no dictionary query before each read.
            if entity not in self._tables and not self.db.dialect.existing_columns(cur, table):
                return empty
            return work(cur, quote(table))

        return self.db.run(SinkError, code, {"entity": entity}, guarded)

    def existing_ids(
        self, entity: str, ids: Collection[int]
    ) -> IOResult[frozenset[int], SinkError]:
        wanted = sorted(set(ids))
        d = self.db.dialect

        def work(cur: Any, table: str) -> frozenset[int]:
            found: set[int] = set()
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                # Padded to one length with its last id: one SQL text to parse, not one per size
                chunk += chunk[-1:] * (_CHUNK - len(chunk))
                marks = ", ".join(d.param(i) for i in range(_CHUNK))
                cur.execute(
                    f"SELECT {quote(ID_COLUMN)} FROM {table}"
                    f" WHERE {quote(DELETED_AT)} IS NULL AND {quote(ID_COLUMN)} IN ({marks})",
                    chunk,
                )
                found.update(int(row[0]) for row in cur.fetchall())
            return frozenset(found)

        return self._read(entity, "sink.read_failed", work, frozenset())

    def snapshot(self, entity: str) -> IOResult[dict[int, datetime], SinkError]:
        d = self.db.dialect

        def work(cur: Any, table: str) -> dict[int, datetime]:
            cur.execute(
                f"SELECT {quote(ID_COLUMN)}, {d.utc(quote(MOD_TS_COLUMN))} FROM {table}"
                f" WHERE {quote(DELETED_AT)} IS NULL"
            )
            return {int(i): d.from_db_timestamp(ts) for i, ts in cur.fetchall()}

        return self._read(entity, "sink.read_failed", work, {})

    def check(self) -> IOResult[None, SinkError]:
        """Create the metadata tables if needed, write a quarantine row and roll it back; then
        what the login lacks (:meth:`Dialect.readiness`), as ``sink.not_ready``."""
        d = self.db.dialect

        def work(cur: Any) -> list[str]:
            self.db.ensure_meta(cur)
            d.savepoint(cur, "GNOS_CHECK")
            self._quarantine(
                cur, [Rejected("<check>", None, "", "health check")], "<check>", self.db.clock()
            )
            d.rollback_to(cur, "GNOS_CHECK")
            return d.readiness(cur)

        def ready(problems: list[str]) -> IOResult[None, SinkError]:
            if not problems:
                return IOSuccess(None)
            return IOFailure(SinkError("sink.not_ready", "; ".join(problems), {}))

        return self.db.run(SinkError, "sink.unavailable", {}, work).bind(ready)

    def describe_table(self, entity: str) -> IOResult[tuple[tuple[str, str], ...], SinkError]:
        """``(column, SQL type)`` of the entity's table, in table order; empty if it is absent."""
        d = self.db.dialect
        table = self.table_name(entity)

        def work(cur: Any) -> tuple[tuple[str, str], ...]:
            return tuple((n, i.sql_type) for n, i in d.existing_columns(cur, table).items())

        return self.db.run(SinkError, "sink.read_failed", {"entity": entity}, work)

    def drop_table(self, entity: str) -> IOResult[bool, SinkError]:
        """Drop the entity's table (and history table); ``False`` when there was none."""
        d = self.db.dialect
        table = self.table_name(entity)

        def work(cur: Any) -> bool:
            self._tables.pop(entity, None)
            view = self.view_name(entity).upper()
            if views.view_exists(cur, d.name, view):  # PostgreSQL refuses to drop its table
                cur.execute(views.drop_view_sql(d.name, view))
            dropped = False
            history = ddl.fit_identifier(table + ddl.HISTORY_SUFFIX, d.max_identifier)
            for name in (table, history):
                if d.existing_columns(cur, name):
                    cur.execute(d.drop_table_sql(name))
                    dropped = True
            return dropped

        return self.db.run(SinkError, "sink.drop_failed", {"entity": entity}, work)

    def quarantined(
        self, entity: str | None = None, limit: int = 100
    ) -> IOResult[tuple[dict[str, Any], ...], SinkError]:
        """The newest quarantine rows (all entities, or one), newest first."""
        return self.db.run(
            SinkError,
            "sink.read_failed",
            {"entity": entity},
            lambda cur: list_quarantine(self.db, cur, entity, limit),
        )

    def close(self) -> None:
        self.db.close()
