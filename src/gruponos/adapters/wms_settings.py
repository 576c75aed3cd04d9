"""Settings of the WMS source (``GRUPONOS_WMS__*``) and the rules they obey, in one place.

The HTTP client (:class:`gruponos.adapters.wms_http.WmsClientConfig`) and the settings check a
value by the same functions defined here. Kept free of ``httpx`` so that reading the configuration
never loads the HTTP client.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

#: The OAuth2 scope of the lgfapi, as Oracle documents it.
DEFAULT_SCOPE = "urn:resource:fusion:scm:logistics:wms:lgfapi/"
MAX_PAGE_SIZE = 1250
#: Oracle's guidance: fewer than 10 concurrent requests per integration user.
MAX_CONCURRENCY_LIMIT = 10
#: Query parameters the client sets itself; extra filters may not override them.
RESERVED_PARAMS = frozenset(
    {"page_mode", "page_size", "page", "cursor", "ordering", "fields", "mod_ts__gte", "id__gt"}
)
FILTER_KEY = re.compile(r"^[a-z][a-z0-9_]*!?$")


def http_url_problem(value: str, *, bare: bool = True) -> str | None:
    """Why ``value`` is not an absolute http(s) URL (``bare``: nor one without credentials,
    query or fragment); ``None`` when it is."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError:
        return "must be an absolute http(s) URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http(s) URL"
    if bare and (parts.username or parts.password or parts.query or parts.fragment):
        return "must not carry credentials, a query or a fragment"
    return None


def bad_filter_names(names: Iterable[str]) -> list[str]:
    """The names that may not be lgfapi filters (not a field lookup, or a parameter of ours)."""
    return [name for name in names if not FILTER_KEY.match(name) or name in RESERVED_PARAMS]


def _query_value(value: Any) -> Any:
    """A filter value as lgfapi reads it in a query string (``true``, ``10``, ``1.5``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OAuth2Settings(_Section):
    """OAuth2 against Oracle Identity (IDCS / OCI IAM); used when ``wms.auth = oauth2``."""

    token_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    grant: Literal["client_credentials", "password"] = "client_credentials"
    scope: str = DEFAULT_SCOPE

    @field_validator("token_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        problem = None if value is None else http_url_problem(value, bare=False)
        if problem is not None:
            raise ValueError(problem)
        return value


class WmsSettings(_Section):
    """The Oracle WMS Cloud instance (lgfapi v10)."""

    base_url: str | None = Field(
        None,
        description="up to and including the environment path: https://<pod>.wms.ocs.oraclecloud.com/<env>",
    )
    auth: Literal["basic", "oauth2"] = "basic"
    username: str | None = None
    password: SecretStr | None = None
    oauth2: OAuth2Settings = OAuth2Settings()
    page_size: int = Field(1000, ge=1, le=MAX_PAGE_SIZE)
    page_mode: Literal["sequenced", "paged"] = "sequenced"
    timeout_seconds: float = Field(120.0, gt=0, le=600)
    max_attempts: int = Field(6, ge=1, le=20)
    backoff_seconds: float = Field(
        0.5, ge=0, le=60, description="first retry delay; doubles per attempt, with full jitter"
    )
    backoff_cap_seconds: float = Field(30.0, ge=0, le=600, description="longest retry delay")
    max_concurrency: int = Field(
        4, ge=1, le=MAX_CONCURRENCY_LIMIT - 1, description="Oracle advises < 10 per user"
    )
    verify_tls: bool = True
    filters: dict[str, str] = Field(
        default_factory=dict,
        description="e.g. facility_id__code; numbers and booleans are sent as lgfapi writes them",
    )
    default_timezone: str | None = Field(
        None, description="IANA zone for timestamps without an offset (the API always sends one)"
    )

    @field_validator("base_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = http_url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value.rstrip("/")

    @field_validator("filters", mode="before")
    @classmethod
    def _filter_values(cls, value: Any) -> Any:
        # lgfapi filters are query strings: booleans as ``true``/``false``, numbers as written.
        if not isinstance(value, dict):
            return value
        return {key: _query_value(item) for key, item in value.items()}

    @field_validator("filters")
    @classmethod
    def _filter_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = bad_filter_names(value)
        if bad:
            raise ValueError(
                f"not allowed as lgfapi filters: {', '.join(map(repr, bad))} (field lookups "
                "such as facility_id__code; paging, ordering and window parameters are gruponos')"
            )
        return value

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def missing(self) -> list[tuple[str, str]]:
        """What talking to the WMS needs beyond each field's own validity, as (setting, reason):
        the URL and the credentials of the chosen authentication. Empty when ready.

        Kept out of validation so that commands that never call the WMS (``runs list``) work
        without WMS credentials.
        """
        found: list[tuple[str, str]] = []
        if self.base_url is None:
            found.append(("base_url", "required to talk to the WMS"))
        needed: list[str] = []
        if self.auth == "basic":
            needed += [n for n in ("username", "password") if getattr(self, n) in (None, "")]
        else:
            needed += [
                f"oauth2.{n}"
                for n in ("token_url", "client_id", "client_secret")
                if getattr(self.oauth2, n) in (None, "")
            ]
            if self.oauth2.grant == "password":
                needed += [n for n in ("username", "password") if getattr(self, n) in (None, "")]
        found += [(name, f"required for {self.auth} authentication") for name in needed]
        return found
