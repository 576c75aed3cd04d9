"""Run plans of distributed runs in the sink's database: ``GNOS_RUN_PLANS`` (a row per run) and
``GNOS_RUN_TASKS`` (a row per task: an id window of a full pass, an entity of an incremental run).

Every lease is one conditional ``UPDATE`` judged by its row count (taken only while the task is
pending and free, expired or already the taker's), and a task's batch commits *fenced*: the
sink's own transaction ends with an ``UPDATE`` of the task's row that requires the committer to
still hold the lease; when it does not, the whole batch rolls back (``plan.lease_lost``). Times
are integer milliseconds since the epoch (UTC), from the use case's clock: leases compare the
same way on every database. PostgreSQL and Oracle; SQLite works too, but the distributed
executor refuses it (:func:`distributed_sink_refusal`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from returns.io import IOFailure, IOResult

from gruponos.adapters.sql.ddl import RUN_ID_LENGTH, quote
from gruponos.adapters.urls import sink_kind
from gruponos.application.errors import ConfigError, PortError, SinkError
from gruponos.application.ports import TaskCommit
from gruponos.application.scaleout_values import lease_lost
from gruponos.domain.batches import Batch, WriteOutcome
from gruponos.domain.checkpoints import Position, SyncMode
from gruponos.domain.runs import RunStatus
from gruponos.domain.scaleout import (
    NO_NOTES,
    RunPlan,
    TaskCounts,
    TaskKind,
    TaskNotes,
    TaskState,
    TaskStatus,
)
from gruponos.domain.schema import ColumnType

if TYPE_CHECKING:
    from gruponos.adapters.sql.core import SqlSink
    from gruponos.adapters.sql.database import SqlDatabase

PLANS_TABLE = "GNOS_RUN_PLANS"
TASKS_TABLE = "GNOS_RUN_TASKS"

#: The refusal of the Celery executor on SQLite (part of the public surface: the CLI shows it).
SQLITE_REFUSAL = "the celery executor needs PostgreSQL or Oracle: SQLite allows one writer per file"

_COUNTS = (
    "N_READ",
    "N_WRITTEN",
    "N_STALE",
    "N_QUARANTINED",
    "N_BATCHES",
    "N_PAGES",
    "N_RETRIES",
    "N_INCONSISTENT",
)
_TASK_COLUMNS = (
    "RUN_ID",
    "ENTITY",
    "IDX",
    "KIND",
    "AFTER_ID",
    "UNTIL_ID",
    "STATUS",
    "OWNER",
    "LEASE_UNTIL",
    "LAST_ID",
    "POSITION",
    *_COUNTS,
    "ATTEMPTS",
    "ERROR",
    "NOTES",
)
_PLAN_COLUMNS = (
    "RUN_ID",
    "RUN_MODE",
    "STATUS",
    "DETAIL",
    "OWNER",
    "LEASE_UNTIL",
    "CREATED_MS",
    "FINISHED_MS",
)


def distributed_sink_refusal(url: str) -> ConfigError | None:
    """Why a sink at ``url`` cannot hold a distributed run (``None``: it can)."""
    if sink_kind(url) == "sqlite":
        return ConfigError("executor.sqlite", SQLITE_REFUSAL, {"field": "sink.url"})
    return None


def plan_tables(db: SqlDatabase) -> dict[str, str]:
    """DDL of the two plan tables, by name."""
    d = db.dialect

    def t(ctype: ColumnType, n: int | None = None) -> str:
        return d.column_type(ctype, n)

    key, num = t(ColumnType.TEXT, RUN_ID_LENGTH), t(ColumnType.INTEGER)
    counts = "".join(f'  "{name}" {num} DEFAULT 0 NOT NULL,\n' for name in (*_COUNTS, "ATTEMPTS"))
    return {
        PLANS_TABLE: (
            f'CREATE TABLE "{PLANS_TABLE}" (\n  "RUN_ID" {key} NOT NULL,\n'
            f'  "RUN_MODE" {t(ColumnType.TEXT, 20)} NOT NULL,\n'
            f'  "STATUS" {t(ColumnType.TEXT, 20)} NOT NULL,\n'
            f'  "DETAIL" {t(ColumnType.JSON)} NOT NULL,\n  "OWNER" {key},\n'
            f'  "LEASE_UNTIL" {num},\n  "CREATED_MS" {num} NOT NULL,\n  "FINISHED_MS" {num},\n'
            f'  CONSTRAINT "{PLANS_TABLE}_PK" PRIMARY KEY ("RUN_ID")\n)'
        ),
        TASKS_TABLE: (
            f'CREATE TABLE "{TASKS_TABLE}" (\n  "RUN_ID" {key} NOT NULL,\n'
            f'  "ENTITY" {key} NOT NULL,\n  "IDX" {num} NOT NULL,\n'
            f'  "KIND" {t(ColumnType.TEXT, 10)} NOT NULL,\n'
            f'  "AFTER_ID" {num},\n  "UNTIL_ID" {num},\n'
            f'  "STATUS" {t(ColumnType.TEXT, 20)} NOT NULL,\n  "OWNER" {key},\n'
            f'  "LEASE_UNTIL" {num},\n  "LAST_ID" {num},\n'
            f'  "POSITION" {t(ColumnType.TEXT, 200)},\n{counts}'
            f'  "ERROR" {t(ColumnType.TEXT, 4000)},\n  "NOTES" {t(ColumnType.JSON)},\n'
            f'  CONSTRAINT "{TASKS_TABLE}_PK" PRIMARY KEY ("RUN_ID", "ENTITY", "IDX")\n)'
        ),
    }


def _plan_is(param: str) -> str:
    """The condition that the task's run has status ``param`` (an open run: running)."""
    return (
        f' AND EXISTS (SELECT 1 FROM "{PLANS_TABLE}" r'
        f' WHERE r."RUN_ID" = "{TASKS_TABLE}"."RUN_ID" AND r."STATUS" = {param})'
    )


