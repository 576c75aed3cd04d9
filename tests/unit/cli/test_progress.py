"""Progress on a terminal: totals and time left where a full pass knows its id range, and log
lines printed above the bars instead of glued onto the spinner's line."""

from __future__ import annotations

import re
from io import StringIO

import structlog

from gruponos.adapters.logs import configure_logging
from gruponos.adapters.progress import RichProgressObserver
from gruponos.application.ports import SyncEvent

_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _screen_lines(raw: str) -> list[str]:
    """The lines as a terminal leaves them: control sequences dropped, a carriage return
    starting the line over."""
    return [_CONTROL.sub("", line).rsplit("\r", 1)[-1] for line in raw.split("\n")]


def test_a_full_pass_with_id_bounds_shows_total_percentage_and_time_left() -> None:
    out = StringIO()
    with RichProgressObserver(out, width=200) as progress:
        progress.on_event(SyncEvent("entity_started", "r1", "allocation"))
        progress.on_event(SyncEvent("id_bounds", "r1", "allocation", {"low": 1, "high": 1000}))
        progress.on_event(SyncEvent("page_read", "r1", "allocation", {"records": 250}))
    drawn = out.getvalue()  # off a terminal, the bars are drawn once, when they stop
    assert "250 of ~1,000 (est.) records" in drawn
    assert "25%" in drawn and " left" in drawn


def test_without_bounds_there_is_no_total_or_percentage() -> None:
    out = StringIO()
    with RichProgressObserver(out, width=200) as progress:
        progress.on_event(SyncEvent("entity_started", "r1", "order_hdr"))
        progress.on_event(SyncEvent("page_read", "r1", "order_hdr", {"records": 40}))
        progress.on_event(SyncEvent("entity_finished", "r1", "order_hdr", {"status": "failed"}))
    drawn = out.getvalue()
    assert "40 records" in drawn and "(est.)" not in drawn and "%" not in drawn
    assert "failed" in drawn


def test_more_records_than_estimated_raise_the_total() -> None:
    out = StringIO()
    with RichProgressObserver(out, width=200) as progress:
        progress.on_event(SyncEvent("entity_started", "r1", "order_dtl"))
        progress.on_event(SyncEvent("id_bounds", "r1", "order_dtl", {"low": 11, "high": 20}))
        progress.on_event(SyncEvent("page_read", "r1", "order_dtl", {"records": 12}))
    drawn = out.getvalue()
    assert "12 of ~12 (est.) records" in drawn and "100%" in drawn


def test_log_lines_print_above_the_bars_not_on_the_spinner_line() -> None:
    out = StringIO()
    progress = RichProgressObserver(out, width=160, force_terminal=True)
    try:
        with progress:
            configure_logging("json", "info", console=progress.console)
            progress.on_event(SyncEvent("entity_started", "r1", "allocation"))
            progress.on_event(SyncEvent("page_read", "r1", "allocation", {"records": 5}))
            progress._progress.refresh()  # the bar is on screen now
            structlog.get_logger("test").warning("wms.retry", attempt=1)
            progress.on_event(SyncEvent("page_read", "r1", "allocation", {"records": 5}))
    finally:
        configure_logging("json", "info")
    lines = [line for line in _screen_lines(out.getvalue()) if "wms.retry" in line]
    assert lines, out.getvalue()
    assert all(line.startswith('{"attempt": 1, "event": "wms.retry"') for line in lines), lines
