"""The floors' rules: imports point inwards only.

- domain and application import no adapter, driver, logger, env or clock;
- adapters import neither the settings, the container, the public API module nor entrypoints
  (not even under ``TYPE_CHECKING``): settings compose the adapters' typed configs, never the
  other way round;
- only entrypoints import the container (besides the public API module, ``gruponos.api``, and the
  package's lazy loader, ``gruponos/__init__.py``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "gruponos"
CORE = sorted((SRC / "domain").rglob("*.py")) + sorted((SRC / "application").rglob("*.py"))
ADAPTERS = sorted((SRC / "adapters").rglob("*.py"))
ENTRYPOINTS = SRC / "entrypoints"
#: Besides entrypoints, the modules that may import the composition root.
CONTAINER_USERS = {SRC / "api.py", SRC / "__init__.py", SRC / "container.py"}
ABOVE_ADAPTERS = ("gruponos.settings", "gruponos.container", "gruponos.api", "gruponos.entrypoints")

FORBIDDEN_MODULES = (
    "httpx",
    "oracledb",
    "sqlite3",
    "psycopg",
    "structlog",
    "logging",
    "os",
    "time",
    "socket",
    "subprocess",
    "gruponos.adapters",
    "gruponos.container",
    "gruponos.settings",
    "gruponos.simulator",
)
# Reading the wall clock (datetime.now(), date.today(), time.time() ...) or the environment.
# ``self._clock.now()`` is the Clock port and is fine: only these receivers are impure.
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter", "getenv"}
IMPURE_RECEIVERS = {"datetime", "date", "time", "os", "datetime.datetime", "datetime.date"}


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def _clock_calls(tree: ast.AST) -> list[str]:
    return [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in FORBIDDEN_CALLS
        and ast.unparse(node.func.value) in IMPURE_RECEIVERS
    ]


def _environ_uses(tree: ast.AST) -> list[str]:
    return [
        ast.unparse(node)
        for node in ast.walk(tree)
        if (isinstance(node, ast.Attribute) and node.attr == "environ")
        or (isinstance(node, ast.Name) and node.id == "environ")
    ]


def test_the_core_has_modules_to_check() -> None:
    assert len(CORE) >= 8


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(SRC)))
def test_core_module_imports_nothing_impure(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = [
        name
        for name in _imports(tree)
        if any(name == m or name.startswith(m + ".") for m in FORBIDDEN_MODULES)
    ]
    assert bad == [], f"{path.name} imports {bad}"
    assert _environ_uses(tree) == [], f"{path.name} reads the environment"
    assert _clock_calls(tree) == [], f"{path.name} reads the clock"


def _importing(tree: ast.AST, modules: tuple[str, ...]) -> list[str]:
    return [
        name
        for name in _imports(tree)
        if any(name == m or name.startswith(m + ".") for m in modules)
    ]


def _module(path: Path) -> ast.AST:
    return ast.parse(path.read_text(), filename=str(path))


def test_there_are_adapters_to_check() -> None:
    assert len(ADAPTERS) >= 20


@pytest.mark.parametrize("path", ADAPTERS, ids=lambda p: str(p.relative_to(SRC)))
def test_adapter_imports_nothing_above_it(path: Path) -> None:
    bad = _importing(_module(path), ABOVE_ADAPTERS)
    assert bad == [], f"{path.relative_to(SRC)} imports {bad}: an arrow pointing back up"


def test_only_entrypoints_import_the_container() -> None:
    importers = [
        str(path.relative_to(SRC))
        for path in sorted(SRC.rglob("*.py"))
        if _importing(_module(path), ("gruponos.container",))
        and path not in CONTAINER_USERS
        and ENTRYPOINTS not in path.parents
    ]
    assert importers == []


def test_the_floor_rules_catch_a_violation() -> None:
    """An adapter importing settings for a type hint only, or the API, is still caught."""
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from gruponos.settings import S\n"
        "import gruponos.api\nfrom gruponos.entrypoints.cli import main\n"
        "from gruponos.settings_extra import x\n"
    )
    assert sorted(_importing(tree, ABOVE_ADAPTERS)) == [
        "gruponos.api",
        "gruponos.entrypoints.cli",
        "gruponos.settings",
    ]


def test_the_rule_catches_a_violation() -> None:
    """The checker itself works: a module that breaks every rule is caught on each count."""
    source = (
        "import httpx\nfrom os import environ\nimport datetime\n"
        "x = datetime.datetime.now()\ny = self._clock.now()\nz = environ['A']\n"
    )
    tree = ast.parse(source)
    assert _imports(tree) == ["httpx", "os", "datetime"]
    assert _clock_calls(tree) == ["datetime.datetime.now()"]
    assert _environ_uses(tree) == ["environ"]


def _unwraps(tree: ast.AST) -> list[int]:
    """Lines that name ``unsafe_perform_io`` (an import of it or a call)."""
    return sorted(
        {
            node.lineno
            for node in ast.walk(tree)
            if (isinstance(node, ast.Name) and node.id == "unsafe_perform_io")
            or (
                isinstance(node, ast.ImportFrom)
                and any(alias.name == "unsafe_perform_io" for alias in node.names)
            )
        }
    )


def test_results_are_unwrapped_only_in_entrypoints() -> None:
    """The railway ends at the top: only entrypoints turn results into exit codes and output."""
    unwrapping = {
        str(path.relative_to(SRC)): lines
        for path in sorted(SRC.rglob("*.py"))
        if ENTRYPOINTS not in path.parents and (lines := _unwraps(_module(path)))
    }
    assert unwrapping == {}


def test_the_unwrap_rule_catches_a_violation() -> None:
    tree = ast.parse(
        "from returns.unsafe import unsafe_perform_io\nx = unsafe_perform_io(y)\nz = 1\n"
    )
    assert _unwraps(tree) == [1, 2]