def _ms(at: datetime | None) -> int | None:
    return None if at is None else round(at.timestamp() * 1000)


def _at(ms: Any) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(int(ms) / 1000, UTC)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _position_text(position: Position | None) -> str | None:
    if position is None:
        return None
    return json.dumps({"mod_ts": position.mod_ts.isoformat(), "id": position.id})


def _position(text: str | None) -> Position | None:
    if not text:
        return None
    data = json.loads(text)
    return Position(datetime.fromisoformat(data["mod_ts"]), int(data["id"]))


class _LeaseLost(Exception):  # noqa: N818 - a signal inside a transaction, not an error type
    """Raised inside the batch's transaction when the fence refuses: rolls the batch back."""


class SqlRunPlans:
    """:class:`~gruponos.application.ports.RunPlans` in the sink's database, committing tasks'
    batches through ``sink`` (the same connection: one transaction for both)."""

    def __init__(self, sink: SqlSink) -> None:
        self.sink = sink
        self.db = sink.db
        self._ready = False

    # -- plumbing ---------------------------------------------------------------------------

    def _ensure(self, cur: Any) -> None:
        """Create the plan tables once (under the dialect's DDL guard: concurrent first runs)."""
        if self._ready:
            return
        d = self.db.dialect
        for name, create in plan_tables(self.db).items():
            if d.existing_columns(cur, name):
                continue
            with d.ddl_guard(self.db, name):
                if not d.existing_columns(cur, name):
                    self.db.execute_ddl(cur, create)
        self._ready = True

    def _run(self, code: str, context: dict[str, Any], work: Any) -> IOResult[Any, SinkError]:
        def guarded(cur: Any) -> Any:
            self._ensure(cur)
            return work(cur)

        return self.db.run(SinkError, code, context, guarded)

    def _p(self, count: int, start: int = 0) -> list[str]:
        return [self.db.dialect.param(i) for i in range(start, start + count)]

    def _task_row(self, row: Sequence[Any]) -> TaskState:
        d = self.db.dialect
        values = dict(zip(_TASK_COLUMNS, row, strict=True))
        kind: TaskKind = "window" if values["KIND"] == "window" else "entity"
        return TaskState(
            run_id=str(values["RUN_ID"]),
            entity=str(values["ENTITY"]),
            index=int(values["IDX"]),
            kind=kind,
            after_id=_int(values["AFTER_ID"]),
            until_id=_int(values["UNTIL_ID"]),
            status=TaskStatus(values["STATUS"]),
            owner=values["OWNER"],
            lease_until=_at(values["LEASE_UNTIL"]),
            last_id=_int(values["LAST_ID"]),
            position=_position(d.from_db_text(values["POSITION"])),
            counts=TaskCounts(*(int(values[name] or 0) for name in _COUNTS)),
            attempts=int(values["ATTEMPTS"] or 0),
            error=d.from_db_text(values["ERROR"]),
            notes=TaskNotes.from_json(json.loads(d.from_db_text(values["NOTES"]) or "{}")),
        )

    def _plan_row(self, row: Sequence[Any]) -> RunPlan:
        values = dict(zip(_PLAN_COLUMNS, row, strict=True))
        detail = json.loads(self.db.dialect.from_db_text(values["DETAIL"]) or "{}")
        created = _at(values["CREATED_MS"])
        assert created is not None  # noqa: S101 - NOT NULL column
        return RunPlan(
            run_id=str(values["RUN_ID"]),
            mode=SyncMode(values["RUN_MODE"]),
            entities=tuple(detail.get("entities", ())),
            created_at=created,
            status=RunStatus(values["STATUS"]),
            high_water=tuple(
                (str(entity), _position(text)) for entity, text in detail.get("high_water", ())
            ),
            triggered_by=detail.get("triggered_by"),
            owner=values["OWNER"],
            lease_until=_at(values["LEASE_UNTIL"]),
            finished_at=_at(values["FINISHED_MS"]),
            deleted=tuple((str(e), int(n)) for e, n in detail.get("deleted", ())),
            error=detail.get("error"),
        )

    @staticmethod
    def _detail(plan: RunPlan) -> str:
        return json.dumps(
            {
                "entities": list(plan.entities),
                "high_water": [[e, _position_text(p)] for e, p in plan.high_water],
                "triggered_by": plan.triggered_by,
                "deleted": [[e, n] for e, n in plan.deleted],
                "error": plan.error,
            },
            sort_keys=True,
        )

    def _select_task(self, cur: Any, run_id: str, entity: str, index: int) -> TaskState | None:
        p = self._p(3)
        cols = _columns(_TASK_COLUMNS)
        cur.execute(
            f'SELECT {cols} FROM "{TASKS_TABLE}"'
            f' WHERE "RUN_ID" = {p[0]} AND "ENTITY" = {p[1]} AND "IDX" = {p[2]}',
            (run_id, entity, index),
        )
        row = cur.fetchone()
        return None if row is None else self._task_row(row)

    def _select_plan(self, cur: Any, run_id: str) -> RunPlan | None:
        cols = _columns(_PLAN_COLUMNS)
        p = self._p(1)
        cur.execute(f'SELECT {cols} FROM "{PLANS_TABLE}" WHERE "RUN_ID" = {p[0]}', (run_id,))
        row = cur.fetchone()
        return None if row is None else self._plan_row(row)

    # -- the port ---------------------------------------------------------------------------

    def create(self, plan: RunPlan, tasks: Sequence[TaskState]) -> IOResult[bool, SinkError]:
        d = self.db.dialect

        def work(cur: Any) -> bool:
            if self._select_plan(cur, plan.run_id) is not None:
                return False
            p = self._p(len(_PLAN_COLUMNS))
            d.bind_types(cur, [None, None, None, ColumnType.JSON, None, None, None, None])
            cur.execute(
                f'INSERT INTO "{PLANS_TABLE}" ({_columns(_PLAN_COLUMNS)}) VALUES ({", ".join(p)})',
                (
                    plan.run_id,
                    plan.mode.value,
                    plan.status.value,
                    self._detail(plan),
                    plan.owner,
                    _ms(plan.lease_until),
                    _ms(plan.created_at),
                    _ms(plan.finished_at),
                ),
            )
            columns = _TASK_COLUMNS[:9]
            p = self._p(len(columns))
            d.bind_types(cur, [None] * len(columns))
            cur.executemany(
                f'INSERT INTO "{TASKS_TABLE}" ({_columns(columns)}) VALUES ({", ".join(p)})',
                [
                    (
                        t.run_id,
                        t.entity,
                        t.index,
                        t.kind,
                        t.after_id,
                        t.until_id,
                        t.status.value,
                        t.owner,
                        _ms(t.lease_until),
                    )
                    for t in tasks
                ],
            )
            return True

        return self._run("plan.create_failed", {"run_id": plan.run_id}, work)

    def get(self, run_id: str) -> IOResult[RunPlan | None, SinkError]:
        return self._run(
            "plan.read_failed", {"run_id": run_id}, lambda cur: self._select_plan(cur, run_id)
        )

    def tasks(self, run_id: str) -> IOResult[tuple[TaskState, ...], SinkError]:
        def work(cur: Any) -> tuple[TaskState, ...]:
            plan = self._select_plan(cur, run_id)
            if plan is None:
                return ()
            cols = _columns(_TASK_COLUMNS)
            p = self._p(1)
            cur.execute(f'SELECT {cols} FROM "{TASKS_TABLE}" WHERE "RUN_ID" = {p[0]}', (run_id,))
            rows = [self._task_row(r) for r in cur.fetchall()]
            order = {entity: n for n, entity in enumerate(plan.entities)}
            return tuple(sorted(rows, key=lambda t: (order.get(t.entity, len(order)), t.index)))

        return self._run("plan.read_failed", {"run_id": run_id}, work)

    def open_plans(self) -> IOResult[tuple[RunPlan, ...], SinkError]:
        """Also asked by every local run (a distributed run's lock): a database that never
        held a distributed run answers without the tables being created."""

        def work(cur: Any) -> tuple[RunPlan, ...]:
            if not self._ready and not self.db.dialect.existing_columns(cur, PLANS_TABLE):
                return ()
            cols = _columns(_PLAN_COLUMNS)
            p = self._p(1)
            cur.execute(
                f'SELECT {cols} FROM "{PLANS_TABLE}" WHERE "STATUS" = {p[0]}'
                ' ORDER BY "CREATED_MS", "RUN_ID"',
                (RunStatus.RUNNING.value,),
            )
            return tuple(self._plan_row(r) for r in cur.fetchall())

        return self.db.run(SinkError, "plan.read_failed", {}, work)

    def claim(
        self, run_id: str, entity: str, index: int, owner: str, now: datetime, until: datetime
    ) -> IOResult[TaskState | None, SinkError]:
        def work(cur: Any) -> TaskState | None:
            p = self._p(9)
            cur.execute(
                f'UPDATE "{TASKS_TABLE}" SET "OWNER" = {p[0]}, "LEASE_UNTIL" = {p[1]},'
                ' "ATTEMPTS" = "ATTEMPTS" + 1'
                f' WHERE "RUN_ID" = {p[2]} AND "ENTITY" = {p[3]} AND "IDX" = {p[4]}'
                f' AND "STATUS" = {p[5]}'
                f' AND ("OWNER" IS NULL OR "OWNER" = {p[6]} OR "LEASE_UNTIL" IS NULL'
                f' OR "LEASE_UNTIL" <= {p[7]}){_plan_is(p[8])}',
                (
                    owner,
                    _ms(until),
                    run_id,
                    entity,
                    index,
                    TaskStatus.PENDING.value,
                    owner,
                    _ms(now),
                    RunStatus.RUNNING.value,
                ),
            )
            if cur.rowcount != 1:
                return None
            return self._select_task(cur, run_id, entity, index)

        return self._run("plan.claim_failed", {"run_id": run_id, "entity": entity}, work)

    def commit(
        self, batch: Batch, task: TaskState, owner: str, progress: TaskCommit
    ) -> IOResult[WriteOutcome, PortError]:
        """The sink's write of ``batch`` (with the incremental checkpoint when there is one),
        ended by the fenced update of the task's row: one transaction."""

        def fence(cur: Any, outcome: WriteOutcome) -> None:
            counts = TaskCounts.of_batch(progress.read, outcome)
            sets = [f'"{name}" = "{name}" + {{}}' for name in _COUNTS[:5]]
            values: list[Any] = [
                counts.read,
                counts.written,
                counts.stale,
                counts.quarantined,
                counts.batches,
            ]
            sets.append('"LEASE_UNTIL" = {}')
            values.append(_ms(progress.lease_until))
            if progress.last_id is not None:
                sets.append(
                    '"LAST_ID" = CASE WHEN "LAST_ID" IS NULL OR "LAST_ID" < {} THEN {} ELSE "LAST_ID" END'
                )
                values += [progress.last_id, progress.last_id]
            if progress.position is not None:
                sets.append('"POSITION" = {}')
                values.append(_position_text(progress.position))
            where = ' WHERE "RUN_ID" = {} AND "ENTITY" = {} AND "IDX" = {} AND "OWNER" = {} AND "STATUS" = {}'
            values += [task.run_id, task.entity, task.index, owner, TaskStatus.PENDING.value]
            text = f'UPDATE "{TASKS_TABLE}" SET ' + ", ".join(sets) + where
            params = self._p(text.count("{}"))
            self.db.dialect.bind_types(cur, [None] * len(values))
            cur.execute(text.format(*params), tuple(values))
            if cur.rowcount != 1:
                raise _LeaseLost

        stamped = batch
        if progress.checkpoint is not None:
            key, checkpoint = progress.checkpoint
            stamped = replace(batch, state_key=key, checkpoint=checkpoint)
        try:
            written: IOResult[WriteOutcome, PortError] = self.sink.write(stamped, also=fence)
        except _LeaseLost:  # the transaction was rolled back: nothing of the batch is stored
            return IOFailure(lease_lost(task, owner))
        return written

    def end_task(
        self,
        task: TaskState,
        owner: str,
        status: TaskStatus,
        extra: TaskCounts,
        error: str | None = None,
        notes: TaskNotes = NO_NOTES,
    ) -> IOResult[bool, SinkError]:
        def work(cur: Any) -> bool:
            text = None if error is None else error[:4000]
            sets = ['"STATUS" = {}', '"LEASE_UNTIL" = NULL', '"ERROR" = {}']
            return self._end(cur, task, owner, extra, notes, sets, [status.value, text])

        return self._run("plan.update_failed", {"run_id": task.run_id}, work)

    def release(
        self, task: TaskState, owner: str, extra: TaskCounts, notes: TaskNotes = NO_NOTES
    ) -> IOResult[None, SinkError]:
        def work(cur: Any) -> None:
            self._end(cur, task, owner, extra, notes, [], [])

        return self._run("plan.update_failed", {"run_id": task.run_id}, work)

    def _end(
        self,
        cur: Any,
        task: TaskState,
        owner: str,
        extra: TaskCounts,
        notes: TaskNotes,
        sets: list[str],
        values: list[Any],
    ) -> bool:
        """The owner lets go of a pending task (ended when ``sets`` change its status), adding
        the counts and notes kept until the end; ``False`` when it was not the owner's."""
        row = self._select_task(cur, task.run_id, task.entity, task.index)
        if row is None or row.owner != owner or row.status is not TaskStatus.PENDING:
            return False
        merged = json.dumps(row.notes.plus(notes).to_json(), sort_keys=True)
        types: list[ColumnType | None] = [None] * len(values)
        types += [None, None, None, ColumnType.JSON]
        sets = [
            *sets,
            '"OWNER" = NULL',
            '"N_PAGES" = "N_PAGES" + {}',
            '"N_RETRIES" = "N_RETRIES" + {}',
            '"N_INCONSISTENT" = "N_INCONSISTENT" + {}',
            '"NOTES" = {}',
        ]
        values = [
            *values,
            extra.pages,
            extra.retried_requests,
            extra.inconsistent_references,
            merged,
        ]
        where = ' WHERE "RUN_ID" = {} AND "ENTITY" = {} AND "IDX" = {} AND "OWNER" = {}'
        where += ' AND "STATUS" = {}'
        values += [task.run_id, task.entity, task.index, owner, TaskStatus.PENDING.value]
        types += [None] * 5
        text = f'UPDATE "{TASKS_TABLE}" SET ' + ", ".join(sets) + where
        self.db.dialect.bind_types(cur, types)
        cur.execute(text.format(*self._p(text.count("{}"))), tuple(values))
        return bool(cur.rowcount == 1)

    def claim_run(
        self, run_id: str, owner: str, now: datetime, until: datetime
    ) -> IOResult[RunPlan | None, SinkError]:
        def work(cur: Any) -> RunPlan | None:
            p = self._p(6)
            cur.execute(
                f'UPDATE "{PLANS_TABLE}" SET "OWNER" = {p[0]}, "LEASE_UNTIL" = {p[1]}'
                f' WHERE "RUN_ID" = {p[2]} AND "STATUS" = {p[3]}'
                f' AND ("OWNER" IS NULL OR "OWNER" = {p[4]} OR "LEASE_UNTIL" IS NULL'
                f' OR "LEASE_UNTIL" <= {p[5]})',
                (owner, _ms(until), run_id, RunStatus.RUNNING.value, owner, _ms(now)),
            )
            if cur.rowcount != 1:
                return None
            return self._select_plan(cur, run_id)

        return self._run("plan.claim_failed", {"run_id": run_id}, work)

    def close_run(self, plan: RunPlan, owner: str) -> IOResult[bool, SinkError]:
        d = self.db.dialect

        def work(cur: Any) -> bool:
            p = self._p(6)
            d.bind_types(cur, [None, ColumnType.JSON, None, None, None, None])
            cur.execute(
                f'UPDATE "{PLANS_TABLE}" SET "STATUS" = {p[0]}, "DETAIL" = {p[1]},'
                f' "FINISHED_MS" = {p[2]}, "OWNER" = NULL, "LEASE_UNTIL" = NULL'
                f' WHERE "RUN_ID" = {p[3]} AND "OWNER" = {p[4]} AND "STATUS" = {p[5]}',
                (
                    plan.status.value,
                    self._detail(plan),
                    _ms(plan.finished_at),
                    plan.run_id,
                    owner,
                    RunStatus.RUNNING.value,
                ),
            )
            return bool(cur.rowcount == 1)

        return self._run("plan.update_failed", {"run_id": plan.run_id}, work)

    def note_deleted(self, run_id: str, entity: str, deleted: int) -> IOResult[None, SinkError]:
        d = self.db.dialect

        def work(cur: Any) -> None:
            plan = self._select_plan(cur, run_id)
            if plan is None:
                return
            kept = tuple((e, n) for e, n in plan.deleted if e != entity)
            detail = self._detail(replace(plan, deleted=(*kept, (entity, deleted))))
            p = self._p(2)
            d.bind_types(cur, [ColumnType.JSON, None])
            cur.execute(
                f'UPDATE "{PLANS_TABLE}" SET "DETAIL" = {p[0]} WHERE "RUN_ID" = {p[1]}',
                (detail, run_id),
            )

        return self._run("plan.update_failed", {"run_id": run_id}, work)

    def fail_task(
        self, run_id: str, entity: str, index: int, error: str
    ) -> IOResult[bool, SinkError]:
        def work(cur: Any) -> bool:
            p = self._p(6)
            cur.execute(
                f'UPDATE "{TASKS_TABLE}" SET "STATUS" = {p[0]}, "OWNER" = NULL,'
                f' "LEASE_UNTIL" = NULL, "ERROR" = {p[1]}'
                f' WHERE "RUN_ID" = {p[2]} AND "ENTITY" = {p[3]} AND "IDX" = {p[4]}'
                f' AND "STATUS" = {p[5]}',
                (
                    TaskStatus.FAILED.value,
                    error[:4000],
                    run_id,
                    entity,
                    index,
                    TaskStatus.PENDING.value,
                ),
            )
            return bool(cur.rowcount == 1)

        return self._run("plan.update_failed", {"run_id": run_id}, work)

    def cancel(self, run_id: str, reason: str) -> IOResult[int, SinkError]:
        def work(cur: Any) -> int:
            p = self._p(5)
            cur.execute(
                f'UPDATE "{TASKS_TABLE}" SET "STATUS" = {p[0]}, "OWNER" = NULL,'
                f' "LEASE_UNTIL" = NULL, "ERROR" = {p[1]}'
                f' WHERE "RUN_ID" = {p[2]} AND "STATUS" = {p[3]}{_plan_is(p[4])}',
                (
                    TaskStatus.CANCELLED.value,
                    reason[:4000],
                    run_id,
                    TaskStatus.PENDING.value,
                    RunStatus.RUNNING.value,
                ),
            )
            return int(cur.rowcount)

        return self._run("plan.update_failed", {"run_id": run_id}, work)


def _columns(names: Sequence[str]) -> str:
    return ", ".join(quote(name) for name in names)
