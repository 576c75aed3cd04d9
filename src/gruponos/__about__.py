"""Version of the gruponos package (the one place it is written; hatch reads it from here)."""

from __future__ import annotations

__version__ = "0.1.0"

#: Written into the wheel and the sdist by the build (``hatch_build.py``): the commit built.
COMMIT_FILE = "_commit.txt"


def source_commit() -> str | None:
    """The git commit this copy of gruponos was built from, when known.

    An installed wheel carries it in ``gruponos/_commit.txt`` (written by the build); a checkout
    (an editable install) asks ``git rev-parse`` once; anything else (a wheel built without git)
    does not know it. Called by ``gruponos --version`` only, never at import.
    """
    import subprocess  # noqa: PLC0415 - only for --version
    from pathlib import Path  # noqa: PLC0415

    here = Path(__file__).resolve().parent
    try:
        return (here / COMMIT_FILE).read_text(encoding="utf-8").strip() or None
    except OSError:
        pass
    checkout = here.parent.parent
    if not (checkout / ".git").exists():
        return None
    try:
        done = subprocess.run(  # noqa: S603 - fixed arguments
            ["git", "-C", str(checkout), "rev-parse", "--short=12", "HEAD"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def version_line(program: str = "gruponos") -> str:
    """``gruponos 0.1.0 (commit 0123456789ab)``, or without the commit when it is unknown."""
    commit = source_commit()
    return f"{program} {__version__}" + (f" (commit {commit})" if commit else "")
