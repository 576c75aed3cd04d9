"""Page bodies checked without building their records: same verdicts as the dict envelope."""

from __future__ import annotations

import orjson
import pytest

from gruponos.adapters.wms_http.responses import (
    MalformedBody,
    page_envelope,
    parse_envelope,
    parse_page_json,
)
from gruponos.domain.errors import RecordRejected
from gruponos.domain.normalize import RecordNormalizer
from gruponos.domain.pages import JsonRecords
from support.records import allocation_schema

GOOD = {"results": [{"id": 1}, {"id": 2, "x": [1, {"y": None}]}], "next_page": "https://w/p2"}


def test_a_good_page_keeps_its_records_as_json_text() -> None:
    envelope = page_envelope(parse_page_json(orjson.dumps({**GOOD, "result_count": 7})))
    assert isinstance(envelope.records, JsonRecords)
    assert not envelope.records.is_empty
    assert len(envelope.records) == 2
    assert list(envelope.records) == GOOD["results"]
    assert (envelope.next_page, envelope.result_count) == ("https://w/p2", 7)


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        "text",
        {"next_page": None},
        {"results": {"id": 1}},
        {"results": "[1]"},
        {"results": [], "next_page": ""},
        {"results": [], "next_page": 3},
    ],
)
def test_a_misshapen_page_gets_the_verdict_of_the_dict_envelope(body: object) -> None:
    content = orjson.dumps(body)
    with pytest.raises(MalformedBody) as from_dicts:
        parse_envelope(orjson.loads(content))
    with pytest.raises(MalformedBody) as from_text:
        page_envelope(parse_page_json(content))
    assert str(from_text.value) == str(from_dicts.value)


@pytest.mark.parametrize("content", [b'{"results": [{"id": 1}', b"<html>502</html>", b""])
def test_broken_json_is_malformed_at_parse_time_so_it_is_retried(content: bytes) -> None:
    with pytest.raises(MalformedBody, match="invalid JSON"):
        parse_page_json(content)


def test_a_bool_result_count_is_ignored_as_before() -> None:
    envelope = page_envelope(parse_page_json(orjson.dumps({"results": [], "result_count": True})))
    assert envelope.result_count is None


@pytest.mark.parametrize("results", [b"[]", b"[ ]", b"[\n\t]"])
def test_an_empty_array_is_known_empty_without_decoding(results: bytes) -> None:
    envelope = page_envelope(parse_page_json(b'{"results": ' + results + b"}"))
    assert isinstance(envelope.records, JsonRecords)
    assert envelope.records.is_empty
    assert envelope.records._items is None  # nothing decoded


def test_items_that_are_not_objects_reach_the_normalizer_which_quarantines_them() -> None:
    envelope = page_envelope(parse_page_json(b'{"results": [{"id": 1}, 2, []]}'))
    normalizer = RecordNormalizer(allocation_schema())
    outcomes = normalizer.normalize_page(envelope.records)
    assert len(outcomes) == len(envelope.records) == 3
    assert [type(o).__name__ for o in outcomes[1:]] == ["RecordRejected"] * 2
    assert all(
        "not a JSON object" in o.reason for o in outcomes[1:] if isinstance(o, RecordRejected)
    )
