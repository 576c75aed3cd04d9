"""Build hook: the commit being built goes into the wheel and the sdist as
``gruponos/_commit.txt``, which ``gruponos --version`` prints.

The commit comes from ``SOURCE_COMMIT`` (the Dockerfile passes its ``VCS_REF`` build argument) or
``git rev-parse``; without either (a wheel built from an sdist) the sdist's own file, if any, is
packaged as it is. Editable installs ask git at run time instead.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

_IN_SOURCE = "src/gruponos/_commit.txt"


def _commit(root: str) -> str | None:
    given = os.environ.get("SOURCE_COMMIT", "").strip()  # noqa: TID251 - the build's environment
    if given:
        return given[:12]
    if not (Path(root) / ".git").exists():
        return None
    try:
        done = subprocess.run(  # noqa: S603 - fixed arguments
            ["git", "-C", root, "rev-parse", "--short=12", "HEAD"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


class CommitHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        inside = "gruponos/_commit.txt" if self.target_name == "wheel" else _IN_SOURCE
        commit = _commit(self.root)
        if commit is None:
            # An unpacked sdist: its file is ignored by .gitignore rules, so named explicitly.
            shipped = Path(self.root) / _IN_SOURCE
            if shipped.is_file():
                build_data["force_include"][str(shipped)] = inside
            return
        self._temp = tempfile.TemporaryDirectory()
        written = Path(self._temp.name) / "_commit.txt"
        written.write_text(commit + "\n", encoding="utf-8")
        build_data["force_include"][str(written)] = inside

    def finalize(
        self,
        version: str,  # noqa: ARG002 - the hook's signature
        build_data: dict[str, Any],  # noqa: ARG002
        artifact_path: str,  # noqa: ARG002
    ) -> None:
        temp = getattr(self, "_temp", None)
        if temp is not None:
            temp.cleanup()
