"""An in-memory WMS source whose records can change between page reads.

It pages with a true keyset (``id`` for full reads, ``(mod_ts, id)`` for incremental reads), as
the real API's sequenced mode does, and it can be told to fail at a given page to simulate an
interrupted run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from returns.io import IOFailure, IOResult, IOSuccess

from gruponos.application.errors import WmsError
from gruponos.application.ports import Answer, Page
from gruponos.domain.checkpoints import FullWindow, IncrementalWindow, Position, ReadWindow
from gruponos.domain.schema import EntitySchema

Hook = Callable[["InMemoryWms", str, int], None]

_OFFSETS = (timezone(timedelta(hours=-3)), UTC, timezone(timedelta(hours=5, minutes=30)))


class InMemoryWms:
    """Implements ``WmsSource`` over dicts of raw records (as the API would send them).

    ``between_pages(wms, entity, page_number)`` runs before each page after the first, so a
    test can modify, insert or delete records while a read is under way. ``fail_at_page`` makes
    the read of that page (1-based, counted over the source's lifetime) fail.
    """

    def __init__(
        self,
        schemas: Mapping[str, EntitySchema],
        page_size: int = 100,
        start: datetime | None = None,
    ) -> None:
        self.schemas = dict(schemas)
        self.page_size = page_size
        self.records: dict[str, dict[int, dict[str, Any]]] = {e: {} for e in schemas}
        self.between_pages: Hook | None = None
        self.fail_at_page: int | None = None
        self.pages_served = 0
        self._now = start or datetime(2024, 1, 1, tzinfo=UTC)
        self._ticks = 0
        # Reads of parallel windows come from several threads; hooks and pages take turns.
        self._lock = threading.RLock()

    # -- data changes (the clock moves forward with each) ----------------------------------

    def tick(self) -> str:
        """Advance the source clock and return the new ``mod_ts`` text, in a varying offset."""
        self._ticks += 1
        self._now += timedelta(milliseconds=1)
        return self._now.astimezone(_OFFSETS[self._ticks % len(_OFFSETS)]).isoformat()

    def put(self, entity: str, record: dict[str, Any]) -> None:
        """Insert or replace a record as is (its ``mod_ts`` is taken as given)."""
        self.records[entity][int(record["id"])] = record

    def insert(self, entity: str, record_id: int, **fields: Any) -> dict[str, Any]:
        record = {"id": record_id, "mod_ts": self.tick(), **fields}
        self.put(entity, record)
        return record

    def touch(self, entity: str, record_id: int, **fields: Any) -> None:
        """Modify a record: new field values and a new, later ``mod_ts``."""
        record = dict(self.records[entity][record_id], **fields)
        record["mod_ts"] = self.tick()
        self.records[entity][record_id] = record

    def delete(self, entity: str, record_id: int) -> None:
        self.records[entity].pop(record_id, None)

    def truth(self, entity: str) -> dict[int, datetime]:
        """Ground truth: every current id with its ``mod_ts`` as an instant."""
        return {rid: _instant(r["mod_ts"]) for rid, r in self.records[entity].items()}

    # -- the port ---------------------------------------------------------------------------

    def list_entities(self) -> IOResult[tuple[str, ...], WmsError]:
        return IOSuccess(tuple(sorted(self.schemas)))

    def describe(self, entity: str) -> IOResult[EntitySchema, WmsError]:
        if entity not in self.schemas:
            return IOFailure(WmsError("wms.not_found", "unknown entity", {"entity": entity}, 404))
        return IOSuccess(self.schemas[entity])

    def read(self, entity: str, window: ReadWindow) -> Iterator[IOResult[Page, WmsError]]:
        number = 0
        after: tuple[datetime, int] | int | None = None
        while True:
            number += 1
            with self._lock:
                if number > 1 and self.between_pages is not None:
                    self.between_pages(self, entity, number)
                self.pages_served += 1
                failed = self.fail_at_page is not None and self.pages_served == self.fail_at_page
                rows = [] if failed else self._page(entity, window, after)
            if failed:
                yield IOFailure(
                    WmsError("wms.retries_exhausted", "injected failure", {"entity": entity}, 503)
                )
                return
            if not rows:
                return  # the API's 404 on an empty result: end of stream
            yield IOSuccess(Page(entity, rows, number))
            last = rows[-1]
            if isinstance(window, FullWindow):
                after = int(last["id"])
            else:
                after = (_instant(last["mod_ts"]), int(last["id"]))
            if len(rows) < self.page_size:
                return

    def latest(self, entity: str) -> IOResult[Answer[Position | None], WmsError]:
        with self._lock:
            truth = self.truth(entity)
        return IOSuccess(
            Answer(max((Position(ts, rid) for rid, ts in truth.items()), default=None))
        )

    def id_bounds(self, entity: str) -> IOResult[Answer[tuple[int, int] | None], WmsError]:
        with self._lock:
            ids = list(self.records[entity])
        return IOSuccess(Answer((min(ids), max(ids)) if ids else None))

    def close(self) -> None:
        """Nothing to release."""

    def _page(
        self, entity: str, window: ReadWindow, after: tuple[datetime, int] | int | None
    ) -> list[dict[str, Any]]:
        records = self.records[entity].values()
        if isinstance(window, FullWindow):
            low = window.after_id if after is None else after
            high = window.until_id
            assert not isinstance(low, tuple)  # noqa: S101 - full reads key on id only
            ids = sorted(
                r["id"]
                for r in records
                if (low is None or r["id"] > low) and (high is None or r["id"] < high)
            )
            return [dict(self.records[entity][i]) for i in ids[: self.page_size]]
        assert isinstance(window, IncrementalWindow)  # noqa: S101 - ReadWindow is a closed union
        keyed = sorted(
            ((_instant(r["mod_ts"]), int(r["id"])), r)
            for r in records
            if window.since is None or _instant(r["mod_ts"]) >= window.since
        )
        if isinstance(after, tuple):
            keyed = [(k, r) for k, r in keyed if k > after]
        return [dict(r) for _, r in keyed[: self.page_size]]


def _instant(text: Any) -> datetime:
    return datetime.fromisoformat(str(text)).astimezone(UTC)
