"""gruponos' configuration, validated once: the model (:mod:`.model`), where its values come
from (:mod:`.loading`: environment, ``.env``, TOML, secrets) and the Singer programs' JSON config
mapped onto it (:mod:`.singer`, imported on use).

Every secret is a ``SecretStr``: it prints as ``**********`` and never reaches logs or reports;
a password inside a URL is masked wherever a value is shown (:func:`gruponos.adapters.urls.redact`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gruponos.adapters.wms_settings import OAuth2Settings, WmsSettings
from gruponos.settings.loading import load_settings, settings_from
from gruponos.settings.model import (
    ENV_PREFIX,
    LogSettings,
    Settings,
    SinkSettings,
    StateSettings,
    SyncSettings,
    masked,
    readiness_problems,
)

if TYPE_CHECKING:
    from gruponos.settings.singer import (
        TapSettings,
        TargetSettings,
        tap_settings,
        target_settings,
    )

__all__ = [
    "ENV_PREFIX",
    "LogSettings",
    "OAuth2Settings",
    "Settings",
    "SinkSettings",
    "StateSettings",
    "SyncSettings",
    "TapSettings",
    "TargetSettings",
    "WmsSettings",
    "load_settings",
    "masked",
    "readiness_problems",
    "settings_from",
    "tap_settings",
    "target_settings",
]

_SINGER = frozenset({"TapSettings", "TargetSettings", "tap_settings", "target_settings"})


def __getattr__(name: str) -> Any:
    # The Singer mapping loads the Singer adapters' key models: only the Singer programs need it.
    if name in _SINGER:
        from gruponos.settings import singer  # noqa: PLC0415

        return getattr(singer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
