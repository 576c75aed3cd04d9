"""Golden files: generated SQL compared with the text committed beside the test.

Regenerate them after an intended change with ``GRUPONOS_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import os
from pathlib import Path


def assert_matches_golden(path: Path, text: str) -> None:
    """``text`` (plus a final newline) equals the file ``path``; rewrite it first when asked."""
    if os.getenv("GRUPONOS_UPDATE_GOLDEN") == "1":
        path.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == path.read_text(encoding="utf-8")
