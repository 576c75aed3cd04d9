"""``HttpxWmsSource``: the ``WmsSource`` port over lgfapi v10 with httpx."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import partial
from types import TracebackType
from typing import Any

import httpx
import structlog
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure, Success

from gruponos.__about__ import __version__
from gruponos.adapters.wms_http.auth import build_auth
from gruponos.adapters.wms_http.changes import NEWEST_FIRST, ChangeWatch, FirstRow
from gruponos.adapters.wms_http.config import PageMode, WmsClientConfig
from gruponos.adapters.wms_http.fetcher import Fetched, Fetcher
from gruponos.adapters.wms_http.gate import ProcessGate, RequestGate, StackedGate
from gruponos.adapters.wms_http.responses import (
    MalformedBody,
    RawPage,
    page_envelope,
    parse_envelope,
    parse_page_json,
)
from gruponos.adapters.wms_http.retry import RetryPolicy, system_random
from gruponos.adapters.wms_http.urls import (
    canonical,
    describe_url,
    entity_list_url,
    entity_url,
    record_url,
    redact_url,
    same_origin,
    window_params,
)
from gruponos.application.errors import WmsError
from gruponos.application.ports import Answer, Page
from gruponos.domain.checkpoints import FullWindow, Position, ReadWindow
from gruponos.domain.naming import is_entity_name
from gruponos.domain.pages import JsonRecords
from gruponos.domain.schema import EntitySchema, schema_from_describe

log = structlog.get_logger(__name__)

#: Consecutive empty pages that still announce a ``next_page`` before the read is called a loop.
MAX_EMPTY_PAGES = 3


class HttpxWmsSource:
    """Reads Oracle WMS Cloud's lgfapi through one pooled ``httpx.Client``.

    Every method returns an ``IOResult`` (``read`` an iterator of them that ends after the first
    failure); expected HTTP, network and parsing failures become :class:`WmsError`, bugs raise.
    ``sleep`` and ``transport`` are for tests (a fake clock, ``httpx.MockTransport``); ``random``
    draws the jitter in ``[0, 1)``. Requests in flight are capped by ``config.max_concurrency``
    among the threads using this source and, when ``shared_gate`` is given (a cap shared by
    several processes, see :mod:`gruponos.adapters.wms_http.gate`), by it too; the source does
    not close it.

    Example::

        with HttpxWmsSource(config) as wms:
            for page in wms.read("allocation", IncrementalWindow(since=checkpoint)):
                ...
    """

    def __init__(
        self,
        config: WmsClientConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        random: Callable[[], float] | None = None,
        shared_gate: RequestGate | None = None,
    ) -> None:
        self._config = config
        gate: RequestGate = ProcessGate(config.max_concurrency)
        if shared_gate is not None:  # the process's own slot first: none is held while waiting
            gate = StackedGate(gate, shared_gate)
        self._client = httpx.Client(
            timeout=config.timeout,
            verify=config.verify_tls,
            # one more connection than requests in flight: a token fetch happens inside a request
            limits=httpx.Limits(
                max_connections=config.max_concurrency + 1,
                max_keepalive_connections=config.max_concurrency + 1,
            ),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": f"gruponos/{__version__}"},
            follow_redirects=False,
        )
        policy = RetryPolicy(
            config.max_attempts,
            config.backoff_base,
            config.backoff_cap,
            config.retry_after_cap,
            random or system_random,
        )
        self._fetcher = Fetcher(
            self._client,
            build_auth(config.auth, self._client),
            policy,
            gate,
            sleep,
        )

    def __repr__(self) -> str:
        return f"HttpxWmsSource(api_root={self._config.api_root!r})"

    def __enter__(self) -> HttpxWmsSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- port ---------------------------------------------------------------------------------

    def list_entities(self) -> IOResult[tuple[str, ...], WmsError]:
        url = entity_list_url(self._config.api_root)
        fetched = self._fetcher.get_json(url, entity=None)
        if isinstance(fetched, WmsError):
            return IOFailure(fetched)
        body = fetched.body
        names: list[Any] = list(body) if isinstance(body, dict | list) else []
        if not names or not all(isinstance(n, str) for n in names):
            return IOFailure(_malformed("the entity list is not an object of names", url, None))
        return IOSuccess(tuple(sorted(names)))

    def describe(self, entity: str) -> IOResult[EntitySchema, WmsError]:
        if not is_entity_name(entity):
            return IOFailure(_bad_entity(entity))
        url = describe_url(self._config.api_root, entity)
        fetched = self._fetcher.get_json(url, entity=entity)
        if isinstance(fetched, WmsError):
            return IOFailure(fetched)
        if not isinstance(fetched.body, dict):
            return IOFailure(_malformed("describe is not a JSON object", url, entity))
        match schema_from_describe(entity, fetched.body):
            case Success(schema):
                return IOSuccess(schema)
            case Failure(problem):
                context = {**problem.context, "url": url, "cause": problem.code}
                return IOFailure(WmsError("wms.bad_describe", problem.message, context))
        raise AssertionError("unreachable")  # pragma: no cover

    def read(self, entity: str, window: ReadWindow) -> Iterator[IOResult[Page, WmsError]]:
        for item in self._pages(entity, window):
            yield IOFailure(item) if isinstance(item, WmsError) else IOSuccess(item)

    # -- helpers beyond the port ----------------------------------------------------------------

    def check(self) -> IOResult[None, WmsError]:
        """Health: the API answers and accepts the credentials (``GET entity/``)."""
        fetched = self._fetcher.get_json(entity_list_url(self._config.api_root), entity=None)
        return IOFailure(fetched) if isinstance(fetched, WmsError) else IOSuccess(None)

    def count(self, entity: str, window: ReadWindow | None = None) -> IOResult[int, WmsError]:
        """How many records the window holds (``result_count`` of a one-row paged request)."""
        if not is_entity_name(entity):
            return IOFailure(_bad_entity(entity))
        params = self._params(window or FullWindow(), PageMode.PAGED, page_size=1)
        if isinstance(params, WmsError):
            return IOFailure(params)
        url = entity_url(self._config.api_root, entity)
        fetched = self._fetcher.get_json(url, params, entity=entity, empty_on_404=True)
        if isinstance(fetched, WmsError):
            return IOFailure(fetched)
        if fetched.body is None:
            return IOSuccess(0)
        try:
            count = parse_envelope(fetched.body).result_count
        except MalformedBody as exc:
            return IOFailure(_malformed(str(exc), url, entity))
        return (
            IOSuccess(count)
            if count is not None
            else IOFailure(_malformed("the page has no result_count", url, entity))
        )

    def latest(self, entity: str) -> IOResult[Answer[Position | None], WmsError]:
        """The newest ``(mod_ts, id)``: one row ordered ``-mod_ts,-id`` (``None`` on the 404)."""
        first = self._first_row(entity, NEWEST_FIRST, "id,mod_ts")
        if isinstance(first, WmsError):
            return IOFailure(first)
        newest = first.row
        if newest is None:
            return IOSuccess(Answer(None, first.retries))
        try:
            mod_ts = datetime.fromisoformat(str(newest["mod_ts"]))
            if mod_ts.tzinfo is None:
                raise MalformedBody("mod_ts has no UTC offset")
            position = Position(mod_ts.astimezone(UTC), int(newest["id"]))
        except (MalformedBody, KeyError, TypeError, ValueError) as exc:
            return IOFailure(_malformed(f"bad newest record: {exc}", first.url, entity))
        return IOSuccess(Answer(position, first.retries))

    def id_bounds(self, entity: str) -> IOResult[Answer[tuple[int, int] | None], WmsError]:
        """The lowest and highest id: one row ordered ``id``, one ordered ``-id``."""
        ends: list[int] = []
        retries = 0
        for ordering in ("id", "-id"):
            first = self._first_row(entity, ordering, "id")
            if isinstance(first, WmsError):
                return IOFailure(first)
            retries += first.retries
            if first.row is None:
                return IOSuccess(Answer(None, retries))
            value = first.row.get("id")
            if not isinstance(value, int) or isinstance(value, bool):
                return IOFailure(
                    _malformed(f"bad {ordering} record: id is {value!r}", first.url, entity)
                )
            ends.append(value)
        return IOSuccess(Answer((min(ends), max(ends)), retries))

    def _first_row(
        self, entity: str, ordering: str, fields: str, window: ReadWindow | None = None
    ) -> FirstRow | WmsError:
        """The first row of the entity in ``ordering``, with the configured filters (and those
        of ``window``, when given)."""
        if not is_entity_name(entity):
            return _bad_entity(entity)
        params = self._params(window or FullWindow(), PageMode.PAGED, page_size=1)
        if isinstance(params, WmsError):
            return params
        params.update(ordering=ordering, fields=fields)
        url = entity_url(self._config.api_root, entity)
        fetched = self._fetcher.get_json(url, params, entity=entity, empty_on_404=True)
        if isinstance(fetched, WmsError):
            return fetched
        if fetched.body is None:
            return FirstRow(None, 0, url, fetched.retries)
        try:
            envelope = parse_envelope(fetched.body)
        except MalformedBody as exc:
            return _malformed(str(exc), url, entity, attempts=fetched.retries + 1)
        row = envelope.records[0] if envelope.records else None
        return FirstRow(row, envelope.result_count, url, fetched.retries)

    def fetch_one(
        self, entity: str, record_id: int
    ) -> IOResult[Mapping[str, Any] | None, WmsError]:
        """One record by id, or ``None`` when the WMS does not have it (404)."""
        if not is_entity_name(entity):
            return IOFailure(_bad_entity(entity))
        url = record_url(self._config.api_root, entity, record_id)
        fetched = self._fetcher.get_json(url, entity=entity, empty_on_404=True)
        if isinstance(fetched, WmsError):
            return IOFailure(fetched)
        if fetched.body is not None and not isinstance(fetched.body, dict):
            return IOFailure(_malformed("the record is not a JSON object", url, entity))
        return IOSuccess(fetched.body)

    # -- paging ---------------------------------------------------------------------------------

    def _params(
        self, window: ReadWindow, page_mode: PageMode, page_size: int
    ) -> dict[str, str] | WmsError:
        try:
            return window_params(
                window,
                page_mode=page_mode,
                page_size=page_size,
                fields=self._config.fields,
                extra_filters=self._config.extra_filters,
            )
        except ValueError as exc:
            return WmsError("wms.bad_window", str(exc), {"window": repr(window)})

    def _pages(self, entity: str, window: ReadWindow) -> Iterator[Page | WmsError]:
        if not is_entity_name(entity):
            yield _bad_entity(entity)
            return
        config = self._config
        params: dict[str, str] | WmsError | None = self._params(
            window, config.page_mode, config.page_size
        )
        if isinstance(params, WmsError):
            yield params
            return
        watch = None
        if config.page_mode is PageMode.PAGED:  # offset paging: see ChangeWatch
            watch = ChangeWatch.start(
                partial(self._first_row, entity, NEWEST_FIRST, "id,mod_ts", window)
            )
        if isinstance(watch, WmsError):
            yield watch
            return
        url: str | None = entity_url(config.api_root, entity)
        seen = {canonical(str(httpx.URL(entity_url(config.api_root, entity), params=params)))}
        number = empty_run = 0
        while url is not None:
            fetched = self._fetcher.get_json(
                url, params, entity=entity, empty_on_404=True, parse=parse_page_json
            )
            if isinstance(fetched, WmsError):
                yield fetched
                return
            if fetched.body is None:  # the API's 404 for "nothing matches": end of stream
                log.debug("wms.page_empty", entity=entity, page=number + 1)
                yield from _last_word(Page(entity, (), number + 1, fetched.retries), watch)
                return
            page = self._page(entity, url, fetched, number + 1)
            if isinstance(page, WmsError):
                yield page
                return
            page_obj, next_page, empty, count = page
            if watch is not None:
                watched = watch.page(page_obj, count, last=next_page is None)
                if isinstance(watched, WmsError):
                    yield watched
                    return
                page_obj = watched
            number += 1
            empty_run = empty_run + 1 if empty else 0
            log.debug("wms.page", entity=entity, page=number, retries=page_obj.retries)
            yield page_obj
            if next_page is None:
                return
            problem = self._check_next(entity, next_page, seen, number, empty_run)
            if problem is not None:
                yield problem
                return
            url, params = next_page, None

    def _page(
        self, entity: str, url: str, fetched: Fetched, number: int
    ) -> tuple[Page, str | None, bool, int | None] | WmsError:
        """The page, its ``next_page``, whether it holds no record, and its ``result_count``."""
        body: RawPage = fetched.body
        try:
            envelope = page_envelope(body)
        except MalformedBody as exc:
            return _malformed(str(exc), url, entity, attempts=fetched.retries + 1)
        records = envelope.records
        empty = records.is_empty if isinstance(records, JsonRecords) else not records
        page = Page(entity, records, number, retries=fetched.retries)
        return page, envelope.next_page, empty, envelope.result_count

    def _check_next(
        self, entity: str, next_page: str, seen: set[str], number: int, empty_run: int
    ) -> WmsError | None:
        shown = redact_url(next_page)
        if not same_origin(next_page, self._config.base_url):
            return WmsError(
                "wms.foreign_next_page",
                "next_page points outside the configured WMS origin",
                {"entity": entity, "page": number, "next_page": shown},
            )
        key = canonical(next_page)
        if key in seen or empty_run >= MAX_EMPTY_PAGES:
            return WmsError(
                "wms.paging_loop",
                "next_page does not advance (a URL already read, or empty pages in a row)",
                {"entity": entity, "page": number, "next_page": shown},
            )
        seen.add(key)
        return None


def _last_word(end: Page, watch: ChangeWatch | None) -> Iterator[Page]:
    """The empty page of the 404 that ended a read, when it has retries or a change to say."""
    end = watch.ended(end) if watch is not None else end
    if end.retries or end.source_changed:
        yield end


def _bad_entity(entity: str) -> WmsError:
    return WmsError(
        "wms.bad_entity", "not a valid entity name", {"entity": entity[:128]}, attempts=0
    )


def _malformed(message: str, url: str, entity: str | None, attempts: int = 1) -> WmsError:
    context: dict[str, Any] = {"url": redact_url(url)}
    if entity is not None:
        context["entity"] = entity
    return WmsError("wms.malformed_response", message, context, status=200, attempts=attempts)
