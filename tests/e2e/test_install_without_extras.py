"""``pip install gruponos`` without extras (issue 19): what it runs, and what it refuses clearly.

``scripts/install_smoke.py --blocked`` runs the real programs in child processes with the
optional packages (FastAPI, Starlette, uvicorn, PyJWT, prometheus_client, Celery, kombu, Redis,
APScheduler) made unimportable by a meta path finder: ``--version``, ``demo``, ``validate``,
``sync``, ``verify``, ``quarantine``, ``views``, ``simulator serve`` and a ``tap-gruponos |
target-gruponos`` pipe must work; ``api serve``, ``metrics serve``, ``worker``, ``scheduler`` and a
sync asked to push metrics must exit 2 with one line naming the extra. ``nox -s package`` runs the
same script against a wheel really installed without extras.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gruponos.entrypoints import extras

SMOKE = Path(__file__).resolve().parents[2] / "scripts" / "install_smoke.py"


def test_the_commands_of_a_no_extras_install_work_and_the_others_name_their_extra(
    tmp_path: Path,
) -> None:
    done = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, str(SMOKE), "--blocked", "--work", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "install smoke: all checks passed" in done.stdout
    for refused in ("api serve", "metrics serve", "sync incremental (exit 2)"):
        assert f"gruponos {refused}" in done.stdout


def test_the_extras_named_are_the_ones_pyproject_declares() -> None:
    import tomllib  # noqa: PLC0415

    declared = tomllib.loads((SMOKE.parents[1] / "pyproject.toml").read_text())
    optional = declared["project"]["optional-dependencies"]
    assert set(extras.EXTRAS) <= set(optional)


def test_a_missing_extra_is_one_line_with_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extras, "installed", lambda module: module != "apscheduler")
    message = extras.missing_extra_message("scheduler", "gruponos scheduler")
    assert message == (
        "gruponos scheduler needs the 'scheduler' extra (not installed: apscheduler): "
        "pip install 'gruponos[scheduler]'"
    )
    assert extras.missing_extra_message("monitoring", "x") is None


def test_an_unimportable_module_counts_as_missing() -> None:
    assert extras.installed("json")
    assert not extras.installed("gruponos_no_such_module")
