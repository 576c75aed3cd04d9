"""The scheduler's fire claims on Oracle: the SQL (golden files, parsed as Oracle SQL) and the
calls made through the recording driver. No Oracle server runs here."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from returns.unsafe import unsafe_perform_io
from sqlglot import exp

from gruponos.adapters.sql import SqlBackend
from gruponos.adapters.sql.fires import FIRES_TABLE, SqlFireClaims, claim_sql, fires_table
from support.golden import assert_matches_golden
from support.oracle_fake import FakeOracle, oracle_dialect

GOLDEN = Path(__file__).parent / "golden"
T0 = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)


def _statements() -> dict[str, str]:
    dialect = oracle_dialect(FakeOracle())
    select, insert = claim_sql(dialect)
    return {
        "oracle_gnos_schedule_fires": fires_table(dialect),
        "oracle_schedule_fire_select": select,
        "oracle_schedule_fire_insert": insert,
    }


STATEMENTS = _statements()


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_fire_claim_sql_matches_golden_file_and_parses_as_oracle(name: str) -> None:
    assert_matches_golden(GOLDEN / f"{name}.sql", STATEMENTS[name])
    tree = sqlglot.parse_one(STATEMENTS[name], read="oracle")
    assert not isinstance(tree, exp.Command)


def _claims(server: FakeOracle) -> tuple[SqlFireClaims, list[tuple[Any, ...]]]:
    dialect = oracle_dialect(server)
    backend = SqlBackend(dialect, dialect.connect(), where="oracle://gruponos@fake:1521/FREEPDB1")
    return SqlFireClaims(backend.db), backend.db.conn.calls


def test_a_claim_creates_the_table_once_then_inserts_in_a_savepoint() -> None:
    server = FakeOracle()
    claims, calls = _claims(server)
    assert unsafe_perform_io(claims.claim("incremental", T0, "host:1").unwrap())
    assert unsafe_perform_io(claims.claim("full", T0, "host:1").unwrap())
    assert server.ddl_log.count(fires_table(claims.db.dialect)) == 1
    executed = [c[1].split(" (")[0] for c in calls if c[0] == "execute"]
    assert executed.count(f'INSERT INTO "{FIRES_TABLE}"') == 2
    assert executed.count("SAVEPOINT GNOS_CLAIM") == 2
    insert = next(c for c in calls if c[0] == "execute" and str(c[1]).startswith("INSERT"))
    pipeline, fire_time, owner, _claimed = insert[2]
    assert (pipeline, owner) == ("incremental", "host:1")
    assert fire_time == datetime(2026, 12, 3, 18, 0)  # naive UTC into TIMESTAMP(6)
    assert ("commit",) in calls


def test_a_refused_insert_with_no_row_behind_it_is_a_failure_not_a_lost_race() -> None:
    server = FakeOracle()
    claims, calls = _claims(server)
    server.inject(1, f'INSERT INTO "{FIRES_TABLE}"', detail="unique constraint violated")
    error = unsafe_perform_io(claims.claim("incremental", T0, "host:1").failure())
    assert error.code == "schedule.claim_failed"
    assert error.message.startswith("ORA-00001")
    assert ("execute", "ROLLBACK TO SAVEPOINT GNOS_CLAIM", None) in calls
