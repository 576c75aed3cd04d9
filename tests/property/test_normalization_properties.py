"""Normalization is exact: instants kept, decimals exact, relations reversible."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from gruponos.domain.errors import RecordRejected
from gruponos.domain.normalize import RecordNormalizer
from gruponos.domain.pages import JsonRecords
from gruponos.domain.records import NormalizedRecord
from support.records import allocation, allocation_schema, real_allocation_schema

NORMALIZER = RecordNormalizer(allocation_schema())

offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
instants = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=300)
@given(instant=instants, offset=offsets)
def test_a_timestamp_in_any_offset_keeps_its_instant(instant: datetime, offset: timezone) -> None:
    text = instant.astimezone(offset).isoformat()
    record = NORMALIZER.normalize(allocation(1, mod_ts=text)).unwrap()
    assert record.mod_ts == instant
    assert record.mod_ts.utcoffset() == timedelta(0)


@settings(max_examples=300)
@given(
    value=st.decimals(
        allow_nan=False, allow_infinity=False, min_value=0, max_value=10**30, places=None
    )
)
def test_decimal_strings_stay_exact(value: Decimal) -> None:
    record = NORMALIZER.normalize(allocation(1, alloc_qty=str(value))).unwrap()
    stored = record.values["ALLOC_QTY"]
    assert isinstance(stored, Decimal)
    assert stored == value
    assert stored.as_tuple() == value.as_tuple()  # not even the exponent changes


relations = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "id": st.one_of(st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1)),
            "key": st.one_of(st.none(), st.text(max_size=40)),
            "url": st.one_of(st.just(""), st.text(max_size=20)),
        }
    ),
)


@settings(max_examples=300)
@given(relation=relations)
def test_relation_flattening_is_total_and_reversible(relation: dict[str, object] | None) -> None:
    record = NORMALIZER.normalize(allocation(1, order_dtl_id=relation)).unwrap()
    flat = (record.values["ORDER_DTL_ID"], record.values["ORDER_DTL_KEY"])
    if relation is None:
        assert flat == (None, None)
    else:
        assert flat == (relation["id"], relation["key"] or None)  # empty text is NULL


# -- describe's "required" never rejects a record -----------------------------------------------

REAL = RecordNormalizer(real_allocation_schema())
NON_KEY = sorted(n for n in allocation(1) if n not in ("id", "mod_ts", "url"))
# For each field, a value that does not fit its type (or its rule: quantities are not negative).
UNFIT: dict[str, object] = {
    "create_ts": "yesterday",
    "alloc_qty": "-1",
    "task_seq_nbr": "seven",
    "is_picking_flg": "yes",
    "pick_locn_str": "x" * 21,
    "order_dtl_id": {"id": "one", "key": "K", "url": ""},
    "wave_id": [1],
    "status_id": 1.5,
    "picked_date": "2020-13-45",
}
BAD_KEYS: dict[str, object] = {"id": "ten", "mod_ts": "not a time"}


@settings(max_examples=300)
@given(
    nulls=st.sets(st.sampled_from(NON_KEY)),
    unfit=st.sets(st.sampled_from(sorted(UNFIT)), max_size=2),
    bad_keys=st.sets(st.sampled_from(["id", "mod_ts"]), max_size=1),
    null_keys=st.sets(st.sampled_from(["id", "mod_ts"]), max_size=1),
)
def test_nulls_reject_only_in_id_or_mod_ts_and_only_unfit_values_reject(
    nulls: set[str], unfit: set[str], bad_keys: set[str], null_keys: set[str]
) -> None:
    raw = allocation(1, **dict.fromkeys(nulls))
    raw |= {name: UNFIT[name] for name in unfit}
    raw |= {name: BAD_KEYS[name] for name in bad_keys}
    raw |= dict.fromkeys(null_keys - bad_keys)
    expect_reject = bool(unfit or bad_keys or null_keys)
    page = [raw]
    for outcomes in (
        REAL.normalize_many(page),
        REAL.normalize_page(JsonRecords(orjson.dumps(page))),
    ):
        (outcome,) = outcomes
        if expect_reject:
            assert isinstance(outcome, RecordRejected), raw
            assert {p.field for p in outcome.problems} == unfit | bad_keys | null_keys
        else:
            assert isinstance(outcome, NormalizedRecord), outcome
            required = {"create_ts", "alloc_qty", "order_dtl_id", "wave_id", "status_id"}
            null_now = {name for name, value in raw.items() if value is None}
            assert REAL.required_nulls(outcomes) == dict.fromkeys(null_now & required, 1)
