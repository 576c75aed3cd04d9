"""The keys of ``tap-gruponos``'s and ``target-gruponos``'s ``--config`` JSON files (Meltano's
settings of the two plugins): names, types and meanings.

These models only name the keys and their types (an unknown key is an error: a typo never
silently falls back to a default). The rules and the defaults of the keys that are gruponos
settings are the settings' own: :func:`gruponos.settings.tap_settings` and
:func:`gruponos.settings.target_settings` map a config onto them (``None`` here means "gruponos'
default"). Only the keys the Singer programs alone have (``sync_mode``, ``start_date``,
``quarantine_file``, ``load_method``) are defined and checked here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

_DEFAULT = " (default: gruponos')"


class _Config(BaseModel):
    # Meltano passes every setting it knows, including empty optional ones as null.
    model_config = ConfigDict(extra="forbid", frozen=True)


class TapConfig(_Config):
    """``tap-gruponos --config``: the WMS to read and how."""

    base_url: str | None = Field(
        None, description="https://<pod>.wms.ocs.oraclecloud.com/<environment> (required)"
    )
    auth: Literal["basic", "oauth2"] | None = Field(None, description="basic or oauth2")
    username: str | None = None
    password: SecretStr | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    oauth2_grant: Literal["client_credentials", "password"] | None = None
    scope: str | None = Field(None, description="OAuth2 scope" + _DEFAULT)
    entities: list[str] | str | None = Field(None, description="lgfapi entities" + _DEFAULT)
    sync_mode: Literal["full", "incremental"] = "incremental"
    start_date: datetime | None = Field(
        None, description="incremental: lower bound of mod_ts when there is no bookmark yet"
    )
    overlap_seconds: float | None = Field(None, description="re-read before the bookmark")
    page_size: int | None = Field(None, description="records per request, at most 1250")
    page_mode: Literal["sequenced", "paged"] | None = None
    timeout_seconds: float | None = None
    max_attempts: int | None = None
    verify_tls: bool | None = None
    filters: dict[str, Any] | None = Field(None, description="extra lgfapi filters")
    max_reject_ratio: float | None = None
    quarantine_file: Path | None = Field(
        None, description="append rejected records here as JSON lines (they are always logged)"
    )

    @field_validator("start_date")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # Singer's convention: a bare timestamp is UTC
        return value


class TargetConfig(_Config):
    """``target-gruponos --config``: the database and how to load."""

    url: str | None = Field(
        None,
        description="sqlite:///path.db | postgresql://user@host:port/db | oracle://user@host:port/svc",
    )
    password: SecretStr | None = None
    table_prefix: str | None = None
    load_method: Literal["upsert", "append-only", "overwrite"] = "upsert"
    batch_size: int | None = None
    max_reject_ratio: float | None = None


def config_problems(error: ValidationError) -> list[str]:
    """One line per invalid key, never echoing a secret's value."""
    lines = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "config"
        lines.append(f"{where}: {str(item['msg']).removeprefix('Value error, ')}")
    return lines
