"""Start-up cost (issue 9): a process imports only the layers and drivers it uses.

Checked by what a fresh interpreter has in ``sys.modules`` after doing one thing, never by timing.
structlog itself imports rich when rich is installed (``structlog.dev``), and so does httpx (its
CLI module), so a run that logs or reads the WMS loads rich whatever gruponos does: these checks
are about the imports gruponos controls.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import gruponos

#: Heavy third-party packages, and gruponos layers, whose loading the checks watch.
WATCHED = (
    "dependency_injector",
    "httpx",
    "oracledb",
    "psycopg",
    "pydantic",
    "pydantic_settings",
    "rich",
    "sqlite3",
    "structlog",
    "gruponos.adapters.logs",
    "gruponos.adapters.sql",
    "gruponos.adapters.state.meltano",
    "gruponos.adapters.wms_http",
    "gruponos.api",
    "gruponos.container",
    "gruponos.settings",
)

_REPORT = """
import json, sys
print(json.dumps(sorted(m for m in sys.argv[1:] if m in sys.modules)))
"""


def loaded_after(code: str) -> set[str]:
    """The watched modules a fresh interpreter has imported after running ``code``."""
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code + _REPORT, *WATCHED],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_import_gruponos_loads_no_layer() -> None:
    assert loaded_after("import gruponos") == set()


def test_a_public_name_loads_its_module_only() -> None:
    assert loaded_after("import gruponos; gruponos.SyncMode") == set()
    assert loaded_after("from gruponos import sync") == {"gruponos.api"}


def test_every_public_name_resolves_to_its_definition() -> None:
    where = gruponos._MODULE_OF
    assert set(gruponos.__all__) == {*where, "__version__"}
    for name in gruponos.__all__:
        value = getattr(gruponos, name)
        if name != "__version__":
            assert value is getattr(importlib.import_module(where[name]), name)
    assert set(gruponos.__all__) <= set(dir(gruponos))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        gruponos.nope  # noqa: B018
