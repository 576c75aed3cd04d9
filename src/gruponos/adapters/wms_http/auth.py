"""Authentication: HTTP Basic, or OAuth2 bearer tokens cached, refreshed early and once on a 401."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from typing import Any

import httpx
import orjson
import structlog
from pydantic import SecretStr

from gruponos.adapters.wms_http.config import (
    AuthConfig,
    BasicAuthConfig,
    OAuth2Config,
    OAuth2Grant,
)
from gruponos.adapters.wms_http.retry import RETRYABLE_STATUSES
from gruponos.adapters.wms_http.urls import redact_url

log = structlog.get_logger(__name__)


class TokenError(Exception):
    """The token endpoint failed. Carries only the status and the OAuth ``error`` code, never the
    request or response (they hold credentials or tokens)."""

    def __init__(self, status: int | None, error: str | None, *, retryable: bool) -> None:
        super().__init__(f"token endpoint failed: status={status} error={error}")
        self.status = status
        self.error = error
        self.retryable = retryable


class TokenProvider:
    """Fetches and caches an OAuth2 access token; thread-safe, one fetch at a time.

    A token is reused until ``expires_in`` minus a margin (the configured margin, at most half the
    lifetime); :meth:`invalidate` drops it after the API refused it.
    """

    def __init__(
        self,
        config: OAuth2Config,
        client: httpx.Client,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def __repr__(self) -> str:
        return f"TokenProvider(token_url={redact_url(self._config.token_url)!r})"

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                self._token, lifetime = self._fetch()
                margin = min(self._config.refresh_margin_seconds, lifetime / 2)
                self._expires_at = self._clock() + lifetime - margin
                log.info(
                    "wms.token_refreshed",
                    grant=self._config.grant.value,
                    expires_in=lifetime,
                    token_url=redact_url(self._config.token_url),
                )
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` unless another thread already replaced it."""
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch(self) -> tuple[str, float]:
        config = self._config
        data = {"grant_type": config.grant.value, "scope": config.scope}
        if config.grant is OAuth2Grant.PASSWORD:
            data["username"] = config.username or ""
            data["password"] = _reveal(config.password)
        response = self._client.post(
            config.token_url,
            data=data,
            auth=httpx.BasicAuth(config.client_id, _reveal(config.client_secret)),
            headers={"Accept": "application/json"},
        )
        body = _json_object(response.content)
        if response.status_code != 200:
            error = body.get("error") if body else None
            raise TokenError(
                response.status_code,
                error if isinstance(error, str) else None,
                retryable=response.status_code in RETRYABLE_STATUSES,
            )
        token = body.get("access_token") if body else None
        expires_in = body.get("expires_in", 3600) if body else None
        if (
            not isinstance(token, str)
            or not token
            or not isinstance(expires_in, int | float)
            or isinstance(expires_in, bool)
        ):
            raise TokenError(response.status_code, "malformed_token_response", retryable=True)
        return token, float(max(expires_in, 0))


class BearerAuth(httpx.Auth):
    """Sends ``Authorization: Bearer <token>``; on a 401 refreshes the token and retries once."""

    def __init__(self, provider: TokenProvider) -> None:
        self._provider = provider

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._provider.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            log.info("wms.token_rejected", url=redact_url(request.url))
            self._provider.invalidate(token)
            request.headers["Authorization"] = f"Bearer {self._provider.token()}"
            yield request


def build_auth(config: AuthConfig, client: httpx.Client) -> httpx.Auth:
    """The ``httpx.Auth`` for a configuration; the token provider shares the pooled client."""
    if isinstance(config, BasicAuthConfig):
        return httpx.BasicAuth(config.username, _reveal(config.password))
    return BearerAuth(TokenProvider(config, client))


def _reveal(secret: SecretStr | str | None) -> str:
    if secret is None:
        return ""
    return secret if isinstance(secret, str) else secret.get_secret_value()


def _json_object(content: bytes) -> dict[str, Any] | None:
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None
