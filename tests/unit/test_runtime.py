"""The allocator tuning of the command-line programs."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gruponos.adapters.runtime import pause_gc, resume_gc, tune_allocator


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_mmap_threshold_is_set_on_glibc() -> None:
    assert tune_allocator() is True


def test_importing_gruponos_tunes_nothing() -> None:
    code = (
        "import gruponos, gruponos.container, sys;print('gruponos.adapters.runtime' in sys.modules)"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


@pytest.fixture
def freezes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts ``gc.freeze`` calls without freezing the test process's objects for good."""
    calls: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append(1))
    yield calls
    gc.enable()


def test_pausing_holds_the_collector_off_until_resumed(freezes: list[int]) -> None:
    assert gc.isenabled()
    pause_gc()
    assert not gc.isenabled()
    resume_gc()
    assert gc.isenabled()
    assert freezes == [1]  # start-up's objects go to the permanent generation
    resume_gc()  # a second resume changes nothing
    assert freezes == [1]


def test_a_collector_disabled_by_the_caller_stays_disabled(freezes: list[int]) -> None:
    gc.disable()
    pause_gc()
    resume_gc()
    assert not gc.isenabled()
    assert freezes == []


def _sync_in_own_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str) -> bool:
    """``gruponos ... args`` as the installed program starts it, against a simulator into
    SQLite; whether the collector was on while the run read the WMS."""
    from gruponos.entrypoints.cli import main as program  # noqa: PLC0415 - the CLI under test
    from gruponos.simulator import SimulatorConfig, WmsSimulator  # noqa: PLC0415

    seen: list[bool] = []
    config = SimulatorConfig(records=30)
    monkeypatch.setattr(program, "_own_process", False)  # run() sets it: undone after the test
    with WmsSimulator(config) as sim:
        for key, value in {
            "GRUPONOS_WMS__BASE_URL": sim.base_url,
            "GRUPONOS_WMS__USERNAME": config.username,
            "GRUPONOS_WMS__PASSWORD": config.password,
            "GRUPONOS_SINK__URL": f"sqlite:///{tmp_path / 'wms.db'}",
            "GRUPONOS_ENTITIES": "allocation",
        }.items():
            monkeypatch.setenv(key, value)
        dispatch = sim.dispatch

        def observed(*args: Any) -> None:  # the simulator serves in a thread of this process
            seen.append(gc.isenabled())
            dispatch(*args)

        monkeypatch.setattr(sim, "dispatch", observed)
        argv = ["gruponos", "--env-file", "/nonexistent/.env", "--progress", "never", *args]
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as exit_:
            program.run()
    assert exit_.value.code == 0
    return all(seen) and bool(seen)


def test_the_program_pauses_the_collector_for_a_sync_and_resumes_it_for_the_run(
    freezes: list[int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert _sync_in_own_process(monkeypatch, tmp_path, "sync", "incremental")
    assert freezes == [1]
    assert gc.isenabled()


def test_other_commands_of_the_program_leave_the_collector_alone(
    freezes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gruponos.entrypoints.cli import main as program  # noqa: PLC0415 - the CLI under test

    monkeypatch.setattr(program, "_own_process", False)  # run() sets it: undone after the test
    monkeypatch.setattr(sys, "argv", ["gruponos", "list-pipelines"])
    with pytest.raises(SystemExit) as exit_:
        program.run()
    assert exit_.value.code == 0
    assert freezes == []
    assert gc.isenabled()


def test_main_in_another_program_leaves_the_collector_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from click.testing import CliRunner  # noqa: PLC0415

    from gruponos.entrypoints.cli import main as program  # noqa: PLC0415 - the CLI under test

    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("GRUPONOS_")]:  # noqa: TID251 - unset
        monkeypatch.delenv(name)
    # a sync that stops at its configuration (no WMS configured), after the command was looked up
    result = CliRunner().invoke(program.main, ["--env-file", "/nonexistent/.env", "sync", "full"])
    assert result.exit_code == 2, result.output
    assert gc.isenabled()
