"""The API service's settings (``GRUPONOS_API__*``): listening, authentication, limits.

Pure pydantic: the settings model composes it without loading FastAPI or a JWT library.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gruponos.domain.schedule import parse_cron

Role = Literal["viewer", "operator", "admin"]
#: Each role can do what the ones before it can.
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ApiKeySettings(BaseModel):
    """One API key: only its SHA-256 is configured (``gruponos api key create`` prints both)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    role: Role
    sha256: str = Field(description="hex SHA-256 of the key")
    revoked: bool = False

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        value = value.lower()
        if not _SHA256.match(value):
            raise ValueError("must be the 64 hex digits of the key's SHA-256")
        return value


class ApiSettings(BaseModel):
    """``gruponos api serve``: the REST API that starts and watches runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="address to listen on (--host wins)")
    port: int = Field(8000, ge=1, le=65535, description="port to listen on (--port wins)")
    workers: int = Field(
        1,
        ge=1,
        le=32,
        description="uvicorn worker processes; runs, idempotency keys and rate limits are "
        "per process, the run lock is shared",
    )
    timeout_keep_alive_seconds: int = Field(
        5, ge=1, le=300, description="idle keep-alive connections are closed after this"
    )
    graceful_shutdown_seconds: int = Field(
        30, ge=1, le=3600, description="on stop: time for open requests and runs to finish"
    )
    docs: bool = Field(default=True, description="serve /docs (the OpenAPI document stays)")
    metrics_public: bool = Field(
        default=False, description="serve /metrics without credentials (else viewer and up)"
    )
    jwks_url: str | None = Field(
        None, description="OIDC provider's JWKS URL (https; fetched with a timeout, cached)"
    )
    jwks_file: Path | None = Field(None, description="a JWKS JSON file (instead of jwks_url)")
    jwks_timeout_seconds: float = Field(5.0, gt=0, le=60, description="JWKS fetch timeout")
    jwks_cache_seconds: int = Field(
        300, ge=0, le=86_400, description="JWKS kept this long (an unknown kid fetches again)"
    )
    issuer: str | None = Field(None, description="the tokens' iss (needed with a JWKS)")
    audience: str | None = Field(None, description="a value the tokens' aud must contain")
    roles_claim: str = Field(
        "roles", description="claim holding the roles; a dotted path (realm_access.roles)"
    )
    leeway_seconds: int = Field(30, ge=0, le=60, description="clock skew allowed on exp/nbf")
    keys: tuple[ApiKeySettings, ...] = Field(
        (), description='JSON list of {"name","role","sha256"} (gruponos api key create)'
    )
    max_running: int = Field(2, ge=1, le=64, description="runs executed at once (in-process)")
    max_queued: int = Field(8, ge=0, le=1000, description="runs waiting beyond those")
    mutations_per_minute: int = Field(
        30, ge=1, le=100_000, description="mutating calls per subject and minute (then 429)"
    )
    idempotency_hours: float = Field(
        24.0, gt=0, le=24 * 30, description="how long an Idempotency-Key returns its run"
    )
    full_schedule: str | None = Field(
        None, description="cron (5 fields, UTC) the scheduler runs the full pipeline on"
    )
    incremental_schedule: str | None = Field(
        None, description="cron (5 fields, UTC) the scheduler runs the incremental pipeline on"
    )

    @field_validator("jwks_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        loopback = ("http://127.0.0.1", "http://localhost", "http://[::1]")
        if value is not None and not value.startswith(("https://", *loopback)):
            raise ValueError("must be an https:// URL (http only on loopback)")
        return value

    @field_validator("full_schedule", "incremental_schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            parse_cron(value)  # its ValueError names the bad field
        return value

    @model_validator(mode="after")
    def _jwt_complete(self) -> ApiSettings:
        if self.jwks_url and self.jwks_file:
            raise ValueError("set api.jwks_url or api.jwks_file, not both")
        if (self.jwks_url or self.jwks_file) and not (self.issuer and self.audience):
            raise ValueError("api.issuer and api.audience are needed to accept JWTs")
        names = [key.name for key in self.keys]
        if len(names) != len(set(names)):
            raise ValueError("api.keys: names must be unique")
        return self

    @property
    def jwt_enabled(self) -> bool:
        return bool(self.jwks_url or self.jwks_file)

    @property
    def authentication_configured(self) -> bool:
        return self.jwt_enabled or any(not key.revoked for key in self.keys)
