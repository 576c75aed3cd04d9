"""Configuration: environment (``GRUPONOS_``, nested with ``__``), ``.env``, a TOML file, secrets.

Sources, highest priority first: explicit values, environment variables, the ``.env`` file, files
in a secrets directory (one file per setting, named like the variable, as Kubernetes and Docker
mount them: ``gruponos_wms__password``), then the TOML file (``--config`` / ``GRUPONOS_CONFIG_FILE``).

Every secret is a ``SecretStr``: it prints as ``**********`` and never reaches logs or reports;
a password inside a URL is masked wherever a value is shown (:func:`gruponos.adapters.urls.redact`).
An invalid configuration is reported as one :class:`ConfigError` naming every bad field and where
its value came from (the variable, the ``.env`` file, a secret file or the TOML file).
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
    model_validator,
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

from gruponos.adapters.oracle_config import OracleSinkSettings
from gruponos.adapters.urls import SQL_URL_FORMS, redact, sql_url_problem
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
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL")
        if parts.username or parts.password or parts.query:
            raise ValueError("must not carry credentials or a query")
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

    @model_validator(mode="after")
    def _paged_needs_overlap(self) -> Settings:
        # Offset paging skips rows that move between pages while a read is under way; only the
        # overlap's re-read brings them back. Without one they would be lost for good.
        if self.wms.page_mode == "paged" and self.sync.overlap_seconds == 0:
            raise ValueError(
                "wms.page_mode = paged with sync.overlap_seconds = 0 loses rows that change "
                "during a read: set sync.overlap_seconds above 0 or wms.page_mode = sequenced "
                f"[{ENV_PREFIX}WMS__PAGE_MODE, {ENV_PREFIX}SYNC__OVERLAP_SECONDS]"
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


def _query_value(value: Any) -> Any:
    """A filter value as lgfapi reads it in a query string (``true``, ``10``, ``1.5``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


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
    for path, what in ((config_file, "--config"), (env_file, "--env-file")):
        unreadable = _unreadable_text(path, what)
        if unreadable is not None:
            return Failure(unreadable)
    origins = _Origins(config_file, secrets_dir, env_file)
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
    except (UnicodeDecodeError, OSError) as error:
        # Both files were read above: what is left is a secret file.
        return Failure(
            ConfigError(
                "config.file_invalid",
                f"a secret file in {secrets_dir} cannot be read as UTF-8 text: {error}"
                if secrets_dir is not None
                else f"a configuration file cannot be read: {error}",
                {"fields": []},
            )
        )
    except SettingsError as error:
        # A structured setting (a JSON object such as wms.filters) could not be decoded.
        fields = [redact(f) for f in _undecodable(env_file)] or [redact(str(error))]
        return Failure(
            ConfigError(
                "config.invalid",
                f"{len(fields)} invalid setting(s):\n  " + "\n  ".join(fields),
                {"fields": fields},
            )
        )
    except ValidationError as error:
        fields = [_describe(e, origins) for e in error.errors(include_url=False)]
        return Failure(
            ConfigError(
                "config.invalid",
                f"{len(fields)} invalid setting(s):\n  " + "\n  ".join(fields),
                {"fields": fields},
            )
        )


def _unreadable_text(path: Path | None, option: str) -> ConfigError | None:
    """A configuration file that exists but is not readable UTF-8 text, as one clear error."""
    if path is None or not path.is_file():
        return None  # a missing .env is fine; a missing --config was reported before
    try:
        path.read_bytes().decode("utf-8")
    except OSError as error:
        reason = error.strerror or type(error).__name__
        return ConfigError(
            "config.file_invalid", f"cannot read {path} ({option}): {reason}", {"fields": []}
        )
    except UnicodeDecodeError as error:
        return ConfigError(
            "config.file_invalid",
            f"{path} ({option}) is not UTF-8 text: byte 0x{error.object[error.start]:02x} at "
            f"offset {error.start}; save it as UTF-8",
            {"fields": []},
        )
    return None


def _field_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """The path of every setting and section (``("wms", "oauth2", "token_url")``)."""
    paths: set[tuple[str, ...]] = set()
    for name, info in model.model_fields.items():
        path = (*prefix, name)
        paths.add(path)
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            paths |= _field_paths(info.annotation, path)
    return paths


class _Origins:
    """Where a setting's value came from, to name what the user has to fix."""

    def __init__(self, config_file: Path | None, secrets_dir: Path | None, env_file: Path | None):
        self._config_file = config_file
        self._secrets_dir = secrets_dir
        self._env_file = env_file
        self._environ = {k.upper() for k in os.environ}  # noqa: TID251 - settings reads the env
        self._dotenv: set[str] = set()
        if env_file is not None and env_file.is_file():
            self._dotenv = {k.upper() for k in dotenv_values(env_file)}
        self._toml: dict[str, Any] = {}
        if config_file is not None:
            try:
                self._toml = tomllib.loads(config_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._toml = {}

    def hint(self, path: tuple[str, ...]) -> str:
        variable = ENV_PREFIX + "__".join(path).upper()
        if variable in self._environ:
            return variable
        if variable in self._dotenv:
            return f"{variable} in {self._env_file}"
        if self._secrets_dir is not None and (self._secrets_dir / variable.lower()).is_file():
            return f"secret file {self._secrets_dir / variable.lower()}"
        if self._in_toml(path):
            table = f"[{'.'.join(path[:-1])}] " if len(path) > 1 else ""
            return f"{table}{path[-1]} in {self._config_file}"
        return variable

    def _in_toml(self, path: tuple[str, ...]) -> bool:
        node: Any = self._toml
        for part in path:
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True


_FIELD_PATHS = _field_paths(Settings)


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


def _describe(error: Any, origins: _Origins) -> str:
    loc = tuple(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if not loc:  # a rule across settings names them itself
        return redact(message)
    location = ".".join(loc)
    setting = next((loc[:n] for n in range(len(loc), 0, -1) if loc[:n] in _FIELD_PATHS), loc)
    shown = ""
    if (
        "input" in error
        and not _SECRET_HINT.search(location)
        and not isinstance(error["input"], dict)
    ):
        shown = f" (got {error['input']!r})"
    return redact(f"{location}: {message}{shown} [{origins.hint(setting)}]")


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
