"""The Singer programs' ``--config`` (what Meltano passes) mapped onto the one settings model.

A tap or target config is validated by the same rules, with the same defaults, as ``GRUPONOS_*``
settings: each key names a setting (``page_size`` is ``wms.page_size``), and every problem is
reported under the key the user wrote. The tap always talks to the WMS, so its config must also
be complete (``base_url`` and credentials). Only the Singer programs' own keys (``sync_mode``,
``start_date``, ``quarantine_file``, ``load_method``) are not settings.

>>> tap = tap_settings({"base_url": "https://wms.example/prod", "username": "u",
...                     "password": "p", "page_size": 100}).unwrap()
>>> tap.settings.wms.page_size, tap.settings.entities
(100, ('order_hdr', 'order_dtl', 'allocation'))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from returns.result import Failure, Result, Success

from gruponos.adapters.singer.config import TapConfig, TargetConfig, config_problems
from gruponos.application.errors import ConfigError
from gruponos.settings.loading import settings_from
from gruponos.settings.model import Settings

SettingPath = tuple[str, ...]
M = TypeVar("M", bound=BaseModel)

#: tap-gruponos key -> the setting it is.
TAP_KEYS: Mapping[str, SettingPath] = {
    "base_url": ("wms", "base_url"),
    "auth": ("wms", "auth"),
    "username": ("wms", "username"),
    "password": ("wms", "password"),
    "token_url": ("wms", "oauth2", "token_url"),
    "client_id": ("wms", "oauth2", "client_id"),
    "client_secret": ("wms", "oauth2", "client_secret"),
    "oauth2_grant": ("wms", "oauth2", "grant"),
    "scope": ("wms", "oauth2", "scope"),
    "entities": ("entities",),
    "overlap_seconds": ("sync", "overlap_seconds"),
    "page_size": ("wms", "page_size"),
    "page_mode": ("wms", "page_mode"),
    "timeout_seconds": ("wms", "timeout_seconds"),
    "max_attempts": ("wms", "max_attempts"),
    "verify_tls": ("wms", "verify_tls"),
    "filters": ("wms", "filters"),
    "max_reject_ratio": ("sync", "max_reject_ratio"),
}
#: target-gruponos key -> the setting it is (``load_method = append-only`` is ``sink.history``).
TARGET_KEYS: Mapping[str, SettingPath] = {
    "url": ("sink", "url"),
    "password": ("sink", "password"),
    "table_prefix": ("sink", "table_prefix"),
    "batch_size": ("sync", "batch_size"),
    "max_reject_ratio": ("sync", "max_reject_ratio"),
}


@dataclass(frozen=True, slots=True)
class TapSettings:
    """A validated ``tap-gruponos`` config: the settings (for the container) and the tap's own."""

    settings: Settings
    sync_mode: Literal["full", "incremental"]
    start_date: datetime | None
    quarantine_file: Path | None


@dataclass(frozen=True, slots=True)
class TargetSettings:
    """A validated ``target-gruponos`` config: the settings (for the container) and the target's
    own ``load_method``."""

    settings: Settings
    load_method: Literal["upsert", "append-only", "overwrite"]


def tap_settings(config: Mapping[str, Any]) -> Result[TapSettings, ConfigError]:
    """Validate a tap config (``ConfigError`` listing every invalid or missing key)."""
    return _keys(TapConfig, config).bind(
        lambda keys: _settings(keys, TAP_KEYS, {}, ready=True).map(
            lambda settings: TapSettings(
                settings, keys.sync_mode, keys.start_date, keys.quarantine_file
            )
        )
    )


def target_settings(config: Mapping[str, Any]) -> Result[TargetSettings, ConfigError]:
    """Validate a target config (``ConfigError`` listing every invalid key)."""
    return _keys(TargetConfig, config).bind(
        lambda keys: _settings(
            keys, TARGET_KEYS, {"sink": {"history": keys.load_method == "append-only"}}
        ).map(lambda settings: TargetSettings(settings, keys.load_method))
    )


def _keys(model: type[M], config: Mapping[str, Any]) -> Result[M, ConfigError]:
    try:
        return Success(model.model_validate(dict(config)))
    except ValidationError as exc:
        return Failure(_invalid(config_problems(exc)))


def _settings(
    keys: BaseModel,
    table: Mapping[str, SettingPath],
    fixed: dict[str, Any],
    *,
    ready: bool = False,
) -> Result[Settings, ConfigError]:
    values: dict[str, Any] = fixed
    for key, path in table.items():
        value = getattr(keys, key)
        if value is None:  # not given: the setting's default
            continue
        node = values
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    named = {path: key for key, path in table.items()}

    def name(path: SettingPath) -> str:
        return named.get(path, ".".join(path))

    built = settings_from(values, name)
    if not ready:
        return built.alt(_invalid)
    return built.alt(_invalid).bind(lambda settings: _complete(settings, name))


def _complete(
    settings: Settings, name: Callable[[SettingPath], str]
) -> Result[Settings, ConfigError]:
    missing = [
        f"{name(('wms', *part.split('.')))}: {reason}" for part, reason in settings.wms.missing()
    ]
    return Failure(_invalid(missing)) if missing else Success(settings)


def _invalid(lines: list[str]) -> ConfigError:
    return ConfigError(
        "config.invalid", "invalid config:\n  " + "\n  ".join(lines), {"fields": lines}
    )
