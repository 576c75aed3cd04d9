"""PostgreSQL COPY text formatted straight from records: the exact text, and when it gives up.

Whether PostgreSQL stores the same rows from this text as from the prepared rows is checked
against a real server in ``tests/integration/sql/test_pg_bulk_path.py``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gruponos.adapters.sql import ddl
from gruponos.adapters.sql.pgcopy import EPOCH, copy_layout, copy_text, epoch_micros
from gruponos.adapters.sql.rows import BatchMeta
from gruponos.domain.records import NormalizedRecord
from gruponos.domain.schema import FieldType, SourceField, build_schema

SCHEMA = build_schema(
    "item",
    [
        SourceField("id", FieldType.PK),
        SourceField("mod_ts", FieldType.DATETIME),
        SourceField("qty", FieldType.INTEGER),
        SourceField("amount", FieldType.DECIMAL),
        SourceField("code", FieldType.VARCHAR, max_length=8),
        SourceField("rush_flg", FieldType.BOOLEAN),
        SourceField("ship_date", FieldType.DATE),
        SourceField("lines", FieldType.JSON),
    ],
).unwrap()
SPEC = ddl.table_spec(SCHEMA, "WMS_", history=False, limit=63)
T0 = datetime(2024, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
META = BatchMeta(datetime(2024, 3, 2, tzinfo=UTC), "run-1", "gen-1")


def rec(rid: int = 1, extra: dict[str, Any] | None = None, **changes: Any) -> NormalizedRecord:
    values: dict[str, Any] = {
        "ID": rid,
        "MOD_TS": T0,
        "QTY": 7,
        "AMOUNT": Decimal("12.50"),
        "CODE": "A-1",
        "RUSH_FLG": True,
        "SHIP_DATE": date(2024, 3, 4),
        "LINES": "[1, 2]",
        **changes,
    }
    return NormalizedRecord(rid, T0, values, extra)


def text_of(*records: NormalizedRecord, meta: BatchMeta = META) -> str:
    payload = copy_text(SPEC, records, meta)
    assert payload is not None
    return payload.decode("utf-8")


def fields(*records: NormalizedRecord, meta: BatchMeta = META) -> list[dict[str, str]]:
    """Each line of the COPY text as ``{bound column: field}``."""
    text = text_of(*records, meta=meta)
    assert text.endswith("\n")
    lines = text[:-1].split("\n")
    return [dict(zip(SPEC.bound_names, line.split("\t"), strict=True)) for line in lines]


def test_a_row_is_each_value_as_psycopg_writes_it_then_the_metadata() -> None:
    assert SPEC.bound_names == (
        *("ID", "MOD_TS", "AMOUNT", "CODE", "LINES", "QTY", "RUSH_FLG", "SHIP_DATE"),
        *("GNOS_LOADED_AT", "GNOS_RUN_ID", "GNOS_SEEN_GEN", "GNOS_EXTRA"),
    )
    # timestamps as microseconds since the epoch: 2024-03-01T12:00:00.25Z, 2024-03-02T00:00Z
    assert text_of(rec()) == (
        "1\t1709294400250000\t12.50\tA-1\t[1, 2]\t7\tt\t2024-03-04"
        "\t1709337600000000\trun-1\tgen-1\t\\N\n"
    )


@settings(max_examples=300)
@given(
    instant=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
    minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_epoch_micros_keep_the_instant_to_the_microsecond(instant: datetime, minutes: int) -> None:
    shown = instant.astimezone(timezone(timedelta(minutes=minutes)))  # any offset, same instant
    micros = epoch_micros(shown)
    assert EPOCH + timedelta(microseconds=micros) == instant


def test_a_naive_timestamp_is_left_to_the_prepared_path() -> None:
    naive = datetime(2024, 3, 1, 12)
    assert copy_text(SPEC, [rec(MOD_TS=naive)], META) is None


def test_nulls_missing_keys_false_and_extra_fields() -> None:
    nulls = rec(2, {"note": 'say "hi"', "n": 1}, QTY=None, AMOUNT=None, RUSH_FLG=False)
    del nulls.values["CODE"], nulls.values["LINES"]
    [row] = fields(nulls, meta=BatchMeta(META.loaded_at, "run-1", None))
    assert [row[n] for n in ("QTY", "AMOUNT", "CODE", "LINES", "GNOS_SEEN_GEN")] == ["\\N"] * 5
    assert row["RUSH_FLG"] == "f"
    assert row["GNOS_EXTRA"] == '{"note": "say \\\\"hi\\\\"", "n": 1}'  # JSON's \" escaped again


def test_only_what_copy_must_escape_is_escaped() -> None:
    rows = fields(rec(1, CODE="a\\b\tc"), rec(2, CODE="\\N"), rec(3, CODE="x\ny\rz", LINES="\x07"))
    assert [r["CODE"] for r in rows] == ["a\\\\b\\tc", "\\\\N", "x\\ny\\rz"]
    assert [r["LINES"] for r in rows] == ["[1, 2]", "[1, 2]", "\x07"]  # other controls are data
    assert fields(rec(CODE="é漢🙂"))[0]["CODE"] == "é漢🙂"


def test_the_metadata_is_escaped_too() -> None:
    [row] = fields(rec(), meta=BatchMeta(META.loaded_at, "run\t1", "gen\\1"))
    assert (row["GNOS_RUN_ID"], row["GNOS_SEEN_GEN"]) == ("run\\t1", "gen\\\\1")


def test_other_time_zones_keep_their_instant() -> None:
    local = datetime(2024, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=-3)))  # 12:00 UTC
    assert fields(rec(MOD_TS=local))[0]["MOD_TS"] == "1709294400000000"


@pytest.mark.parametrize(
    "changes",
    [
        {"QTY": True},  # a bool in an integer column
        {"QTY": "7"},
        {"QTY": 2**63},
        {"QTY": -(2**63) - 1},
        {"AMOUNT": Decimal("NaN")},
        {"AMOUNT": Decimal("sNaN")},
        {"AMOUNT": Decimal("-Infinity")},
        {"AMOUNT": 1.5},
        {"AMOUNT": 3},
        {"CODE": 12},
        {"CODE": "nul\x00"},
        {"CODE": "lone\udc80"},
        {"LINES": "\ud800"},
        {"RUSH_FLG": 1},
        {"SHIP_DATE": datetime(2024, 3, 4, tzinfo=UTC)},  # a datetime is a date subclass
        {"MOD_TS": "2024-03-01T12:00:00Z"},
    ],
    ids=repr,
)
def test_gives_up_on_what_the_prepared_path_converts_or_refuses(changes: dict[str, Any]) -> None:
    assert copy_text(SPEC, [rec(1), rec(2, **changes)], META) is None


@pytest.mark.parametrize(
    ("extra", "meta"),
    [
        ({"bad": "\udc80"}, META),
        (None, BatchMeta(META.loaded_at, "run\x00", None)),
        (None, BatchMeta(META.loaded_at, "run\udc80", None)),
    ],
    ids=["extra", "run_id NUL", "run_id surrogate"],
)
def test_gives_up_on_metadata_it_cannot_encode(
    extra: dict[str, Any] | None, meta: BatchMeta
) -> None:
    assert copy_text(SPEC, [rec(1, extra)], meta) is None


def test_nulls_and_zeros_do_not_hide_what_is_beside_them() -> None:
    def batch(qty: Any, code: Any) -> list[NormalizedRecord]:
        return [rec(1, QTY=None, CODE=None), rec(2, QTY=0, CODE=""), rec(3, QTY=qty, CODE=code)]

    assert copy_text(SPEC, batch(1, "ok"), META) is not None
    assert copy_text(SPEC, batch(2**63, "ok"), META) is None
    assert copy_text(SPEC, batch(1, "nul\x00"), META) is None
    zeros = [rec(1, AMOUNT=None), rec(2, AMOUNT=Decimal("0E-7")), rec(3, AMOUNT=Decimal("-0"))]
    assert copy_text(SPEC, zeros, META) is not None
    assert copy_text(SPEC, [*zeros, rec(4, AMOUNT=Decimal("NaN"))], META) is None


def test_in_range_extremes_are_kept() -> None:
    rows = fields(rec(QTY=2**63 - 1), rec(2, QTY=-(2**63)))
    assert [r["QTY"] for r in rows] == [str(2**63 - 1), str(-(2**63))]


def test_no_records_no_payload() -> None:
    assert copy_text(SPEC, [], META) is None


def test_the_layout_is_compiled_once_per_table_spec() -> None:
    again = ddl.table_spec(SCHEMA, "WMS_", history=False, limit=63)
    assert copy_layout(again) is copy_layout(SPEC)
