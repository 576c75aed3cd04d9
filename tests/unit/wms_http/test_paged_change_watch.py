"""A paged (offset) read watches the source: a change under it marks a page ``source_changed``;
the watch's requests and a read's final 404 carry their retries onto a page."""

from __future__ import annotations

from collections import deque
from typing import Any

import httpx

from gruponos.adapters.wms_http import PageMode
from gruponos.domain.checkpoints import FullWindow
from unit.wms_http.test_wms_source_mock import (
    ROOT,
    ScriptedWms,
    mock_source,
    page,
    query,
    read_all,
    rec,
    wms_error,
)

LIST = ROOT + "entity/allocation/"


def newest(ident: int, count: int) -> httpx.Response:
    """The watch's one-row answer: the newest record and the window's count."""
    return page([rec(ident)], result_count=count)


class PagedWms:
    """Two pages of three records (``result_count`` as given); the watch's requests are answered
    from ``probes`` in order."""

    def __init__(self, probes: list[httpx.Response], counts: tuple[int, int] = (6, 6)) -> None:
        self.probes = deque(probes)
        self.counts = counts
        self.asked: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = dict(query(request))
        self.asked.append(params)
        if params.get("ordering") == "-mod_ts,-id":
            return self.probes.popleft()
        if params.get("page", "1") == "1":
            return page([rec(i) for i in (1, 2, 3)], LIST + "?page=2", result_count=self.counts[0])
        return page([rec(i) for i in (4, 5, 6)], None, result_count=self.counts[1])


def paged(script: Any, **config: Any) -> tuple[list[Any], Any]:
    wms = ScriptedWms().on("entity/allocation/", script)
    with mock_source(wms, page_mode=PageMode.PAGED, **config) as source:
        return read_all(source, "allocation", FullWindow(after_id=0))


def test_a_quiet_paged_read_asks_the_newest_row_before_and_after_and_flags_nothing() -> None:
    script = PagedWms([newest(6, 6), newest(6, 6)])
    pages, error = paged(script)
    assert error is None
    assert [p.source_changed for p in pages] == [False, False]
    probes = [q for q in script.asked if q.get("ordering") == "-mod_ts,-id"]
    assert len(probes) == 2
    # the window's own filters, one row, only the fields compared
    assert all(q["id__gt"] == "0" and q["page_size"] == "1" for q in probes)
    assert all(q["fields"] == "id,mod_ts" for q in probes)
    assert script.asked[0] == probes[0]  # before the first page
    assert script.asked[-1] == probes[1]  # after the last one


def test_a_newer_row_after_the_read_flags_the_last_page() -> None:
    pages, _ = paged(PagedWms([newest(6, 6), newest(7, 7)]))
    assert [p.source_changed for p in pages] == [False, True]


def test_a_modified_row_with_the_same_count_flags_the_last_page() -> None:
    touched = page([{"id": 2, "mod_ts": "2024-06-01T00:00:00.000000-03:00"}], result_count=6)
    pages, _ = paged(PagedWms([newest(6, 6), touched]))
    assert pages[-1].source_changed


def test_result_counts_that_differ_between_pages_flag_the_page_at_once() -> None:
    script = PagedWms([newest(6, 6)], counts=(6, 5))
    pages, error = paged(script)
    assert error is None
    assert [p.source_changed for p in pages] == [False, True]
    assert sum(q.get("ordering") == "-mod_ts,-id" for q in script.asked) == 1  # no need to ask


def test_a_page_that_next_page_announced_but_is_a_404_is_a_change() -> None:
    def script(request: httpx.Request) -> httpx.Response:
        params = query(request)
        if params.get("ordering") == "-mod_ts,-id":
            return newest(6, 6)
        if params.get("page", "1") == "1":
            return page([rec(1), rec(2), rec(3)], LIST + "?page=2", result_count=6)
        return wms_error(404, "NOT_FOUND", "No results.")

    pages, error = paged(script)
    assert error is None
    assert [(len(p.records), p.source_changed) for p in pages] == [(3, False), (0, True)]


def test_the_watch_requests_retries_ride_on_the_pages() -> None:
    script = PagedWms([wms_error(503), newest(6, 6), wms_error(500), wms_error(502), newest(6, 6)])
    pages, error = paged(script)
    assert error is None
    assert [p.retries for p in pages] == [1, 2]
    assert not any(p.source_changed for p in pages)


def test_a_sequenced_read_is_not_watched() -> None:
    wms = ScriptedWms().on("entity/allocation/", page([rec(1)]))
    with mock_source(wms, page_mode=PageMode.SEQUENCED) as source:
        pages, _ = read_all(source, "allocation", FullWindow())
    assert len(wms.requests) == 1
    assert not pages[0].source_changed


def test_the_retries_of_a_read_that_ends_in_a_404_are_reported_on_an_empty_page() -> None:
    wms = ScriptedWms().on("entity/allocation/", wms_error(503), wms_error(404, "NOT_FOUND"))
    with mock_source(wms) as source:
        pages, error = read_all(source, "allocation", FullWindow())
    assert error is None
    assert [(len(p.records), p.retries) for p in pages] == [(0, 1)]
    quiet = ScriptedWms().on("entity/allocation/", wms_error(404, "NOT_FOUND"))
    with mock_source(quiet) as source:
        assert read_all(source, "allocation", FullWindow()) == ([], None)
