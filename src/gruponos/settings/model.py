"""The settings model: one section per adapter or concern, each validated once.

The WMS section (:class:`~gruponos.adapters.wms_settings.WmsSettings`) and the Oracle section
(:class:`~gruponos.adapters.oracle_config.OracleSinkSettings`) are the adapters' own typed
configurations, composed here; the entity-name rule and the default entities are the domain's
(:mod:`gruponos.domain.naming`); the database URL's rule and its scheme table are the SQL sink's
(:mod:`gruponos.adapters.urls`). Where the values come from is :mod:`gruponos.settings.loading`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.sources import NestedSecretsSettingsSource

from gruponos.adapters.api_settings import ApiSettings
from gruponos.adapters.oracle_config import OracleSinkSettings
from gruponos.adapters.urls import SQL_URL_FORMS, redact, sink_kind, sql_url_problem
from gruponos.adapters.wms_settings import WmsSettings
from gruponos.domain.naming import DEFAULT_ENTITIES, is_entity_name
from gruponos.settings.monitoring import AlertsSettings, MetricsSettings
from gruponos.settings.operations import ExecutorSettings, ScheduleSettings

ENV_PREFIX = "GRUPONOS_"
_TABLE_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,29}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SinkSettings(_Section):
    """The analytics database."""

    url: str = Field(
        "sqlite:///gruponos.db",
        description="sqlite:///path.db | postgresql://user@host:port/db | oracle://user@host:port/service",
    )
    password: SecretStr | None = None
    table_prefix: str = "WMS_"
    history: bool = Field(default=False, description="also keep every version in <table>_HIST")
    views: bool = Field(
        default=False,
        description="keep each entity's analyst view <table>_V current after schema changes",
    )
    time_zone: str | None = Field(
        default=None,
        description="the facility's IANA time zone: views add <instant>_local columns in it",
    )
    oracle: OracleSinkSettings = OracleSinkSettings()

    @field_validator("url")
    @classmethod
    def _complete_url(cls, value: str) -> str:
        # The sink's own rule, so that `validate` refuses what the sink would refuse at start.
        problem = sql_url_problem(value)
        if problem is not None:
            if problem.startswith("unknown database URL scheme"):
                problem = f"must be one of {SQL_URL_FORMS}"
            raise ValueError(problem)
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and value not in available_timezones():
            raise ValueError("must be an IANA time zone, e.g. America/Mexico_City")
        return value

    @field_validator("table_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _TABLE_PREFIX.match(value) or value.upper().startswith("GNOS_"):
            raise ValueError("must be letters, digits and _ (at most 30), starting with a letter")
        return value.upper()

    @property
    def kind(self) -> str:
        """``sqlite``, ``postgres`` or ``oracle``."""
        return sink_kind(self.url) or ""  # the URL's rule made sure the scheme is known


class StateSettings(_Section):
    """Where checkpoints live: in the sink's database (default), a JSON file, or Meltano."""

    kind: Literal["sink", "file", "meltano"] = "sink"
    path: Path = Path("gruponos-state.json")
    meltano_project_dir: Path = Path("meltano")
    meltano_state_id: str | None = Field(
        None,
        description="Meltano state id <env>:<extractor>-to-<loader>; default: the dev local job",
    )
    meltano_executable: str = Field(
        "meltano", description="the meltano command (name on PATH or path)"
    )


class SyncSettings(_Section):
    batch_size: int = Field(5000, ge=1, le=100_000)
    overlap_seconds: float = Field(300.0, ge=0, description="incremental re-read window")
    max_reject_ratio: float = Field(0.05, ge=0, le=1)
    prefetch_pages: int = Field(
        2, ge=0, le=16, description="pages fetched ahead by a reader thread (0: no reader thread)"
    )
    write_behind: bool = Field(
        default=True, description="write batches in a writer thread while the next pages are read"
    )
    read_parallelism: int = Field(
        4,
        ge=1,
        le=9,
        description="id windows a new full pass reads at the same time (requests are also "
        "capped by wms.max_concurrency)",
    )
    min_window_ids: int = Field(
        10_000, ge=1, description="split a full pass only into windows of at least this many ids"
    )
    full_pipeline: str = Field("full", pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    incremental_pipeline: str = Field("incremental", pattern=r"^[a-z][a-z0-9_-]{0,63}$")

    @property
    def overlap(self) -> timedelta:
        return timedelta(seconds=self.overlap_seconds)


class LogSettings(_Section):
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


class Settings(BaseSettings):
    """All of gruponos' configuration. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        extra="forbid",
        frozen=True,
        secrets_nested_delimiter="__",
    )

    entities: Annotated[tuple[str, ...], NoDecode] = Field(
        DEFAULT_ENTITIES, description="comma-separated lgfapi entity names"
    )
    wms: WmsSettings = WmsSettings()
    sink: SinkSettings = SinkSettings()
    state: StateSettings = StateSettings()
    sync: SyncSettings = SyncSettings()
    log: LogSettings = LogSettings()
    api: ApiSettings = ApiSettings()
    metrics: MetricsSettings = MetricsSettings()
    alerts: AlertsSettings = AlertsSettings()
    executor: ExecutorSettings = ExecutorSettings()
    schedule: ScheduleSettings = ScheduleSettings()

    @model_validator(mode="after")
    def _paged_needs_overlap(self) -> Settings:
        # Offset paging skips rows that move between pages while a read is under way; only the
        # overlap's re-read brings them back. Without one they would be lost for good.
        if self.wms.page_mode == "paged" and self.sync.overlap_seconds == 0:
            raise ValueError(
                "wms.page_mode = paged with sync.overlap_seconds = 0 loses rows that change "
                "during a read: set sync.overlap_seconds above 0 or wms.page_mode = sequenced"
            )
        return self

    @field_validator("entities", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("entities")
    @classmethod
    def _entity_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [name for name in value if not is_entity_name(name)]
        if bad:
            raise ValueError(f"not lgfapi entity names: {', '.join(map(repr, bad))}")
        if not value:
            raise ValueError("at least one entity is needed")
        return tuple(dict.fromkeys(value))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        sources.append(NestedSecretsSettingsSource(file_secret_settings))
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)


def readiness_problems(settings: Settings) -> list[str]:
    """What talking to the WMS needs beyond each field's own validity (the URL, the credentials),
    one line per missing setting naming its variable. The rule is the WMS settings' own
    (:meth:`WmsSettings.missing`); it is kept out of validation so that commands that never call
    the WMS work without credentials, and so that ``validate`` lists these with every problem.
    """
    return [
        f"wms.{name}: {reason} [{ENV_PREFIX}WMS__{name.upper().replace('.', '__')}]"
        for name, reason in settings.wms.missing()
    ]


def masked(settings: Settings) -> dict[str, Any]:
    """The settings as a JSON-able dict with every secret, and every password in a URL, masked."""
    shown: dict[str, Any] = _redacted(settings.model_dump(mode="json"))
    return shown


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value
