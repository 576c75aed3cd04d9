"""Configuration of ``tap-gruponos`` and ``target-gruponos`` (the ``--config`` JSON files).

Both are pydantic models: unknown keys are errors (a typo never silently falls back to a default),
secrets are ``SecretStr`` and every invalid key is reported at once.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from gruponos.adapters.wms_http import (
    BasicAuthConfig,
    OAuth2Config,
    OAuth2Grant,
    PageMode,
    WmsClientConfig,
)
from gruponos.domain.catalog import DEFAULT_ENTITIES

_ENTITY = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


class _Config(BaseModel):
    # Meltano passes every setting it knows, including empty optional ones as null.
    model_config = ConfigDict(extra="forbid", frozen=True)


class TapConfig(_Config):
    """``tap-gruponos --config``: the WMS to read and how."""

    base_url: str = Field(description="https://<pod>.wms.ocs.oraclecloud.com/<environment>")
    auth: Literal["basic", "oauth2"] = "basic"
    username: str | None = None
    password: SecretStr | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    oauth2_grant: Literal["client_credentials", "password"] = "client_credentials"
    scope: str = "urn:resource:fusion:scm:logistics:wms:lgfapi/"
    entities: tuple[str, ...] = Field(DEFAULT_ENTITIES, min_length=1)
    sync_mode: Literal["full", "incremental"] = "incremental"
    start_date: datetime | None = Field(
        None, description="incremental: lower bound of mod_ts when there is no bookmark yet"
    )
    overlap_seconds: float = Field(300.0, ge=0, description="re-read before the bookmark")
    page_size: int = Field(1000, ge=1, le=1250)
    page_mode: Literal["sequenced", "paged"] = "sequenced"
    timeout_seconds: float = Field(120.0, gt=0, le=600)
    max_attempts: int = Field(6, ge=1, le=20)
    verify_tls: bool = True
    filters: dict[str, str] = Field(default_factory=dict)
    max_reject_ratio: float = Field(0.05, ge=0, le=1)
    quarantine_file: Path | None = Field(
        None, description="append rejected records here as JSON lines (they are always logged)"
    )

    @field_validator("entities", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return value

    @field_validator("entities")
    @classmethod
    def _names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not _ENTITY.match(v)]
        if bad:
            raise ValueError(f"not lgfapi entity names: {bad}")
        return tuple(dict.fromkeys(value))

    @field_validator("start_date")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # Singer's convention: a bare timestamp is UTC
        return value

    def client_config(self) -> WmsClientConfig:
        """The HTTP client's configuration; ``ValueError`` naming every bad field."""
        auth: BasicAuthConfig | OAuth2Config
        if self.auth == "basic":
            if not self.username or self.password is None:
                raise ValueError("basic auth needs 'username' and 'password'")
            auth = BasicAuthConfig(self.username, self.password)
        else:
            if not self.token_url or not self.client_id or self.client_secret is None:
                raise ValueError("oauth2 needs 'token_url', 'client_id' and 'client_secret'")
            auth = OAuth2Config(
                token_url=self.token_url,
                client_id=self.client_id,
                client_secret=self.client_secret,
                grant=OAuth2Grant(self.oauth2_grant),
                username=self.username,
                password=self.password,
                scope=self.scope,
            )
        return WmsClientConfig(
            base_url=self.base_url,
            auth=auth,
            page_size=self.page_size,
            page_mode=PageMode(self.page_mode),
            read_timeout=self.timeout_seconds,
            max_attempts=self.max_attempts,
            verify_tls=self.verify_tls,
            extra_filters=self.filters,
        )


class TargetConfig(_Config):
    """``target-gruponos --config``: the database and how to load."""

    url: str = Field(
        "sqlite:///gruponos.db",
        description="sqlite:///path.db | postgresql://user@host:port/db | oracle://user@host:port/svc",
    )
    password: SecretStr | None = None
    table_prefix: str = Field("WMS_", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,29}$")
    load_method: Literal["upsert", "append-only", "overwrite"] = "upsert"
    batch_size: int = Field(5000, ge=1, le=100_000)
    max_reject_ratio: float = Field(0.05, ge=0, le=1)


def config_problems(error: ValidationError) -> list[str]:
    """One line per invalid key, never echoing a secret's value."""
    lines = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "config"
        lines.append(f"{where}: {str(item['msg']).removeprefix('Value error, ')}")
    return lines
