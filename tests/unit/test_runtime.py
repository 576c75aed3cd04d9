"""The allocator tuning of the command-line programs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gruponos.adapters.runtime import tune_allocator


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
