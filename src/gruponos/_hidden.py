"""Import a library with some of its optional companions hidden (start-up cost, issues 14, 21).

Some libraries import every optional package they could use the moment they are imported, even
when gruponos never uses that support: dependency-injector loads FastAPI, Starlette, Werkzeug
and fast-depends (for ``@inject`` markers) and PyYAML (for ``Configuration.from_yaml``);
structlog loads rich and better-exceptions (for pretty tracebacks in its console renderer, which
gruponos never shows: ``format_exc_info`` turns an exception into text before any renderer).
That is ~100-300 ms in every process. Python reads a ``None`` in ``sys.modules`` as "not
installed", so the library skips its optional support; the entries are removed again afterwards,
so the rest of the process imports those packages as usual (the API service FastAPI, progress
bars rich). tests/unit/test_lazy_imports.py checks both halves.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def hidden(*names: str) -> Iterator[None]:
    """While the block runs, ``import name`` fails for each of ``names`` not yet imported."""
    blocked = [name for name in names if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


class _Refused:
    """A meta-path finder that refuses some modules, as if they were not installed."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def find_spec(self, fullname: str, *_args: object) -> None:
        if fullname in self.names:
            msg = f"{fullname} is not imported by gruponos (gruponos._hidden)"
            raise ImportError(msg, name=fullname)


_refused = _Refused()


def never_import(*names: str) -> None:
    """From now on, importing any of ``names`` fails with ImportError in this process.

    For optional parts that a library imports in ``try: ... except ImportError`` and gruponos
    never uses, such as httpx's command line (``httpx._main``, which loads click, pygments and
    rich: ~40-190 ms in every process that reads the WMS)."""
    _refused.names.update(names)
    if _refused not in sys.meta_path:
        sys.meta_path.insert(0, _refused)
