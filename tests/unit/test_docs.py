"""The docs agree with the program and stand alone (issue 13: a new user found where they did not).

No timing is asserted here: the README's demo figures come from ``scripts/time-readme-demo.sh``;
these checks keep the claim's form honest (install and demo apart, the script named, the demo's
size as the command has it) and the README's demo command runs in ``tests/e2e``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from returns.io import IOResult

from gruponos.adapters.memory import InMemoryWms
from gruponos.api import run_with_retries
from gruponos.application.errors import SyncError
from gruponos.domain.checkpoints import SyncMode
from gruponos.domain.runs import SyncReport
from gruponos.entrypoints.cli.demo import demo
from support.fakes import world
from support.records import allocation_schema

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
OPERATIONS = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SOURCES = sorted((ROOT / "src").rglob("*.py"))


@pytest.mark.parametrize("path", DOCS + SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_doc_or_source_cites_a_file_outside_the_repository(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for outside in ("DESIGN.md", "WMS_API", "shared/", "/work/"):
        assert outside not in text, f"{path.relative_to(ROOT)} cites {outside}"


def test_the_readme_states_install_and_demo_time_apart_as_the_script_measures_them() -> None:
    command = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/gruponos demo"
    assert command in README
    claim = README[README.index(command) :].split("\n\n", 2)[1]
    assert re.search(r"install .*? took \d+[\u2013-]\d+ s", claim, re.S), claim
    assert re.search(r"the demo itself\s+\d+[\u2013-]\d+ s", claim), claim
    assert "scripts/time-readme-demo.sh" in claim
    assert (ROOT / "scripts" / "time-readme-demo.sh").is_file()
    assert "about 10 s" not in README  # the old claim: the install alone takes longer


def test_the_readme_demo_size_is_the_commands_default() -> None:
    records = next(p.default for p in demo.params if p.name == "records")
    assert f"a stand-in WMS with {records:,} records per entity" in README


def test_the_documented_rerun_delays_are_the_programs() -> None:
    w = world(InMemoryWms({"allocation": allocation_schema()}, page_size=5))
    w.wms.insert("allocation", 1)

    def failing(names: Sequence[str]) -> IOResult[SyncReport, SyncError]:
        w.wms.fail_at_page = w.wms.pages_served + 1
        return w.use_case().run(SyncMode.FULL, names)

    run_with_retries(
        failing, ["allocation"], retries=3, delay=30, clock=w.clock, observer=w.observer
    )
    delays = ", ".join(f"{s:g} s" for s in w.clock.slept)
    assert "--retries 3 --retry-delay 30" in OPERATIONS
    assert f"re-run a failed run: {delays}" in OPERATIONS, delays
