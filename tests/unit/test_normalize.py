"""Record normalization: flattening, exact decimals, UTC instants, quarantine reasons."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest
from returns.pipeline import is_successful

from gruponos.domain.errors import RecordRejected
from gruponos.domain.normalize import RecordNormalizer
from gruponos.domain.pages import JsonRecords
from gruponos.domain.records import NormalizedRecord, NormalizeOptions
from support.records import allocation, allocation_schema, real_allocation_schema


@pytest.fixture
def normalizer() -> RecordNormalizer:
    return RecordNormalizer(allocation_schema())


def test_a_real_record_is_flattened_and_typed(normalizer: RecordNormalizer) -> None:
    record = normalizer.normalize(allocation(2)).unwrap()
    values = record.values
    assert values["ORDER_DTL_ID"] == 20
    assert values["ORDER_DTL_KEY"] == "ORD2,1"
    assert values["WAVE_ID"] is None
    assert values["WAVE_KEY"] is None
    assert values["ALLOC_QTY"] == Decimal("540")
    assert values["IS_PICKING_FLG"] is False
    assert values["STATUS_ID"] == 99
    assert "NOTES_SET" not in values
    assert "URL" not in values
    assert record.mod_ts == datetime(2020, 11, 20, 14, 57, 14, 489559, tzinfo=UTC)
    assert record.extra is None


def test_the_offset_is_converted_never_replaced(normalizer: RecordNormalizer) -> None:
    record = normalizer.normalize(allocation(1, mod_ts="2021-01-01T00:30:00+05:30")).unwrap()
    assert record.mod_ts == datetime(2020, 12, 31, 19, 0, tzinfo=UTC)


def test_unknown_fields_are_kept_in_extra(normalizer: RecordNormalizer) -> None:
    record = normalizer.normalize(allocation(1, brand_new_field=[1, 2])).unwrap()
    assert record.extra == {"brand_new_field": [1, 2]}


def test_every_problem_of_a_record_is_reported(normalizer: RecordNormalizer) -> None:
    raw = allocation(
        7,
        alloc_qty="12,5",
        mod_ts="yesterday",
        is_picking_flg="Y",
        pick_locn_str="X" * 21,
        task_seq_nbr=-1,
    )
    failure = normalizer.normalize(raw).failure()
    fields = {p.field: p.code for p in failure.problems}
    assert fields == {
        "alloc_qty": "decimal",
        "mod_ts": "timestamp",
        "is_picking_flg": "type",
        "pick_locn_str": "too_long",
    }
    assert failure.context == {"entity": "allocation", "id": 7}
    assert "alloc_qty" in failure.reason and "mod_ts" in failure.reason


def test_negative_quantities_are_rejected(normalizer: RecordNormalizer) -> None:
    failure = normalizer.normalize(allocation(1, alloc_qty="-1")).failure()
    assert [p.code for p in failure.problems] == ["negative"]


def test_missing_id_or_mod_ts_is_rejected(normalizer: RecordNormalizer) -> None:
    raw = allocation(1)
    del raw["mod_ts"]
    assert [p.field for p in normalizer.normalize(raw).failure().problems] == ["mod_ts"]
    assert not is_successful(normalizer.normalize({"mod_ts": "2020-01-01T00:00:00Z"}))


def test_a_non_object_is_rejected(normalizer: RecordNormalizer) -> None:
    assert normalizer.normalize(["not", "a", "record"]).failure().problems[0].field == "<record>"


def test_naive_timestamps_need_a_default_time_zone() -> None:
    raw = allocation(1, mod_ts="2020-11-20T11:57:14")
    assert not is_successful(RecordNormalizer(allocation_schema()).normalize(raw))
    sao_paulo = timezone(timedelta(hours=-3))
    options = NormalizeOptions(default_tz=sao_paulo)
    record = RecordNormalizer(allocation_schema(), options).normalize(raw).unwrap()
    assert record.mod_ts == datetime(2020, 11, 20, 14, 57, 14, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1E+3", Decimal("1E+3")),
        (5, Decimal(5)),
        (0.1, Decimal("0.1")),
        (" 2.50 ", Decimal("2.50")),
    ],
)
def test_decimals_are_exact(normalizer: RecordNormalizer, value: object, expected: Decimal) -> None:
    record = normalizer.normalize(allocation(1, alloc_qty=value)).unwrap()
    assert record.values["ALLOC_QTY"] == expected
    assert str(record.values["ALLOC_QTY"]) == str(expected)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "", True, {"a": 1}])
def test_non_finite_or_non_numeric_decimals_are_rejected(
    normalizer: RecordNormalizer, value: object
) -> None:
    assert not is_successful(normalizer.normalize(allocation(1, alloc_qty=value)))


def test_dates_and_bare_relation_ids(normalizer: RecordNormalizer) -> None:
    record = normalizer.normalize(allocation(1, picked_date="2020-02-29", wave_id=5)).unwrap()
    assert record.values["PICKED_DATE"] == date(2020, 2, 29)
    assert (record.values["WAVE_ID"], record.values["WAVE_KEY"]) == (5, None)


def test_integral_strings_are_integers_but_fractions_are_not(normalizer: RecordNormalizer) -> None:
    assert normalizer.normalize(allocation(1, status_id="10")).unwrap().values["STATUS_ID"] == 10
    assert not is_successful(normalizer.normalize(allocation(1, status_id="10.5")))
    assert not is_successful(normalizer.normalize(allocation(1, status_id=False)))


def test_a_null_where_describe_says_required_loads_and_is_counted() -> None:
    # The real describe's letters: wave_id is "Y" (a create must carry it), picked_date "C",
    # pick_locn_str "N"; records read back can hold null in all of them.
    normalizer = RecordNormalizer(real_allocation_schema())
    raws = [
        allocation(1, wave_id=None, status_id=None, pick_locn_str=None),
        allocation(2, wave_id={"id": 7, "key": "W7", "url": ""}, picked_date=None),
        {k: v for k, v in allocation(3).items() if k != "wave_id"},  # absent counts as null
    ]
    for outcomes in (
        normalizer.normalize_many(raws),
        normalizer.normalize_page(JsonRecords(orjson.dumps(raws))),  # a page with a gap
        normalizer.normalize_page(JsonRecords(orjson.dumps(raws[:2]))),  # the compiled road
    ):
        assert all(isinstance(o, NormalizedRecord) for o in outcomes), outcomes
        expected = {"wave_id": 2, "status_id": 1} if len(outcomes) == 3 else {"wave_id": 1}
        expected |= {"status_id": 1}
        assert normalizer.required_nulls(outcomes) == expected


def test_only_a_bad_id_or_mod_ts_or_an_unfit_value_rejects_under_the_real_describe() -> None:
    normalizer = RecordNormalizer(real_allocation_schema())
    assert isinstance(normalizer.normalize(allocation(1, mod_ts=None)).failure(), RecordRejected)
    assert isinstance(normalizer.normalize(allocation(1, id=None)).failure(), RecordRejected)
    assert isinstance(normalizer.normalize(allocation(1, id="x1")).failure(), RecordRejected)
    unfit = normalizer.normalize(allocation(2, alloc_qty="lots")).failure()
    assert [p.field for p in unfit.problems] == ["alloc_qty"]
    rejected = [allocation(3, mod_ts=None)]
    assert normalizer.required_nulls(normalizer.normalize_many(rejected)) == {}


def test_an_instant_before_year_1_in_utc_is_rejected_not_raised(
    normalizer: RecordNormalizer,
) -> None:
    rejected = normalizer.normalize(allocation(1, create_ts="0001-01-01T00:00:00+02:34")).failure()
    assert [(p.field, p.code) for p in rejected.problems] == [("create_ts", "timestamp")]


def test_empty_text_is_null_on_every_road(normalizer: RecordNormalizer) -> None:
    # One rule on every sink: Oracle cannot store '' apart from NULL, so no sink does.
    raws = [allocation(1, pick_locn_str="", order_dtl_id={"id": 5, "key": "", "url": ""})]
    roads = (
        normalizer.normalize_many(raws),
        normalizer.normalize_page(JsonRecords(orjson.dumps(raws))),
        [normalizer.normalize(raws[0]).unwrap()],
    )
    for (record,) in roads:
        assert isinstance(record, NormalizedRecord)
        assert record.values["PICK_LOCN_STR"] is None
        assert (record.values["ORDER_DTL_ID"], record.values["ORDER_DTL_KEY"]) == (5, None)
