"""Singer adapters: ``tap-gruponos``'s output (the extraction as Singer messages) and
``target-gruponos``'s input (any Singer stream fed to the load). See docs/meltano.md."""

from gruponos.adapters.singer.config import TapConfig, TargetConfig
from gruponos.adapters.singer.tap import SingerTapOutput
from gruponos.adapters.singer.target import SingerStates, SingerTarget

__all__ = ["SingerStates", "SingerTapOutput", "SingerTarget", "TapConfig", "TargetConfig"]
