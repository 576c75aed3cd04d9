"""Start-up cost (issue 9): a process imports only the layers and drivers it uses.

Checked by what a fresh interpreter has in ``sys.modules`` after doing one thing, never by timing.
structlog imports rich when rich is installed (``structlog.dev``), and so does httpx (its CLI
module); gruponos hides rich from structlog and refuses httpx's CLI module (``gruponos._hidden``,
issue 21), which the checks below also pin.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

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
    "fastapi",
    "starlette",
)
DRIVERS = {"sqlite": "sqlite3", "postgresql": "psycopg", "oracle": "oracledb"}

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


def test_the_container_and_settings_load_no_adapter_until_a_provider_needs_one() -> None:
    loaded = loaded_after(
        "from gruponos.container import build_container\n"
        "from gruponos.settings import load_settings\n"
        "build_container(load_settings(env_file=None).unwrap())"
    )
    assert "gruponos.container" in loaded
    assert loaded.isdisjoint({"fastapi", "starlette"})  # dependency-injector's optional wiring
    adapters = {
        "gruponos.adapters.logs",
        "gruponos.adapters.sql",
        "gruponos.adapters.state.meltano",
        "gruponos.adapters.wms_http",
        "httpx",
        "rich",
        "structlog",
        *DRIVERS.values(),
    }
    assert loaded.isdisjoint(adapters), loaded & adapters


@pytest.mark.parametrize(
    "url", ["sqlite:///x.db", "postgresql://etl@db:5432/dwh", "oracle://etl@db/svc"]
)
def test_a_sink_loads_its_own_driver_only(url: str) -> None:
    loaded = loaded_after(
        "from gruponos.adapters.sql import dialect_for\n"
        "from gruponos.adapters.sql.url import parse_sql_url\n"
        f"dialect_for(parse_sql_url({url!r}).unwrap())"
    )
    driver = DRIVERS[url.partition(":")[0]]
    assert driver in loaded
    assert loaded.isdisjoint(set(DRIVERS.values()) - {driver}), loaded


def test_a_sqlite_sync_is_wired_without_the_other_drivers(tmp_path: Path) -> None:
    loaded = loaded_after(
        "from gruponos.container import build_container\n"
        "from gruponos.settings import load_settings\n"
        "wms = {'base_url': 'http://127.0.0.1:1/x', 'username': 'u', 'password': 'p'}\n"
        f"settings = load_settings(env_file=None, wms=wms, sink={{'url': 'sqlite:///{tmp_path}/t.db'}})\n"
        "container = build_container(settings.unwrap())\n"
        "container.sync()\n"
        "container.shutdown_resources()"
    )
    assert {"sqlite3", "gruponos.adapters.sql", "gruponos.adapters.wms_http"} <= loaded
    assert loaded.isdisjoint({"psycopg", "oracledb", "gruponos.adapters.state.meltano"}), loaded


def test_cli_help_loads_no_settings_container_logging_or_rich() -> None:
    loaded = loaded_after(
        "from gruponos.entrypoints.cli.main import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass"
    )
    assert loaded <= {"gruponos.api"}, loaded  # run_with_retries and report_of: no adapter


def test_the_api_service_still_loads_fastapi_after_the_container() -> None:
    loaded = loaded_after(
        "import gruponos.container\n"
        "from gruponos.entrypoints.api.app import create_app\n"
        "import fastapi.params\n"
    )
    assert {"gruponos.container", "fastapi", "starlette"} <= loaded


def test_a_command_line_imports_only_the_subcommand_it_runs() -> None:
    """``gruponos --version`` loads no subcommand; ``gruponos list-pipelines`` only its own
    module (issue 21: every run pays for the command line's imports)."""
    code = (
        "import json, sys\n"
        "from gruponos.entrypoints.cli.main import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('gruponos.'))))\n"
    )

    def loaded(*args: str) -> set[str]:
        done = subprocess.run(  # noqa: S603 - this interpreter, fixed code
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return set(json.loads(done.stdout.splitlines()[-1]))

    subcommands = {
        "gruponos.entrypoints.api.cli",
        "gruponos.entrypoints.cli.admin",
        "gruponos.entrypoints.cli.demo",
        "gruponos.entrypoints.cli.sync_cmd",
        "gruponos.simulator",
    }
    assert loaded("--version").isdisjoint(subcommands)
    after_list = loaded("list-pipelines")
    assert "gruponos.entrypoints.cli.sync_cmd" in after_list
    assert after_list.isdisjoint(subcommands - {"gruponos.entrypoints.cli.sync_cmd"})


def test_logging_the_container_and_the_wms_client_load_no_optional_extras(tmp_path: Path) -> None:
    """structlog's rich tracebacks, dependency-injector's YAML and httpx's command line (click,
    pygments, rich) are never used, so never loaded (issue 21) ..."""
    code = (
        "import json, sys\n"
        "from gruponos.adapters.logs import configure_logging\n"
        "from gruponos.container import build_container\n"
        "from gruponos.settings import load_settings\n"
        "configure_logging('console', 'info')\n"
        "wms = {'base_url': 'http://127.0.0.1:1/x', 'username': 'u', 'password': 'p'}\n"
        f"settings = load_settings(env_file=None, wms=wms, sink={{'url': 'sqlite:///{tmp_path}/t.db'}})\n"
        "container = build_container(settings.unwrap())\n"
        "container.sync()\n"
        "import httpx\n"
        "print(json.dumps(sorted(m for m in ('rich', 'pygments', 'yaml', 'httpx._main', 'httpx') if m in sys.modules)))\n"
        # ... and each still imports normally afterwards (progress bars use rich)
        "import rich.progress, yaml\n"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == ["httpx"]


def test_a_sync_does_not_import_the_other_use_cases(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "from gruponos.container import build_container\n"
        "from gruponos.settings import load_settings\n"
        "wms = {'base_url': 'http://127.0.0.1:1/x', 'username': 'u', 'password': 'p'}\n"
        f"settings = load_settings(env_file=None, wms=wms, sink={{'url': 'sqlite:///{tmp_path}/t.db'}})\n"
        "container = build_container(settings.unwrap())\n"
        "container.sync()\n"
        "others = [f'gruponos.application.{m}' for m in ('replay', 'extract', 'load', 'scaleout')]\n"
        "print(json.dumps([m for m in others if m in sys.modules]))\n"
        "container.replay()\n"
        "print(json.dumps('gruponos.application.replay' in sys.modules))\n"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    *_, before, after = done.stdout.splitlines()
    assert json.loads(before) == []
    assert json.loads(after) is True  # made on demand
