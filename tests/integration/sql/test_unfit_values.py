"""Any value reaches the sink without failing its batch: values a column cannot hold exactly are
quarantined rows with a reason, on every dialect's path (SQLite; PostgreSQL's COPY fast path and
its prepared, row-by-row path; Oracle through the recording driver)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from returns.io import IOSuccess
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.sql import SqlBackend
from gruponos.domain.batches import Batch, WriteOutcome
from gruponos.domain.records import NormalizedRecord
from support.oracle_fake import FakeOracle, oracle_dialect
from support.sqlsink import T0, BackendFactory, record, schema

HUGE = 10**5000  # str() of it raises ValueError (more than 4,300 digits)

#: (label, column, value): each one a value the column cannot hold exactly.
UNFIT: list[tuple[str, str, Any]] = [
    ("bool in an integer column", "STATUS_ID", True),
    ("integer of 5001 digits", "STATUS_ID", HUGE),
    ("integer beyond 64 bits", "STATUS_ID", 2**64),
    ("str in an integer column", "STATUS_ID", "12"),
    ("float in an integer column", "STATUS_ID", 1.0),
    ("list in an integer column", "STATUS_ID", [1]),
    ("NaN decimal", "TOTAL_QTY", Decimal("NaN")),
    ("signalling NaN decimal", "TOTAL_QTY", Decimal("sNaN")),
    ("infinite decimal", "TOTAL_QTY", Decimal("-Infinity")),
    ("float in a decimal column", "TOTAL_QTY", 1.5),
    ("naive timestamp", "MOD_TS", datetime(2024, 1, 1)),
    ("date in a timestamp column", "MOD_TS", date(2024, 1, 1)),
    (
        "timestamp before year 1 in UTC",
        "MOD_TS",
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
    ),
    ("lone surrogate", "ORDER_NBR", "a\udc80"),
    ("dict in a text column", "ORDER_NBR", {"a": 1}),
    ("bytes in a text column", "ORDER_NBR", b"abc"),
    ("bool in a text column", "ORDER_NBR", False),
    ("int in a boolean column", "RUSH_FLG", 1),
    ("str in a boolean column", "RUSH_FLG", "yes"),
    ("object in a boolean column", "RUSH_FLG", object()),
]


def unfit_batch() -> tuple[Batch, dict[int, str]]:
    """One good record, then one record per unfit value (ids 2..), then another good one."""
    records = [record(1, 1)]
    labels: dict[int, str] = {}
    for rid, (label, column, value) in enumerate(UNFIT, start=2):
        rec = record(rid, rid)
        rec.values[column] = value
        records.append(rec)
        labels[rid] = label
    last = len(UNFIT) + 2
    records.append(record(last, last))
    return Batch("order_hdr", "run-unfit", tuple(records)), labels


@pytest.mark.parametrize("path", ["bulk", "prepared"])
def test_unfit_values_are_quarantined_not_a_failed_batch(
    open_backend: BackendFactory, db_url: str, path: str
) -> None:
    # history=True makes PostgreSQL take the prepared rows (COPY write_row, then row by row)
    backend = open_backend(history=path == "prepared")
    unsafe_perform_io(backend.sink.prepare(schema()).unwrap())
    batch, labels = unfit_batch()
    result = backend.sink.write(batch)
    assert isinstance(result, IOSuccess), result
    assert unsafe_perform_io(result.unwrap()) == WriteOutcome(written=2, quarantined=len(UNFIT))
    assert sorted(unsafe_perform_io(backend.sink.snapshot("order_hdr").unwrap())) == [
        1,
        len(UNFIT) + 2,
    ]
    rows = unsafe_perform_io(backend.sink.quarantined("order_hdr", 100).unwrap())
    reasons = {int(r["record_id"]): r["reason"] for r in rows}
    assert sorted(reasons) == sorted(labels), "every unfit record is quarantined once"
    for rid, reason in reasons.items():
        column = UNFIT[rid - 2][1]
        assert reason.startswith(f"{column}: "), (labels[rid], reason)
    assert "5001 digits" in reasons[3]
    huge = next(r for r in rows if r["record_id"] == "3")
    assert str(Decimal(HUGE)) in huge["payload"]  # the value is kept, not lost


def test_a_record_whose_id_or_mod_ts_is_unusable_is_quarantined(
    open_backend: BackendFactory,
) -> None:
    backend = open_backend()
    unsafe_perform_io(backend.sink.prepare(schema()).unwrap())
    naive = datetime(2024, 1, 1)
    records = (
        record(1, 1),
        NormalizedRecord(HUGE, T0, dict(record(2, 2).values, ID=HUGE)),
        NormalizedRecord(3, naive, dict(record(3, 3).values, MOD_TS=naive)),
    )
    outcome = backend.sink.write(Batch("order_hdr", "r", records))
    assert unsafe_perform_io(outcome.unwrap()) == WriteOutcome(written=1, quarantined=2)
    rows = unsafe_perform_io(backend.sink.quarantined("order_hdr", 10).unwrap())
    assert all(len(r["record_id"]) <= 200 for r in rows)


def test_oracle_quarantines_unfit_values_before_the_merge() -> None:
    server = FakeOracle()
    dialect = oracle_dialect(server)
    backend = SqlBackend(dialect, dialect.connect(), where="oracle fake")
    unsafe_perform_io(backend.sink.prepare(schema()).unwrap())
    batch, labels = unfit_batch()
    result = backend.sink.write(batch)
    # NUMBER holds 2**64 exactly (38 digits): the one value of the list that fits on Oracle
    beyond_64_bits = 2 + [label for label, _, _ in UNFIT].index("integer beyond 64 bits")
    outcome = WriteOutcome(written=3, quarantined=len(UNFIT) - 1)
    assert unsafe_perform_io(result.unwrap()) == outcome
    calls = backend.db.conn.calls
    merged = next(c for c in calls if c[0] == "executemany" and c[1].startswith("MERGE"))
    assert [row[0] for row in merged[2]] == [1, beyond_64_bits, len(UNFIT) + 2]
    quarantined = next(c for c in calls if c[0] == "executemany" and "QUARANTINE" in c[1])
    assert sorted(int(row[1]) for row in quarantined[2]) == sorted(set(labels) - {beyond_64_bits})
