"""Configuration of the WMS HTTP client: a frozen, validated value with masked secrets.

Its rules are those of the WMS settings (:mod:`gruponos.adapters.wms_settings`), applied by the
same functions; :func:`client_config` maps validated settings onto it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

import httpx
from pydantic import SecretStr

from gruponos.adapters.wms_settings import (
    DEFAULT_SCOPE,
    FILTER_KEY,
    MAX_CONCURRENCY_LIMIT,
    MAX_PAGE_SIZE,
    RESERVED_PARAMS,
    WmsSettings,
    bad_filter_names,
    http_url_problem,
)

__all__ = [
    "DEFAULT_SCOPE",
    "FILTER_KEY",
    "MAX_CONCURRENCY_LIMIT",
    "MAX_PAGE_SIZE",
    "RESERVED_PARAMS",
    "AuthConfig",
    "BasicAuthConfig",
    "OAuth2Config",
    "OAuth2Grant",
    "PageMode",
    "WmsClientConfig",
    "client_config",
]

_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class PageMode(StrEnum):
    """``sequenced`` follows the server's keyset cursor (Oracle's advice for integrations);
    ``paged`` is offset paging (can skip rows when data change during a read)."""

    SEQUENCED = "sequenced"
    PAGED = "paged"


class OAuth2Grant(StrEnum):
    CLIENT_CREDENTIALS = "client_credentials"
    PASSWORD = "password"  # noqa: S105 - the grant's name, not a secret


def _secret(value: SecretStr | str | None) -> SecretStr | None:
    if value is None or isinstance(value, SecretStr):
        return value
    return SecretStr(value)


@dataclass(frozen=True, slots=True)
class BasicAuthConfig:
    """HTTP Basic credentials. ``password`` may be given as ``str``; it is kept as ``SecretStr``."""

    username: str
    password: SecretStr | str = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "password", _secret(self.password))

    def __repr__(self) -> str:
        return f"BasicAuthConfig(username={self.username!r}, password='**********')"


@dataclass(frozen=True, slots=True)
class OAuth2Config:
    """OAuth2 bearer tokens from Oracle Identity (IDCS / OCI IAM).

    ``grant`` is ``client_credentials`` (service users) or ``password`` (resource owner; needs
    ``username`` and ``password``). The client authenticates to ``token_url`` with HTTP Basic
    ``client_id:client_secret``. A token is reused until ``expires_in`` minus
    ``refresh_margin_seconds`` (at most half its lifetime) and refreshed once on a 401.
    """

    token_url: str
    client_id: str
    client_secret: SecretStr | str = field(repr=False)
    grant: OAuth2Grant = OAuth2Grant.CLIENT_CREDENTIALS
    username: str | None = None
    password: SecretStr | str | None = field(default=None, repr=False)
    scope: str = DEFAULT_SCOPE
    refresh_margin_seconds: float = 60.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "client_secret", _secret(self.client_secret))
        object.__setattr__(self, "password", _secret(self.password))

    def __repr__(self) -> str:
        return (
            f"OAuth2Config(token_url={self.token_url!r}, client_id={self.client_id!r}, "
            f"client_secret='**********', grant={self.grant.value!r}, "
            f"username={self.username!r}, password={'**********' if self.password else None!r}, "
            f"scope={self.scope!r})"
        )


AuthConfig = BasicAuthConfig | OAuth2Config


@dataclass(frozen=True, slots=True)
class WmsClientConfig:
    """Everything :class:`~gruponos.adapters.wms_http.HttpxWmsSource` needs.

    ``base_url`` ends with the environment path, e.g. ``https://ta3.wms.ocs.oraclecloud.com/prod``;
    the API root is ``<base_url>/wms/lgfapi/<api_version>/``. Invalid values raise ``ValueError``
    naming every bad field (the settings layer turns that into a ``ConfigError``).

    Example::

        WmsClientConfig(
            base_url="https://ta3.wms.ocs.oraclecloud.com/prod",
            auth=BasicAuthConfig("integ_user", "s3cret"),
            extra_filters={"facility_id__code": "FAC1"},
        )
    """

    base_url: str
    auth: AuthConfig
    api_version: str = "v10"
    page_size: int = 1000
    page_mode: PageMode = PageMode.SEQUENCED
    connect_timeout: float = 10.0
    read_timeout: float = 120.0  # the gateway gives up at 5 minutes (504)
    write_timeout: float = 30.0
    pool_timeout: float = 60.0
    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    retry_after_cap: float = 120.0
    max_concurrency: int = 4
    verify_tls: bool = True
    extra_filters: Mapping[str, str] = field(default_factory=dict)
    fields: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        object.__setattr__(self, "extra_filters", MappingProxyType(dict(self.extra_filters)))
        if self.fields is not None:
            object.__setattr__(self, "fields", tuple(self.fields))
        problems = self._problems()
        if problems:
            raise ValueError("invalid WMS client configuration: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        problems: list[str] = []
        url_problem = http_url_problem(self.base_url)
        if url_problem is not None:
            problems.append(f"base_url: {url_problem}")
        if not re.fullmatch(r"v\d+", self.api_version):
            problems.append("api_version: must look like 'v10'")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            problems.append(f"page_size: must be within 1..{MAX_PAGE_SIZE}")
        timeouts = (self.connect_timeout, self.read_timeout, self.write_timeout, self.pool_timeout)
        if min(timeouts) <= 0:
            problems.append("timeouts: must be positive")
        if self.max_attempts < 1:
            problems.append("max_attempts: must be at least 1")
        if self.backoff_base < 0 or self.backoff_cap < self.backoff_base:
            problems.append("backoff: need 0 <= backoff_base <= backoff_cap")
        if self.retry_after_cap < 0:
            problems.append("retry_after_cap: must not be negative")
        if not 1 <= self.max_concurrency < MAX_CONCURRENCY_LIMIT:
            problems.append(f"max_concurrency: must be within 1..{MAX_CONCURRENCY_LIMIT - 1}")
        problems += [
            f"extra_filters: {key!r} is not an allowed filter name"
            for key in bad_filter_names(self.extra_filters)
        ]
        for name in self.fields or ():
            if not _FIELD_NAME.match(name):
                problems.append(f"fields: {name!r} is not a field name")
        if isinstance(self.auth, OAuth2Config):
            problems.extend(_oauth_problems(self.auth))
        elif not self.auth.username:
            problems.append("auth.username: required")
        return problems

    @property
    def api_root(self) -> str:
        """``<base_url>/wms/lgfapi/<api_version>/`` (always with a trailing slash)."""
        return f"{self.base_url}/wms/lgfapi/{self.api_version}/"

    @property
    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_timeout,
            read=self.read_timeout,
            write=self.write_timeout,
            pool=self.pool_timeout,
        )


def _oauth_problems(auth: OAuth2Config) -> list[str]:
    problems: list[str] = []
    url_problem = http_url_problem(auth.token_url, bare=False)
    if url_problem is not None:
        problems.append(f"auth.token_url: {url_problem}")
    if not auth.client_id:
        problems.append("auth.client_id: required")
    if auth.grant is OAuth2Grant.PASSWORD and (not auth.username or auth.password is None):
        problems.append("auth: the password grant needs username and password")
    if auth.refresh_margin_seconds < 0:
        problems.append("auth.refresh_margin_seconds: must not be negative")
    return problems


def client_config(wms: WmsSettings) -> WmsClientConfig:
    """The client's configuration from validated settings, which must be complete
    (``wms.missing()`` empty; else ``ValueError`` naming what is missing).

    The longest retry delay is at least the first one.
    """
    missing = wms.missing()
    if missing:
        raise ValueError("; ".join(f"wms.{name}: {reason}" for name, reason in missing))
    auth: AuthConfig
    if wms.auth == "basic":
        auth = BasicAuthConfig(wms.username or "", wms.password or "")
    else:
        auth = OAuth2Config(
            token_url=wms.oauth2.token_url or "",
            client_id=wms.oauth2.client_id or "",
            client_secret=wms.oauth2.client_secret or "",
            grant=OAuth2Grant(wms.oauth2.grant),
            username=wms.username,
            password=wms.password,
            scope=wms.oauth2.scope,
        )
    return WmsClientConfig(
        base_url=wms.base_url or "",
        auth=auth,
        page_size=wms.page_size,
        page_mode=PageMode(wms.page_mode),
        read_timeout=wms.timeout_seconds,
        max_attempts=wms.max_attempts,
        backoff_base=wms.backoff_seconds,
        backoff_cap=max(wms.backoff_cap_seconds, wms.backoff_seconds),
        max_concurrency=wms.max_concurrency,
        verify_tls=wms.verify_tls,
        extra_filters=wms.filters,
    )
