"""Driven adapters, one package per technology, each implementing a port.

httpx imports its own command line (click, pygments, rich) whenever those are installed, which
gruponos never runs: any process that loads an adapter refuses that one module, and httpx
carries on as if they were missing (start-up, issue 21; tests/unit/test_lazy_imports.py).
"""

from gruponos._hidden import never_import

never_import("httpx._main")
