"""dependency-injector, imported without the web frameworks it would load for nothing.

Its ``wiring`` module (loaded by ``dependency_injector.containers``) imports FastAPI, Starlette,
Werkzeug and fast-depends when they are installed, only to recognise their markers in
``@inject`` wiring, which gruponos does not use (entrypoints resolve providers explicitly). With
the API service installed that is ~130 ms and ~9 MB in every process that builds a container:
every ``gruponos sync``, every Singer program. So they are hidden from that one import: Python
reads a ``None`` in ``sys.modules`` as "not installed", the library skips its optional support,
and the entries are removed again, so the API service imports FastAPI as usual (before or after
the container; both work, tests/unit/test_lazy_imports.py checks it).
"""

from __future__ import annotations

import sys

_HIDDEN = ("fastapi", "starlette", "werkzeug", "fast_depends")
_blocked = [name for name in _HIDDEN if name not in sys.modules]
for _name in _blocked:
    sys.modules[_name] = None  # type: ignore[assignment]
try:
    from dependency_injector import containers, providers
finally:
    for _name in _blocked:
        if sys.modules.get(_name, 0) is None:
            del sys.modules[_name]

__all__ = ["containers", "providers"]
