"""The lgfapi v10 resources: entity index, list (paged and sequenced), detail and describe.

Transport-free: :meth:`WmsApi.handle` maps a path below ``.../wms/lgfapi/v10/`` and a query
string to a :class:`Response`. A page is chosen and rendered under the world's lock, so change
mode and on-demand mutations never interleave with it (the GIL serialises rendering anyway).
"""

from __future__ import annotations

import uuid
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any
from urllib.parse import urlencode

import orjson

from gruponos.simulator.config import SimulatorConfig
from gruponos.simulator.data import Row
from gruponos.simulator.query import (
    Cursor,
    Filter,
    ListQuery,
    QueryError,
    comparable,
    last_values,
    parse_list_query,
)
from gruponos.simulator.world import World

_Snapshot = tuple[int, int, int, int]  # id, version, mod_us, create_us


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    next_link: str | None = None  # a sequenced page's next_page, for read-ahead


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | list[Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The documented error body: reference, code, message, details."""
    body = {
        "reference": str(uuid.uuid4()),
        "code": code,
        "message": message,
        "details": details if details is not None else {},
    }
    return Response(status, orjson.dumps(body), headers or {})


def _not_found(what: str) -> Response:
    return error_response(404, "NOT_FOUND", "Not found.", {"detail": what})


class WmsApi:
    def __init__(self, world: World, config: SimulatorConfig) -> None:
        self._world = world
        self._config = config

    def root(self, origin: str) -> str:
        """Absolute URL prefix of entity resources, e.g. ``http://h:p/env/wms/lgfapi/v10/entity/``."""
        return f"{origin}/{self._config.env}/wms/lgfapi/v10/entity/"

    def handle(self, path: str, query_string: str, origin: str) -> Response:
        parts = [p for p in path.split("/") if p]
        params = last_values(query_string)
        root = self.root(origin)
        if not parts or parts[0] != "entity" or len(parts) > 3:
            return _not_found("No such resource.")
        if len(parts) == 1:
            return Response(200, orjson.dumps({n: f"{root}{n}/" for n in self._world.specs}))
        entity = parts[1]
        if entity not in self._world.specs:
            return _not_found(f"Unknown entity {entity!r}.")
        if len(parts) == 2:
            return self._list(entity, params, root)
        if parts[2] == "describe":
            config = self._world.config
            body = self._world.specs[entity].describe(config.describe_required)
            for name, spec in config.describe_overrides.get(entity, {}).items():
                body["fields"][name] = {**body["fields"].get(name, {}), **spec}
            return Response(200, orjson.dumps(body))
        return self._detail(entity, parts[2], params, root)

    def _detail(self, entity: str, raw_id: str, params: dict[str, str], root: str) -> Response:
        try:
            ident = int(raw_id)
        except ValueError:
            return _not_found(f"No {entity} with id {raw_id!r}.")
        fields = [f for f in params.get("fields", "").split(",") if f] or None
        spec = self._world.specs[entity]
        if fields and any(f not in spec.by_name for f in fields):
            return error_response(
                400, "VALIDATION_ERROR", "Invalid input.", {"fields": ["Unknown field."]}
            )
        record = self._world.record(entity, ident, root, fields)
        if record is None:
            return _not_found(f"No {entity} with id {ident}.")
        return Response(200, orjson.dumps(record))

    def _list(self, entity: str, params: dict[str, str], root: str) -> Response:
        config = self._config
        try:
            query = parse_list_query(
                params,
                self._world.specs[entity],
                config.page_size_default,
                config.page_size_max,
                config.facility_tz,
            )
            self._world.random_changes(entity)
            with self._world.lock:
                if query.page_mode == "paged":
                    return self._paged(entity, query, root)
                return self._sequenced(entity, query, root)
        except QueryError as exc:
            return error_response(400, "VALIDATION_ERROR", "Invalid input.", exc.details)

    # -- paging ------------------------------------------------------------------------------

    def _paged(self, entity: str, query: ListQuery, root: str) -> Response:
        store = self._world.stores[entity]
        size = query.page_size
        offset = (query.page - 1) * size
        scan = self._scan(entity, query, query.desc, None, root)
        if not query.filters:
            count = store.live
            ids = list(islice(scan, offset, offset + size))
        else:
            ids, count = [], 0
            for ident in scan:
                if offset <= count < offset + size:
                    ids.append(ident)
                count += 1
        if not ids:
            return _not_found("Invalid page." if count else "No records match the query.")
        page_count = -(-count // size)
        url = f"{root}{entity}/?"
        base = {k: v for k, v in query.params.items() if k not in ("page", "cursor")}
        body = {
            "result_count": count,
            "page_count": page_count,
            "page_nbr": query.page,
            "next_page": (
                url + urlencode({**base, "page": query.page + 1})
                if query.page < page_count
                else None
            ),
            "previous_page": (
                url + urlencode({**base, "page": query.page - 1}) if query.page > 1 else None
            ),
        }
        return self._page(entity, body, self._snapshot(entity, ids), query, root)

    def _sequenced(self, entity: str, query: ListQuery, root: str) -> Response:
        key_len = 2 if query.order_field == "mod_ts" else 1
        cursor = Cursor.decode(query.cursor, key_len) if query.cursor else None
        size = query.page_size
        after = cursor.key if cursor else None
        reverse = cursor is not None and cursor.reverse
        ids = list(islice(self._scan(entity, query, query.desc != reverse, after, root), size + 1))
        more = len(ids) > size
        ids = ids[:size]
        if reverse:
            ids.reverse()
        if not ids:
            return _not_found("No records match the query.")
        key = self._key_fn(entity, query)
        has_next = more if not reverse else True
        has_previous = more if reverse else cursor is not None
        url = f"{root}{entity}/?"
        base = {k: v for k, v in query.params.items() if k not in ("page", "cursor")}

        def link(cursor: Cursor) -> str:
            return url + urlencode({**base, "cursor": cursor.encode()})

        body = {
            "next_page": link(Cursor(key(ids[-1]))) if has_next else None,
            "previous_page": link(Cursor(key(ids[0]), reverse=True)) if has_previous else None,
        }
        page = self._page(entity, body, self._snapshot(entity, ids), query, root)
        return Response(page.status, page.body, next_link=body["next_page"])

    def _page(
        self,
        entity: str,
        body: dict[str, Any],
        snapshot: list[_Snapshot],
        query: ListQuery,
        root: str,
    ) -> Response:
        factory = self._world.factories[entity]
        fields = query.fields
        body["results"] = [
            factory.record(factory.row(i, v, m, c, root), fields) for i, v, m, c in snapshot
        ]
        return Response(200, orjson.dumps(body))

    def _snapshot(self, entity: str, ids: list[int]) -> list[_Snapshot]:
        store = self._world.stores[entity]
        ver, mod, create = store.ver, store.mod, store.create
        return [(i, ver[i - 1], mod[i - 1], create[i - 1]) for i in ids]

    def _key_fn(self, entity: str, query: ListQuery) -> Callable[[int], tuple[int, ...]]:
        if query.order_field == "mod_ts":
            mod = self._world.stores[entity].mod
            return lambda i: (mod[i - 1], i)
        return lambda i: (i,)

    def _scan(
        self, entity: str, query: ListQuery, desc: bool, after: tuple[int, ...] | None, root: str
    ) -> Iterator[int]:
        """Matching live ids in the query's order (or its reverse), strictly after ``after``."""
        store = self._world.stores[entity]
        ids: Iterator[int]
        if query.order_field == "mod_ts":
            lo, hi = query.bounds("mod_ts")
            mod_after = (after[0], after[1]) if after is not None else None
            ids = (i for _, i in store.scan_mod(desc, mod_after, lo, hi))
        else:
            lo, hi = query.bounds("id")
            ids = store.scan_ids(desc, after[0] if after is not None else None, lo, hi)
        predicate = self._predicate(entity, query, root)
        return ids if predicate is None else filter(predicate, ids)

    def _predicate(self, entity: str, query: ListQuery, root: str) -> Callable[[int], bool] | None:
        if not query.filters:
            return None
        store = self._world.stores[entity]
        factory = self._world.factories[entity]
        checks: list[Callable[[int, list[Row]], bool]] = []
        for f in query.filters:
            if f.field == "id":
                checks.append(_id_check(f))
            elif f.field in ("mod_ts", "create_ts"):
                checks.append(_column_check(f, store.mod if f.field == "mod_ts" else store.create))
            else:

                def check(i: int, cache: list[Row], f: Any = f) -> bool:
                    if not cache:
                        cache.append(
                            factory.row(
                                i, store.ver[i - 1], store.mod[i - 1], store.create[i - 1], root
                            )
                        )
                    value = factory.value(cache[0], f.field)
                    return bool(f.test(comparable(value, f.kind, f.subfield)))

                checks.append(check)

        def predicate(i: int) -> bool:
            cache: list[Row] = []
            return all(check(i, cache) for check in checks)

        return predicate


def _id_check(f: Filter) -> Callable[[int, list[Row]], bool]:
    return lambda i, _cache: f.test(i)


def _column_check(f: Filter, column: array[int]) -> Callable[[int, list[Row]], bool]:
    return lambda i, _cache: f.test(column[i - 1])
