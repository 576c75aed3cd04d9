"""Checkpoints, run locks and quarantine listings kept in the sink's own database.

:class:`SqlStateStore` is the in-sink :class:`~gruponos.application.ports.StateStore`: the sink's
``commit`` writes a batch's checkpoint in the batch's transaction (:func:`save_checkpoint`), so
data and checkpoint commit together or not at all (docs/adr/0003).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from returns.io import IOFailure, IOResult, IOSuccess

from gruponos.adapters.sql.ddl import QUARANTINE_TABLE, STATE_TABLE
from gruponos.application.errors import StateError
from gruponos.application.ports import Lease
from gruponos.domain.checkpoints import Checkpoint, StateKey
from gruponos.domain.schema import ColumnType

if TYPE_CHECKING:
    from gruponos.adapters.sql.database import SqlDatabase


def save_checkpoint(db: SqlDatabase, cur: Any, key: StateKey, checkpoint: Checkpoint) -> None:
    """Upsert ``checkpoint`` under ``key`` inside the caller's transaction."""
    d = db.dialect
    doc = json.dumps(checkpoint.to_json(), sort_keys=True)
    now = d.to_db(ColumnType.TIMESTAMP, db.clock())
    d.bind_types(cur, [None, ColumnType.TIMESTAMP, None, None])
    cur.execute(
        f'UPDATE "{STATE_TABLE}" SET "CHECKPOINT" = {d.param(0)}, "UPDATED_AT" = {d.ts_param(1)}'
        f' WHERE "PIPELINE" = {d.param(2)} AND "ENTITY" = {d.param(3)}',
        (doc, now, key.pipeline, key.entity),
    )
    if cur.rowcount == 0:
        d.bind_types(cur, [None, None, None, ColumnType.TIMESTAMP])
        cur.execute(
            f'INSERT INTO "{STATE_TABLE}" ("PIPELINE", "ENTITY", "CHECKPOINT", "UPDATED_AT")'
            f" VALUES ({d.param(0)}, {d.param(1)}, {d.param(2)}, {d.ts_param(3)})",
            (key.pipeline, key.entity, doc, now),
        )


def list_quarantine(
    db: SqlDatabase, cur: Any, entity: str | None, limit: int
) -> tuple[dict[str, Any], ...]:
    d = db.dialect
    db.ensure_meta(cur)
    where = f' WHERE "ENTITY" = {d.param(0)}' if entity is not None else ""
    at = d.utc('"QUARANTINED_AT"')
    cur.execute(
        f'SELECT "ENTITY", "RECORD_ID", "PAYLOAD", "REASON", "RUN_ID",'
        f" {at}"
        f' FROM "{QUARANTINE_TABLE}"{where} ORDER BY "SEQ" DESC',
        (entity,) if entity is not None else (),
    )
    return tuple(
        {
            "entity": row[0],
            "record_id": row[1],
            "payload": d.from_db_text(row[2]),
            "reason": d.from_db_text(row[3]),
            "run_id": row[4],
            "quarantined_at": d.from_db_timestamp(row[5]),
        }
        for row in cur.fetchmany(max(limit, 0))
    )


class SqlStateStore:
    """Checkpoints in table ``GNOS_STATE`` of the sink's database, where the sink's ``commit``
    stores each batch's checkpoint with the batch."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    def load(self, key: StateKey) -> IOResult[Checkpoint | None, StateError]:
        d = self.db.dialect

        def work(cur: Any) -> str | None:
            self.db.ensure_meta(cur)
            cur.execute(
                f'SELECT "CHECKPOINT" FROM "{STATE_TABLE}"'
                f' WHERE "PIPELINE" = {d.param(0)} AND "ENTITY" = {d.param(1)}',
                (key.pipeline, key.entity),
            )
            row = cur.fetchone()
            return None if row is None else d.from_db_text(row[0])

        return self.db.run(StateError, "state.load_failed", _ctx(key), work).bind(
            lambda text: _parse(key, text)
        )

    def save(self, key: StateKey, checkpoint: Checkpoint) -> IOResult[None, StateError]:
        def work(cur: Any) -> None:
            self.db.ensure_meta(cur)
            save_checkpoint(self.db, cur, key, checkpoint)

        return self.db.run(StateError, "state.save_failed", _ctx(key), work)

    def reset(self, key: StateKey) -> IOResult[None, StateError]:
        d = self.db.dialect

        def work(cur: Any) -> None:
            self.db.ensure_meta(cur)
            cur.execute(
                f'DELETE FROM "{STATE_TABLE}"'
                f' WHERE "PIPELINE" = {d.param(0)} AND "ENTITY" = {d.param(1)}',
                (key.pipeline, key.entity),
            )

        return self.db.run(StateError, "state.save_failed", _ctx(key), work)

    def all(self) -> IOResult[dict[StateKey, Checkpoint], StateError]:
        d = self.db.dialect

        def work(cur: Any) -> list[tuple[str, str, str | None]]:
            self.db.ensure_meta(cur)
            cur.execute(f'SELECT "PIPELINE", "ENTITY", "CHECKPOINT" FROM "{STATE_TABLE}"')
            return [(p, e, d.from_db_text(c)) for p, e, c in cur.fetchall()]

        def parse_all(
            rows: list[tuple[str, str, str | None]],
        ) -> IOResult[dict[StateKey, Checkpoint], StateError]:
            out: dict[StateKey, Checkpoint] = {}
            for pipeline, entity, text in rows:
                key = StateKey(pipeline, entity)
                parsed = parse_checkpoint(key, text)
                if isinstance(parsed, StateError):
                    return IOFailure(parsed)
                if parsed is not None:
                    out[key] = parsed
            return IOSuccess(out)

        return self.db.run(StateError, "state.load_failed", {}, work).bind(parse_all)

    def lock(self, key: StateKey, owner: str) -> IOResult[Lease, StateError]:
        return self.db.dialect.lock(self.db, (key.pipeline, key.entity), owner)


def _ctx(key: StateKey) -> dict[str, Any]:
    return {"pipeline": key.pipeline, "entity": key.entity}


def parse_checkpoint(key: StateKey, text: str | None) -> Checkpoint | StateError | None:
    if text is None:
        return None
    try:
        return Checkpoint.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError) as exc:
        return StateError("state.corrupt", f"stored checkpoint is not valid: {exc}", _ctx(key))


def _parse(key: StateKey, text: str | None) -> IOResult[Checkpoint | None, StateError]:
    parsed = parse_checkpoint(key, text)
    if isinstance(parsed, StateError):
        return IOFailure(parsed)
    return IOSuccess(parsed)
