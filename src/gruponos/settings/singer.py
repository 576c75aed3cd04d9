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
from returns.pipeline import is_successful
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
    """Validate a tap config (``ConfigError`` listing every invalid or missing key at once)."""
    keys, problems = _keys(TapConfig, config)
    return _settings(keys, TAP_KEYS, {}, problems, ready=True).map(
        lambda settings: TapSettings(
            settings, keys.sync_mode, keys.start_date, keys.quarantine_file
        )
    )


def target_settings(config: Mapping[str, Any]) -> Result[TargetSettings, ConfigError]:
    """Validate a target config (``ConfigError`` listing every invalid key at once)."""
    keys, problems = _keys(TargetConfig, config)
    history = {"sink": {"history": keys.load_method == "append-only"}}
    return _settings(keys, TARGET_KEYS, history, problems).map(
        lambda settings: TargetSettings(settings, keys.load_method)
    )


def _keys(model: type[M], config: Mapping[str, Any]) -> tuple[M, list[str]]:
    """The keys that are well-typed, and one line per key that is unknown or mistyped (those
    keys are left out, so that the settings' rules still judge every other key)."""
    values = dict(config)
    problems: list[str] = []
    while True:
        try:
            return model.model_validate(values), problems
        except ValidationError as exc:
            problems += config_problems(exc)
            bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
            if not bad & set(values):  # nothing left to drop: a model-wide error
                return model.model_validate({}), problems
            values = {key: value for key, value in values.items() if key not in bad}


def _settings(
    keys: BaseModel,
    table: Mapping[str, SettingPath],
    fixed: dict[str, Any],
    problems: list[str],
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
    if not is_successful(built):
        return Failure(_invalid(problems + built.failure()))
    settings = built.unwrap()
    if ready:
        problems = problems + _missing(settings, name)
    return Failure(_invalid(problems)) if problems else Success(settings)


def _missing(settings: Settings, name: Callable[[SettingPath], str]) -> list[str]:
    return [
        f"{name(('wms', *part.split('.')))}: {reason}" for part, reason in settings.wms.missing()
    ]


def _invalid(lines: list[str]) -> ConfigError:
    return ConfigError(
        "config.invalid", "invalid config:\n  " + "\n  ".join(lines), {"fields": lines}
    )
