"""Configuration: environment (``GRUPONOS_``, nested with ``__``), ``.env``, a TOML file, secrets.

Sources, highest priority first: explicit values, environment variables, the ``.env`` file, files
in a secrets directory (one file per setting, named like the variable, as Kubernetes and Docker
mount them: ``gruponos_wms__password``), then the TOML file (``--config`` / ``GRUPONOS_CONFIG_FILE``).

Every secret is a ``SecretStr``: it prints as ``**********`` and never reaches logs or reports.
An invalid configuration is reported as one :class:`ConfigError` naming every bad field.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_origin
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)
from pydantic_settings.sources import NestedSecretsSettingsSource
from returns.result import Failure, Result, Success

from gruponos.application.errors import ConfigError

ENV_PREFIX = "GRUPONOS_"
_ENTITY = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
_TABLE_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,29}$")
_SINK_SCHEMES = {
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "postgres": "postgres",
    "oracle": "oracle",
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OAuth2Settings(_Section):
    """OAuth2 against Oracle Identity (IDCS / OCI IAM); used when ``wms.auth = oauth2``."""

    token_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    grant: Literal["client_credentials", "password"] = "client_credentials"
    scope: str = "urn:resource:fusion:scm:logistics:wms:lgfapi/"


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
    page_size: int = Field(1000, ge=1, le=1250)
    page_mode: Literal["sequenced", "paged"] = "sequenced"
    timeout_seconds: float = Field(120.0, gt=0, le=600)
    max_attempts: int = Field(6, ge=1, le=20)
    backoff_seconds: float = Field(
        0.5, ge=0, le=60, description="first retry delay; doubles per attempt, with full jitter"
    )
    backoff_cap_seconds: float = Field(30.0, ge=0, le=600, description="longest retry delay")
    max_concurrency: int = Field(4, ge=1, le=9, description="Oracle advises < 10 per user")
    verify_tls: bool = True
    filters: dict[str, str] = Field(default_factory=dict, description="e.g. facility_id__code")
    default_timezone: str | None = Field(
        None, description="IANA zone for timestamps without an offset (the API always sends one)"
    )

    @field_validator("base_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL")
        if parts.username or parts.password or parts.query:
            raise ValueError("must not carry credentials or a query")
        return value.rstrip("/")

    @field_validator("filters")
    @classmethod
    def _filter_names(cls, value: dict[str, str]) -> dict[str, str]:
        # The HTTP client's own rule, imported on use: it loads httpx, which reading settings
        # should not (filters are rare).
        from gruponos.adapters.wms_http.config import (  # noqa: PLC0415
            FILTER_KEY,
            RESERVED_PARAMS,
        )

        bad = [key for key in value if not FILTER_KEY.match(key) or key in RESERVED_PARAMS]
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


class SinkSettings(_Section):
    """The analytics database."""

    url: str = Field(
        "sqlite:///gruponos.db",
        description="sqlite:///path.db | postgresql://user@host:port/db | oracle://user@host:port/service",
    )
    password: SecretStr | None = None
    table_prefix: str = "WMS_"
    history: bool = Field(default=False, description="also keep every version in <table>_HIST")

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = value.split(":", 1)[0].lower()
        if scheme not in _SINK_SCHEMES or "://" not in value:
            raise ValueError("must start with sqlite://, postgresql:// or oracle://")
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
        return _SINK_SCHEMES[self.url.split(":", 1)[0].lower()]


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
        ("allocation", "order_hdr", "order_dtl"), description="comma-separated lgfapi entity names"
    )
    wms: WmsSettings = WmsSettings()
    sink: SinkSettings = SinkSettings()
    state: StateSettings = StateSettings()
    sync: SyncSettings = SyncSettings()
    log: LogSettings = LogSettings()

    @field_validator("entities", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("entities")
    @classmethod
    def _entity_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [name for name in value if not _ENTITY.match(name)]
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
    """What talking to the WMS needs beyond each field's own validity: the URL and credentials.

    Kept out of the model so that ``validate`` can list these together with every other problem.
    """
    wms = settings.wms
    problems = []
    if wms.base_url is None:
        problems.append("wms.base_url: required to talk to the WMS [GRUPONOS_WMS__BASE_URL]")
    needed: list[str] = []
    if wms.auth == "basic":
        needed += [f"wms.{n}" for n in ("username", "password") if getattr(wms, n) is None]
    else:
        needed += [
            f"wms.oauth2.{n}"
            for n in ("token_url", "client_id", "client_secret")
            if getattr(wms.oauth2, n) is None
        ]
        if wms.oauth2.grant == "password":
            needed += [f"wms.{n}" for n in ("username", "password") if getattr(wms, n) is None]
    problems += [
        f"{name}: required for {wms.auth} authentication "
        f"[{ENV_PREFIX}{name.upper().replace('.', '__')}]"
        for name in needed
    ]
    return problems


_SECRET_HINT = re.compile(r"password|secret|token", re.IGNORECASE)


def load_settings(
    config_file: Path | None = None,
    secrets_dir: Path | None = None,
    env_file: Path | None = Path(".env"),
    **overrides: Any,
) -> Result[Settings, ConfigError]:
    """Read the configuration from every source; every invalid field in one ``ConfigError``."""
    cls: type[Settings] = Settings
    if config_file is not None:
        if not config_file.is_file():
            return Failure(
                ConfigError(
                    "config.file_missing", f"no configuration file at {config_file}", {"fields": []}
                )
            )
        cls = type(
            "Settings",
            (Settings,),
            {
                "model_config": SettingsConfigDict(
                    **{**Settings.model_config, "toml_file": config_file}
                )
            },
        )
    if secrets_dir is not None and not secrets_dir.is_dir():
        return Failure(
            ConfigError(
                "config.secrets_dir_missing",
                f"no secrets directory at {secrets_dir}",
                {"fields": []},
            )
        )
    try:
        return Success(cls(_env_file=env_file, _secrets_dir=secrets_dir, **overrides))
    except tomllib.TOMLDecodeError as error:
        return Failure(
            ConfigError(
                "config.file_invalid",
                f"{config_file} is not valid TOML: {error}",
                {"fields": [f"--config {config_file}: {error}"]},
            )
        )
    except SettingsError as error:
        # A structured setting (a JSON object such as wms.filters) could not be decoded.
        fields = _undecodable(env_file) or [str(error)]
        return Failure(
            ConfigError(
                "config.invalid",
                f"{len(fields)} invalid setting(s):\n  " + "\n  ".join(fields),
                {"fields": fields},
            )
        )
    except ValidationError as error:
        fields = [_describe(e) for e in error.errors(include_url=False)]
        return Failure(
            ConfigError(
                "config.invalid",
                f"{len(fields)} invalid setting(s):\n  " + "\n  ".join(fields),
                {"fields": fields},
            )
        )


def _structured_paths(
    model: type[BaseModel], prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    """Paths of settings whose environment value must be JSON (dicts and lists of sections)."""
    paths: list[tuple[str, ...]] = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths += _structured_paths(annotation, (*prefix, name))
        elif get_origin(annotation) in (dict, list) and not any(
            isinstance(m, NoDecode) for m in info.metadata
        ):
            paths.append((*prefix, name))
    return paths


def _undecodable(env_file: Path | None) -> list[str]:
    """Name each JSON-valued setting whose value (environment or .env) is not valid JSON."""
    values: dict[str, str | None] = {}
    if env_file is not None and env_file.is_file():
        values.update(dotenv_values(env_file))
    values.update(os.environ)  # noqa: TID251 - settings is where the environment is read
    found = []
    for path in _structured_paths(Settings):
        variable = ENV_PREFIX + "__".join(path).upper()
        raw = next((v for k, v in values.items() if k.upper() == variable), None)
        if raw is None:
            continue
        try:
            json.loads(raw)
        except ValueError:
            found.append(
                f"{'.'.join(path)}: must be a JSON object, e.g. "
                f'{{"facility_id__code": "FAC1"}} [{variable}]'
            )
    return found


def _describe(error: Any) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "settings"
    variable = ENV_PREFIX + "__".join(str(p) for p in error["loc"]).upper() if error["loc"] else ""
    message = str(error["msg"]).removeprefix("Value error, ")
    shown = ""
    if (
        "input" in error
        and not _SECRET_HINT.search(location)
        and not isinstance(error["input"], dict)
    ):
        shown = f" (got {error['input']!r})"
    hint = f" [{variable}]" if variable else ""
    return f"{location}: {message}{shown}{hint}"


def masked(settings: Settings) -> dict[str, Any]:
    """The settings as a JSON-able dict with every secret (and URL password) masked."""
    from gruponos.adapters.sql.url import mask_url  # noqa: PLC0415 - its package loads the sinks

    data = settings.model_dump(mode="json")
    data["sink"]["url"] = mask_url(settings.sink.url)
    return data
