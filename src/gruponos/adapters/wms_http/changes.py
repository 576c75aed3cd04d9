"""Watching an offset-paged read for changes of the source under it (``page_mode=paged``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import structlog

from gruponos.application.errors import WmsError
from gruponos.application.ports import Page

log = structlog.get_logger(__name__)

#: What a paged read compares before and after itself to see the source change under it.
NEWEST_FIRST = "-mod_ts,-id"


@dataclass(frozen=True, slots=True)
class FirstRow:
    """The first row of a one-row request (``None`` on the API's 404), the ``result_count`` the
    page announced, the URL asked and the retries it took."""

    row: Mapping[str, Any] | None
    count: int | None
    url: str
    retries: int

    @property
    def snapshot(self) -> tuple[int | None, Any, Any]:
        """What changes when a record of the window is inserted, deleted or modified."""
        row = self.row or {}
        return self.count or 0, row.get("id"), row.get("mod_ts")


class ChangeWatch:
    """Sees the source change under one offset-paged read (``page_mode=paged``).

    Offset paging skips or repeats rows when the window changes during the read, and nothing in
    the pages says so. The watch asks for the window's newest row (``-mod_ts,-id``, one row, with
    its ``result_count``) before the first page and after the last one: any insert, delete or
    modification in between changes the count or the newest row (``mod_ts`` only grows). The
    pages' own ``result_count`` must agree too, and a page that ``next_page`` announced must
    not be the API's 404. The page where a change shows says ``source_changed``; the retries of
    the watch's requests ride on the next page, so the report counts them.
    """

    def __init__(self, probe: Callable[[], FirstRow | WmsError], before: FirstRow) -> None:
        self._probe = probe
        self._before: FirstRow | None = before  # None once a change was reported
        self._counts: set[int | None] = set()
        self._retries = before.retries  # of the watch's requests, not yet on a page

    @classmethod
    def start(cls, probe: Callable[[], FirstRow | WmsError]) -> ChangeWatch | WmsError:
        before = probe()
        return before if isinstance(before, WmsError) else cls(probe, before)

    def page(self, page: Page, count: int | None, *, last: bool) -> Page | WmsError:
        changed = False
        if self._before is not None:
            self._counts.add(count)
            changed = len(self._counts) > 1
            if last and not changed:
                after = self._probe()
                if isinstance(after, WmsError):
                    return after
                self._retries += after.retries
                changed = after.snapshot != self._before.snapshot
        return self._carry(page, changed)

    def ended(self, page: Page) -> Page:
        """The API's 404 ended the read at ``page`` (empty): gone are the page ``next_page``
        announced, or the rows the watch saw before the first page."""
        before = self._before
        changed = before is not None and (page.number > 1 or before.row is not None)
        return self._carry(page, changed)

    def _carry(self, page: Page, changed: bool) -> Page:
        if changed:
            log.warning("wms.source_changed", entity=page.entity, page=page.number)
            self._before = None  # said once: the rest of the read is not compared
        page = replace(page, retries=page.retries + self._retries, source_changed=changed)
        self._retries = 0
        return page
