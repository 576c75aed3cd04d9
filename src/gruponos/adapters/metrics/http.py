"""WMS requests by status class: an httpx transport that counts what it carries."""

from __future__ import annotations

from collections.abc import Collection

import httpx

from gruponos.adapters.metrics.registry import SyncMetrics


class CountingTransport(httpx.BaseTransport):
    """Counts each request in ``gruponos_wms_requests_total{entity, status_class}`` and passes
    it to ``inner``. The entity is the path segment after ``/entity/`` when it is one of
    ``entities`` (bounded: a hostile or unknown name is never a label), else empty."""

    def __init__(
        self, inner: httpx.BaseTransport, metrics: SyncMetrics, entities: Collection[str]
    ) -> None:
        self._inner = inner
        self._requests = metrics.wms_requests
        self._entities = frozenset(entities)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        entity = self._entity_of(request.url.path)
        try:
            response = self._inner.handle_request(request)
        except httpx.HTTPError:
            self._requests.labels(entity, "error").inc()
            raise
        self._requests.labels(entity, f"{response.status_code // 100}xx").inc()
        return response

    def close(self) -> None:
        self._inner.close()

    def _entity_of(self, path: str) -> str:
        parts = path.rstrip("/").split("/")
        try:
            name = parts[parts.index("entity") + 1]
        except (ValueError, IndexError):
            return ""
        return name if name in self._entities else ""


def counting_transport(
    metrics: SyncMetrics, entities: Collection[str], verify: bool, max_connections: int
) -> CountingTransport:
    """The transport an ``httpx.Client`` would build (TLS verification as given, the pool's
    limits), wrapped in a :class:`CountingTransport`."""
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    return CountingTransport(httpx.HTTPTransport(verify=verify, limits=limits), metrics, entities)
