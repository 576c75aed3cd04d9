"""Singer adapters: ``tap-gruponos`` (WMS entities as Singer streams) and ``target-gruponos``
(any Singer stream into the SQL sink). See docs/meltano.md."""

from gruponos.adapters.singer.config import TapConfig, TargetConfig
from gruponos.adapters.singer.tap import SingerTap, TapReport
from gruponos.adapters.singer.target import SingerTarget, TargetReport

__all__ = ["SingerTap", "SingerTarget", "TapConfig", "TapReport", "TargetConfig", "TargetReport"]
