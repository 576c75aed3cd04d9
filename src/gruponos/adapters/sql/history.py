"""Run history in table ``GNOS_RUNS``: the report's JSON plus the columns people filter on."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from returns.io import IOResult

from gruponos.adapters.sql.ddl import RUNS_TABLE
from gruponos.application.errors import SinkError
from gruponos.application.ports import RunQuery
from gruponos.domain.checkpoints import Checkpoint, SyncMode
from gruponos.domain.quality import Finding
from gruponos.domain.runs import EntityReport, RunStatus, SyncReport
from gruponos.domain.schema import ColumnType

if TYPE_CHECKING:
    from gruponos.adapters.sql.database import SqlDatabase

_COUNTS = (
    "read",
    "written",
    "stale",
    "quarantined",
    "deleted",
    "pages",
    "retried_requests",
    "batches",
    "inconsistent_references",
)


def report_from_json(data: Mapping[str, Any]) -> SyncReport:
    """Inverse of :meth:`SyncReport.to_json` (totals are derived, so not read back).

    Raises ``ValueError``/``KeyError`` on a corrupt document.
    """
    finished = data.get("finished_at")
    return SyncReport(
        run_id=str(data["run_id"]),
        mode=SyncMode(data["mode"]),
        started_at=datetime.fromisoformat(data["started_at"]),
        finished_at=None if finished is None else datetime.fromisoformat(finished),
        status=RunStatus(data["status"]),
        entities=tuple(_entity_from_json(e, data["mode"]) for e in data.get("entities", ())),
        error=data.get("error"),
        dry_run=bool(data.get("dry_run", False)),
        triggered_by=data.get("triggered_by"),
        checks=None
        if data.get("checks") is None
        else tuple(Finding.from_json(f) for f in data["checks"]),
    )


def _entity_from_json(data: Mapping[str, Any], run_mode: str) -> EntityReport:
    checkpoint = data.get("checkpoint")
    return EntityReport(
        entity=str(data["entity"]),
        mode=SyncMode(data.get("mode", run_mode)),
        status=RunStatus(data["status"]),
        seconds=float(data.get("seconds", 0.0)),
        error=data.get("error"),
        checkpoint=Checkpoint.from_json(checkpoint) if checkpoint else None,
        required_nulls=tuple(
            sorted(
                (str(name), int(count))
                for name, count in (data.get("data_quality") or {})
                .get("required_but_null", {})
                .items()
            )
        ),
        warnings=tuple(str(w) for w in data.get("warnings", ())),
        **{key: int(data.get(key, 0)) for key in _COUNTS},
    )


class SqlRunHistory:
    """:class:`~gruponos.application.ports.RunHistory` in the sink's database."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    def record(self, report: SyncReport) -> IOResult[None, SinkError]:
        d = self.db.dialect
        doc = json.dumps(_with_entity_modes(report), sort_keys=True)
        started = d.to_db(ColumnType.TIMESTAMP, report.started_at)
        finished = (
            None
            if report.finished_at is None
            else d.to_db(ColumnType.TIMESTAMP, report.finished_at)
        )
        ts, js = ColumnType.TIMESTAMP, ColumnType.JSON
        values = (report.mode.value, report.status.value, started, finished, doc, report.run_id)

        def work(cur: Any) -> None:
            self.db.ensure_meta(cur)
            d.bind_types(cur, [None, None, ts, ts, js, None])
            cur.execute(
                f'UPDATE "{RUNS_TABLE}" SET "RUN_MODE" = {d.param(0)}, "STATUS" = {d.param(1)},'
                f' "STARTED_AT" = {d.ts_param(2)}, "FINISHED_AT" = {d.ts_param(3)},'
                f' "REPORT" = {d.param(4)} WHERE "RUN_ID" = {d.param(5)}',
                values,
            )
            if cur.rowcount == 0:
                d.bind_types(cur, [None, None, None, ts, ts, js])
                cur.execute(
                    f'INSERT INTO "{RUNS_TABLE}" ("RUN_ID", "RUN_MODE", "STATUS", "STARTED_AT",'
                    f' "FINISHED_AT", "REPORT") VALUES ({d.param(0)}, {d.param(1)}, {d.param(2)},'
                    f" {d.ts_param(3)}, {d.ts_param(4)}, {d.param(5)})",
                    (report.run_id, *values[:-1]),
                )

        return self.db.run(SinkError, "runs.record_failed", {"run_id": report.run_id}, work)

    def list_runs(self, limit: int) -> IOResult[tuple[SyncReport, ...], SinkError]:
        """The newest ``limit`` runs, newest first."""

        def work(cur: Any) -> tuple[SyncReport, ...]:
            self.db.ensure_meta(cur)
            cur.execute(
                f'SELECT "REPORT" FROM "{RUNS_TABLE}" ORDER BY "STARTED_AT" DESC, "RUN_ID" DESC'
            )
            return tuple(self._report(row[0]) for row in cur.fetchmany(max(limit, 0)))

        return self.db.run(SinkError, "runs.read_failed", {}, work)

    def get_run(self, run_id: str) -> IOResult[SyncReport | None, SinkError]:
        d = self.db.dialect

        def work(cur: Any) -> SyncReport | None:
            self.db.ensure_meta(cur)
            cur.execute(
                f'SELECT "REPORT" FROM "{RUNS_TABLE}" WHERE "RUN_ID" = {d.param(0)}', (run_id,)
            )
            row = cur.fetchone()
            return None if row is None else self._report(row[0])

        return self.db.run(SinkError, "runs.read_failed", {"run_id": run_id}, work)

    def running(self) -> IOResult[tuple[SyncReport, ...], SinkError]:
        """Every run recorded as running (alive, or dead without a word: see abandoned)."""
        d = self.db.dialect

        def work(cur: Any) -> tuple[SyncReport, ...]:
            self.db.ensure_meta(cur)
            cur.execute(
                f'SELECT "REPORT" FROM "{RUNS_TABLE}" WHERE "STATUS" = {d.param(0)}'
                ' ORDER BY "STARTED_AT"',
                (RunStatus.RUNNING.value,),
            )
            return tuple(self._report(row[0]) for row in cur.fetchall())

        return self.db.run(SinkError, "runs.read_failed", {}, work)

    def find_runs(self, query: RunQuery) -> IOResult[tuple[SyncReport, ...], SinkError]:
        """The runs matching ``query``, newest first, after its cursor (keyset pagination)."""
        d = self.db.dialect
        where: list[str] = []
        values: list[Any] = []
        types: list[Any] = []

        def bind(value: Any, kind: Any = None) -> str:
            values.append(value)
            types.append(kind)
            index = len(values) - 1
            return d.ts_param(index) if kind is ColumnType.TIMESTAMP else d.param(index)

        if query.mode is not None:
            where.append(f'"RUN_MODE" = {bind(query.mode.value)}')
        if query.status is not None:
            where.append(f'"STATUS" = {bind(query.status.value)}')
        if query.after is not None:
            ts = ColumnType.TIMESTAMP
            started, run_id = query.after
            where.append(
                f'("STARTED_AT" < {bind(d.to_db(ts, started), ts)} OR ("STARTED_AT" = '
                f'{bind(d.to_db(ts, started), ts)} AND "RUN_ID" < {bind(run_id)}))'
            )
        clause = f" WHERE {' AND '.join(where)}" if where else ""

        limit = max(query.limit, 0)
        # The database stops at the page (an int of ours, not a value from outside): a history
        # of thousands of runs is not shipped to be cut here.
        rows = f" LIMIT {limit}" if d.name == "sqlite" else f" FETCH FIRST {limit} ROWS ONLY"

        def work(cur: Any) -> tuple[SyncReport, ...]:
            self.db.ensure_meta(cur)
            d.bind_types(cur, types)
            cur.execute(
                f'SELECT "REPORT" FROM "{RUNS_TABLE}"{clause}'
                f' ORDER BY "STARTED_AT" DESC, "RUN_ID" DESC{rows}',
                tuple(values),
            )
            return tuple(self._report(row[0]) for row in cur.fetchall())

        return self.db.run(SinkError, "runs.read_failed", {}, work)

    def _report(self, text: Any) -> SyncReport:
        return report_from_json(orjson.loads(self.db.dialect.from_db_text(text) or "{}"))


def _with_entity_modes(report: SyncReport) -> dict[str, Any]:
    # SyncReport.to_json leaves out each entity's mode; keep it so the report rebuilds exactly.
    doc = report.to_json()
    for entity_doc, entity in zip(doc["entities"], report.entities, strict=True):
        entity_doc["mode"] = entity.mode.value
    return doc
