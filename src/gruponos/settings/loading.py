"""Where settings come from: environment (``GRUPONOS_``, nested with ``__``), ``.env``, a TOML
file, a secrets directory, or a mapping (the Singer programs' JSON config).

Sources, highest priority first: explicit values, environment variables, the ``.env`` file, files
in a secrets directory (one file per setting, named like the variable, as Kubernetes and Docker
mount them: ``gruponos_wms__password``), then the TOML file (``--config`` / ``GRUPONOS_CONFIG_FILE``).

An invalid configuration is reported as one :class:`ConfigError` naming every bad field and where
its value came from (the variable, the ``.env`` file, a secret file or the TOML file).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, get_origin

from dotenv import dotenv_values
from pydantic import BaseModel, ValidationError
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)
from returns.result import Failure, Result, Success

from gruponos.adapters.urls import redact
from gruponos.application.errors import ConfigError
from gruponos.settings.model import ENV_PREFIX, Settings

_SECRET_HINT = re.compile(r"password|secret|token", re.IGNORECASE)
_SETTING_NAME = re.compile(r"\b[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+\b")


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


def _mentioned(message: str) -> list[tuple[str, ...]]:
    """The settings a rule across settings names in its message (``wms.page_mode`` ...)."""
    found = (tuple(m.split(".")) for m in _SETTING_NAME.findall(message))
    return list(dict.fromkeys(path for path in found if path in _FIELD_PATHS))


def _describe(error: Any, origins: _Origins) -> str:
    loc = tuple(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if not loc:  # a rule across settings names them in its message: point at each one
        hints = ", ".join(origins.hint(path) for path in _mentioned(message))
        return redact(f"{message} [{hints}]" if hints else message)
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


class _Explicit(Settings):
    """The same model and rules, from the values given only (no environment, ``.env``, secrets
    or TOML file): how a program configured by a file of its own (Singer) is validated."""

    model_config = SettingsConfigDict(env_file=None, secrets_nested_delimiter=None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],  # noqa: ARG003
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def settings_from(
    values: Mapping[str, Any], name: Callable[[tuple[str, ...]], str]
) -> Result[Settings, list[str]]:
    """Settings from ``values`` alone (nested like the model), or one line per invalid setting,
    each named by ``name(path)`` (``("wms", "page_size")`` -> the caller's own key)."""
    try:
        return Success(_Explicit(_env_file=None, **values))
    except ValidationError as error:
        lines = []
        for item in error.errors(include_url=False):
            loc = tuple(str(part) for part in item["loc"])
            message = str(item["msg"]).removeprefix("Value error, ")
            if not loc:
                for path in _mentioned(message):
                    message = message.replace(".".join(path), name(path))
                lines.append(redact(message))
                continue
            setting = next(
                (loc[:n] for n in range(len(loc), 0, -1) if loc[:n] in _FIELD_PATHS), loc
            )
            rest = ".".join(loc[len(setting) :])
            lines.append(redact(f"{name(setting)}{'.' + rest if rest else ''}: {message}"))
        return Failure(lines)
