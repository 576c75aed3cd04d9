"""dependency-injector, imported without the web frameworks and YAML it would load for nothing.

Its ``wiring`` module (loaded by ``dependency_injector.containers``) imports FastAPI, Starlette,
Werkzeug and fast-depends when they are installed, only to recognise their markers in
``@inject`` wiring, which gruponos does not use (entrypoints resolve providers explicitly), and
its ``providers`` module imports PyYAML for ``Configuration.from_yaml``, which gruponos does not
use either. With the API service installed that is ~130 ms and ~9 MB in every process that
builds a container (every ``gruponos sync``, every Singer program), and PyYAML another ~20 ms.
So they are hidden from that one import (:func:`gruponos._hidden.hidden`); the API service
imports FastAPI as usual, before or after the container (tests/unit/test_lazy_imports.py).
"""

from __future__ import annotations

from gruponos._hidden import hidden

with hidden("fastapi", "starlette", "werkzeug", "fast_depends", "yaml"):
    from dependency_injector import containers, providers

__all__ = ["containers", "providers"]
