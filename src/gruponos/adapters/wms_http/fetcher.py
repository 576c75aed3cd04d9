"""One GET with retries: the only place that talks to httpx and turns its exceptions into values."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from gruponos.adapters.wms_http.auth import TokenError
from gruponos.adapters.wms_http.gate import GateUnavailable, RequestGate
from gruponos.adapters.wms_http.responses import MalformedBody, http_error, parse_json
from gruponos.adapters.wms_http.retry import RETRYABLE_STATUSES, RetryPolicy, parse_retry_after
from gruponos.adapters.wms_http.urls import redact_url
from gruponos.application.errors import WmsError

log = structlog.get_logger(__name__)

MALFORMED = "malformed_body"


@dataclass(frozen=True, slots=True)
class Fetched:
    """A 2xx JSON body (``body``), or ``None`` for a 404 the caller reads as "no results"."""

    body: Any
    status: int
    retries: int


@dataclass(frozen=True, slots=True)
class _Retryable:
    reason: str
    status: int | None = None
    retry_after: float | None = None
    content: bytes = b""


class Fetcher:
    """GETs JSON through the pooled client inside a slot of ``gate``, retrying what is transient.

    Retried: statuses in ``RETRYABLE_STATUSES``, timeouts, connection errors (also a reset in the
    middle of a body), undecodable bodies (truncated JSON, gateway HTML on a 200) and token
    endpoint hiccups, and a shared request limiter that does not answer. Each retry is logged as
    ``wms.retry`` and counted in ``Fetched.retries``.
    """

    def __init__(
        self,
        client: httpx.Client,
        auth: httpx.Auth,
        policy: RetryPolicy,
        gate: RequestGate,
        sleep: Callable[[float], None],
    ) -> None:
        self._client = client
        self._auth = auth
        self._policy = policy
        self._gate = gate  # held for one attempt: a retry waiting in backoff holds no slot
        self._sleep = sleep

    def get_json(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        *,
        entity: str | None,
        empty_on_404: bool = False,
        parse: Callable[[bytes], Any] = parse_json,
    ) -> Fetched | WmsError:
        """GET ``url``; ``parse`` turns a 2xx body into ``Fetched.body`` (``MalformedBody``: the
        body is retried like a transient failure)."""
        attempts = self._policy.max_attempts
        last = _Retryable("none")
        for attempt in range(1, attempts + 1):
            outcome = self._attempt(
                url, params, entity, attempt, empty_on_404=empty_on_404, parse=parse
            )
            if isinstance(outcome, Fetched):  # its retries: a 401 answered by a token refresh
                return Fetched(outcome.body, outcome.status, attempt - 1 + outcome.retries)
            if isinstance(outcome, WmsError):
                return outcome
            last = outcome
            if attempt == attempts:
                break
            delay = self._policy.delay(attempt, outcome.retry_after)
            log.warning(
                "wms.retry",
                entity=entity,
                attempt=attempt,
                max_attempts=attempts,
                status=outcome.status,
                reason=outcome.reason,
                url=_shown(url, params),
                delay=round(delay, 3),
            )
            self._sleep(delay)
        return _exhausted(last, url=_shown(url, params), entity=entity, attempts=attempts)

    def _attempt(
        self,
        url: str,
        params: Mapping[str, str] | None,
        entity: str | None,
        attempt: int,
        *,
        empty_on_404: bool,
        parse: Callable[[bytes], Any],
    ) -> Fetched | WmsError | _Retryable:
        try:
            with self._gate.slot():
                response = self._client.get(url, params=params, auth=self._auth)
        except GateUnavailable as exc:
            return _Retryable(f"request limiter ({exc})")
        except httpx.TimeoutException as exc:
            return _Retryable(f"timeout ({type(exc).__name__})")
        except (httpx.TransportError, httpx.DecodingError) as exc:
            # a reset mid-body surfaces here as RemoteProtocolError / ReadError
            return _Retryable(f"connection ({type(exc).__name__})")
        except TokenError as exc:
            if exc.retryable:
                return _Retryable("token endpoint", status=exc.status)
            return WmsError(
                "wms.unauthorized",
                "the token endpoint refused the client's credentials",
                _context(url, params, entity, token_error=exc.error),
                status=exc.status,
                attempts=attempt,
            )
        status = response.status_code
        reauthenticated = len(response.history)  # the 401 BearerAuth retried with a new token
        if 200 <= status < 300:
            try:
                return Fetched(parse(response.content), status, reauthenticated)
            except MalformedBody as exc:
                return _Retryable(f"{MALFORMED}: {exc}", status=status)
        if status == 404 and empty_on_404:
            return Fetched(None, status, reauthenticated)
        if status in RETRYABLE_STATUSES:
            return _Retryable(
                f"http {status}",
                status=status,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                content=response.content,
            )
        return http_error(
            status, response.content, url=_shown(url, params), entity=entity, attempts=attempt
        )


def _shown(url: str, params: Mapping[str, str] | None) -> str:
    return redact_url(httpx.URL(url, params=params) if params else url)


def _context(
    url: str, params: Mapping[str, str] | None, entity: str | None, **extra: Any
) -> dict[str, Any]:
    context: dict[str, Any] = {"url": _shown(url, params)}
    if entity is not None:
        context["entity"] = entity
    context.update({k: v for k, v in extra.items() if v is not None})
    return context


def _exhausted(last: _Retryable, *, url: str, entity: str | None, attempts: int) -> WmsError:
    if last.reason.startswith(MALFORMED):
        code, message = "wms.malformed_response", "the WMS kept sending an unreadable body"
    else:
        code, message = "wms.retries_exhausted", "the WMS request failed after every attempt"
    error = http_error(last.status or 0, last.content, url=url, entity=entity, attempts=attempts)
    context = {**error.context, "last_error": last.reason}
    return WmsError(
        code, f"{message} ({last.reason})", context, status=last.status, attempts=attempts
    )
