"""The compiled page decoder and the record-by-record normalizer always agree.

A page in JSON text (``JsonRecords``) is decoded and validated by msgspec in one call when it can
be; otherwise it goes record by record. Whatever the page holds, the outcomes must be the ones
``normalize_many`` gives for the same JSON, and a clean page must really take the compiled road.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from gruponos.domain.errors import RecordRejected
from gruponos.domain.normalize import RecordNormalizer
from gruponos.domain.pages import JsonRecords, compile_page_decoder
from gruponos.domain.records import NormalizedRecord, NormalizeOptions
from gruponos.domain.schema import FieldType, SourceField, build_schema
from support.records import allocation, allocation_schema

SCHEMA = allocation_schema()
NORMALIZER = RecordNormalizer(SCHEMA)
DECODER = compile_page_decoder(SCHEMA, NormalizeOptions())

_MISSING = object()

ints = st.one_of(
    st.integers(min_value=-5, max_value=5),
    st.integers(min_value=-(2**70), max_value=2**70),
)
odd = st.one_of(
    st.none(),
    st.booleans(),
    ints,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=25),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["id", "key", "url", "x"]), ints | st.text(max_size=5)),
)
timestamps = st.one_of(
    st.sampled_from(
        [
            "2020-11-20T11:57:14.489559-03:00",
            "2020-11-20T11:57:14Z",
            "2020-11-20T11:57:14z",
            "2020-11-20T11:57:14",
            "2020-11-20 11:57:14+05:30",
            "2020-11-20T11:57:14.1+00:00",
            "2020-02-30T00:00:00+00:00",
            " 2020-11-20T11:57:14+01:00",
            "",
        ]
    ),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
)
decimals = st.one_of(
    st.sampled_from(["540", "0", "-0", "-1", "1E+3", "1e-3", " 12 ", "NaN", "Infinity", "x", ""]),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    ints,
)
relations = st.one_of(
    st.none(),
    ints,
    st.fixed_dictionaries(
        {},
        optional={
            "id": st.one_of(st.none(), ints, st.booleans(), st.text(max_size=3)),
            "key": st.one_of(st.none(), st.text(max_size=8), ints),
            "url": st.text(max_size=8),
            "other": ints,
        },
    ),
)
# Values of the right JSON type that the plan may still refuse or read differently: a page of
# these reaches the compiled road, which must then agree value for value.
TYPED: dict[str, st.SearchStrategy[Any]] = {
    "id": st.integers(min_value=-3, max_value=2**70),
    "mod_ts": timestamps,
    "create_ts": st.one_of(st.none(), timestamps),
    "alloc_qty": st.one_of(st.none(), decimals),
    "task_seq_nbr": st.one_of(st.none(), ints),
    "is_picking_flg": st.one_of(st.none(), st.booleans()),
    "pick_locn_str": st.one_of(st.none(), st.text(max_size=22)),
    "order_dtl_id": relations,
    "wave_id": relations,
    "status_id": st.one_of(st.none(), ints),
    "picked_date": st.one_of(
        st.none(), st.sampled_from(["2020-11-20", "2020-13-01", " 2020-11-20", ""])
    ),
    "notes_set": odd,
    "url": st.one_of(st.none(), st.text(max_size=10)),
}


@st.composite
def raw_records(draw: st.DrawFn) -> Any:
    record_id = draw(st.integers(min_value=1, max_value=10**6))
    record: dict[str, Any] = allocation(record_id)
    changed = draw(st.lists(st.sampled_from(sorted(TYPED)), max_size=3, unique=True))
    hostile = draw(st.integers(min_value=0, max_value=3)) == 0
    for name in changed:
        value = draw(st.one_of(odd, st.just(_MISSING)) if hostile else TYPED[name])
        if value is _MISSING:
            record.pop(name, None)
        else:
            record[name] = value
    if hostile and draw(st.booleans()):
        record["unknown_field"] = draw(odd)
    if hostile and draw(st.integers(min_value=0, max_value=5)) == 0:
        return draw(odd)  # not an object at all
    return record


def _outcome(outcome: NormalizedRecord | RecordRejected) -> tuple[Any, ...]:
    if isinstance(outcome, NormalizedRecord):
        return ("ok", outcome.id, outcome.mod_ts, outcome.values, outcome.extra)
    return ("rejected", outcome.code, outcome.message, outcome.context, outcome.problems)


def _page(records: list[Any]) -> tuple[bytes, JsonRecords]:
    # ensure_ascii: lone surrogates travel as \\ud800 escapes, as a real API could send them
    raw = json.dumps(records, ensure_ascii=True).encode()
    return raw, JsonRecords(raw, len(records))


@settings(max_examples=400)
@given(records=st.lists(raw_records(), max_size=4))
def test_a_page_in_json_text_gives_the_record_by_record_outcomes(records: list[Any]) -> None:
    raw, page = _page(records)
    expected = NORMALIZER.normalize_many(msgspec.json.decode(raw))
    got = NORMALIZER.normalize_page(page)
    assert [_outcome(o) for o in got] == [_outcome(o) for o in expected]


clean = st.builds(
    lambda rid, qty, ts, key, flag: allocation(
        rid,
        mod_ts=ts,
        alloc_qty=qty,
        order_dtl_id={"id": rid, "key": key, "url": "u"},
        is_picking_flg=flag,
    ),
    st.integers(min_value=1, max_value=2**62),
    st.decimals(allow_nan=False, allow_infinity=False, min_value=0, places=4).map(str),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.one_of(st.none(), st.text(max_size=10)),
    st.booleans(),
)


@settings(max_examples=200)
@given(records=st.lists(clean, min_size=1, max_size=5))
def test_a_clean_page_takes_the_compiled_road_with_the_same_rows(records: list[Any]) -> None:
    raw, _ = _page(records)
    compiled = DECODER(raw)
    assert compiled is not None, "a well-formed page must not fall back"
    expected = NORMALIZER.normalize_many(msgspec.json.decode(raw))
    assert [_outcome(o) for o in compiled] == [_outcome(o) for o in expected]
    assert all(isinstance(o, NormalizedRecord) for o in compiled)


def test_one_odd_record_sends_the_whole_page_record_by_record() -> None:
    good = allocation(1)
    for odd_record in (
        allocation(2, mod_ts="2020-11-20T11:57:14"),  # no offset: the plan decides
        allocation(2, alloc_qty="-1"),  # a negative quantity
        allocation(2, pick_locn_str="x" * 21),  # too long
        {**allocation(2), "new_field": 1},  # unknown field: kept in extra by the plan
        {k: v for k, v in allocation(2).items() if k != "status_id"},  # missing field
        allocation(2, task_seq_nbr=True),  # a boolean is not an integer
    ):
        raw, page = _page([good, odd_record])
        assert DECODER(raw) is None
        expected = NORMALIZER.normalize_many([good, odd_record])
        assert [_outcome(o) for o in NORMALIZER.normalize_page(page)] == [
            _outcome(o) for o in expected
        ]


def test_json_records_decode_once_and_only_when_read() -> None:
    _, page = _page([allocation(1), allocation(2)])
    assert len(page) == 2
    assert page._items is None  # laziness is the point of the class
    assert [r["id"] for r in page] == [1, 2]
    assert page[1]["id"] == 2
    assert page[0:1] == [allocation(1)]


def test_field_names_msgspec_cannot_map_go_record_by_record_with_the_same_outcomes() -> None:
    hostile = 'name"; DROP TABLE CANARY; --'
    schema = build_schema(
        "allocation",
        [
            SourceField("id", FieldType.PK),
            SourceField("mod_ts", FieldType.DATETIME),
            SourceField(hostile, FieldType.VARCHAR),
            SourceField("back\\slash", FieldType.INTEGER),
            SourceField("ctl\x01", FieldType.INTEGER),
        ],
    ).unwrap()
    normalizer = RecordNormalizer(schema)
    records = [
        {
            "id": 1,
            "mod_ts": "2020-11-20T11:57:14-03:00",
            hostile: "x",
            "back\\slash": 2,
            "ctl\x01": 3,
        }
    ]
    raw, page = _page(records)
    assert compile_page_decoder(schema, NormalizeOptions())(raw) is None
    outcomes = normalizer.normalize_page(page)
    assert [_outcome(o) for o in outcomes] == [
        _outcome(o) for o in normalizer.normalize_many(msgspec.json.decode(raw))
    ]
    assert isinstance(outcomes[0], NormalizedRecord)
