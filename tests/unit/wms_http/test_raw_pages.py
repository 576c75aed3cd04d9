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
from gruponos.domain.pages import JsonRecords

GOOD = {"results": [{"id": 1}, {"id": 2, "x": [1, {"y": None}]}], "next_page": "https://w/p2"}


def test_a_good_page_keeps_its_records_as_json_text_with_their_count() -> None:
    envelope = page_envelope(parse_page_json(orjson.dumps({**GOOD, "result_count": 7})))
    assert isinstance(envelope.records, JsonRecords)
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
        {"results": [{"id": 1}, 2]},
        {"results": [[]]},
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
