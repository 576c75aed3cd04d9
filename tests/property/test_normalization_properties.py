"""Normalization is exact: instants kept, decimals exact, relations reversible."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from gruponos.domain.normalize import RecordNormalizer
from support.records import allocation, allocation_schema

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
        assert flat == (relation["id"], relation["key"])
