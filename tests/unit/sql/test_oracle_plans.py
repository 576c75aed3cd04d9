"""The run plans' SQL on Oracle: every statement SqlRunPlans sends (golden file, parsed as Oracle
SQL by sqlglot), recorded through the recording driver. No Oracle server runs here; the lease and
fence behaviour itself is the contract suite's (tests/contract/test_run_plans_contract.py), run on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlglot
from returns.unsafe import unsafe_perform_io
from sqlglot import exp

from gruponos.adapters.sql import SqlBackend
from gruponos.adapters.sql.plans import PLANS_TABLE, TASKS_TABLE, SqlRunPlans
from gruponos.application.ports import TaskCommit
from gruponos.domain.batches import Batch
from gruponos.domain.checkpoints import Position, SyncMode
from gruponos.domain.scaleout import RunPlan, TaskCounts, TaskState, TaskStatus
from support.distributed import err
from support.golden import assert_matches_golden
from support.oracle_fake import FakeOracle, oracle_dialect
from support.sqlsink import T0, record, schema

GOLDEN = Path(__file__).parent / "golden" / "oracle_run_plans.sql"
LEASE = timedelta(seconds=60)


def _exercise() -> tuple[list[str], list[tuple[Any, ...]], str]:
    """Every method of the store once; the plan statements sent, all calls, the fence's error."""
    dialect = oracle_dialect(FakeOracle())
    backend = SqlBackend(dialect, dialect.connect(), where="oracle recording")
    unsafe_perform_io(backend.sink.prepare(schema()).unwrap())
    plans = SqlRunPlans(backend.sink)
    plan = RunPlan(
        "r1", SyncMode.FULL, ("order_hdr",), T0, high_water=(("order_hdr", Position(T0, 9)),)
    )
    task = TaskState("r1", "order_hdr", 0, "window", lease_until=T0 + LEASE)
    plans.create(plan, [task])
    plans.claim("r1", "order_hdr", 0, "w1", T0, T0 + LEASE)
    batch = Batch("order_hdr", "r1", (record(1, 1),), generation="r1")
    full = TaskCommit(read=1, lease_until=T0 + LEASE, last_id=1)
    # The recording driver answers every UPDATE of these tables with no row: the fence refuses.
    fenced = err(plans.commit(batch, task, "w1", full))
    plans.commit(batch, task, "w1", TaskCommit(read=1, lease_until=T0, position=Position(T0, 1)))
    plans.tasks("r1")
    plans.open_plans()
    plans.end_task(task, "w1", TaskStatus.DONE, TaskCounts(pages=1))
    plans.release(task, "w1", TaskCounts())
    plans.claim_run("r1", "f1", T0, T0 + LEASE)
    plans.close_run(plan, "f1")
    plans.note_deleted("r1", "order_hdr", 3)
    plans.cancel("r1", "cancelled")
    plans.fail_task("r1", "order_hdr", 0, "gave up")
    calls = backend.db.conn.calls
    sent: list[str] = []
    for call in calls:
        if (
            call[0] in ("execute", "executemany")
            and (PLANS_TABLE in call[1] or TASKS_TABLE in call[1])
            and call[1] not in sent
        ):
            sent.append(call[1])
    return sent, calls, fenced.code


def test_plan_sql_matches_golden_file_and_parses_as_oracle() -> None:
    sent, _, _ = _exercise()
    assert_matches_golden(GOLDEN, ";\n\n".join(sent))
    assert any(s.startswith(f'CREATE TABLE "{TASKS_TABLE}"') for s in sent)
    for statement in sent:
        tree = sqlglot.parse_one(statement, read="oracle")
        assert not isinstance(tree, exp.Command), statement


def test_a_refused_fence_rolls_the_batch_back() -> None:
    _, calls, code = _exercise()
    assert code == "plan.lease_lost"
    merge = next(i for i, c in enumerate(calls) if c[0] == "executemany" and "MERGE" in c[1])
    fence = next(
        i
        for i, c in enumerate(calls)
        if i > merge
        and c[0] == "execute"
        and c[1].startswith(f'UPDATE "{TASKS_TABLE}" SET "N_READ"')
    )
    after = [c[0] for c in calls[fence + 1 :] if c[0] in ("commit", "rollback")]
    assert after[0] == "rollback"  # the batch's MERGE went with it
