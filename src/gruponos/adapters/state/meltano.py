"""Checkpoints in Meltano's state backend, through the ``meltano state get/set`` CLI.

One Meltano state id (``<environment>:<extractor>-to-<loader>``, e.g.
``dev:tap-gruponos-incremental-to-target-gruponos-local``) holds the bookmarks of every entity,
in the Singer state format that ``tap-gruponos`` reads and writes::

    {"singer_state": {"bookmarks": {"allocation": {
        "replication_key": "mod_ts",
        "replication_key_value": "2024-05-01T12:00:00.123456+00:00",
        "gruponos_full": {...}}}}}

- An incremental checkpoint *is* the Singer bookmark, so ``gruponos sync incremental`` with this
  store and ``meltano run`` continue from each other's bookmarks.
- A full-sync checkpoint (generation, last id, complete) lives beside it under ``gruponos_full``,
  which Singer taps ignore.
- Locks are ``flock`` files in ``<project>/.meltano/run/gruponos/``: they keep two gruponos
  processes apart, not a ``meltano run`` (Meltano refuses a second run of the same state id on
  its own, unless forced).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from returns.io import IOFailure, IOResult, IOSuccess

from gruponos.adapters.state.file import lock_file_name, take_file_lock
from gruponos.application.errors import StateError
from gruponos.application.ports import Lease
from gruponos.domain.checkpoints import Checkpoint, Position, StateKey, SyncMode
from gruponos.domain.schema import REPLICATION_KEY

FULL_KEY = "gruponos_full"
#: The state id without ``state.meltano_state_id``: the project's local incremental dev job.
DEFAULT_STATE_ID = "dev:tap-gruponos-incremental-to-target-gruponos-local"
#: What runs ``meltano``: argv in, (exit code, stdout, stderr) out. Tests pass a fake.
Runner = Callable[[Sequence[str], Path], tuple[int, str, str]]


def subprocess_runner(timeout: float = 120.0) -> Runner:
    def run(argv: Sequence[str], cwd: Path) -> tuple[int, str, str]:
        done = subprocess.run(  # noqa: S603 - argv is built here, never through a shell
            list(argv), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
        return done.returncode, done.stdout, done.stderr

    return run


class MeltanoStateStore:
    """:class:`~gruponos.application.ports.StateStore` on one Meltano state id (not in-sink).

    ``full_pipeline`` names the pipeline whose checkpoints are full-sync ones (the settings'
    ``sync.full_pipeline``); every other pipeline reads and writes the Singer bookmark.
    """

    def __init__(
        self,
        project_dir: Path | str,
        state_id: str,
        *,
        executable: str = "meltano",
        environment: str | None = None,
        full_pipeline: str = "full",
        incremental_pipeline: str = "incremental",
        runner: Runner | None = None,
    ) -> None:
        self.project_dir = Path(project_dir)
        self.state_id = state_id
        self.executable = executable
        self.environment = environment
        self.full_pipeline = full_pipeline
        self.incremental_pipeline = incremental_pipeline
        self._run = runner or subprocess_runner()
        self._mutex = threading.Lock()

    # -- meltano CLI -----------------------------------------------------------------------------

    def _argv(self, *args: str) -> list[str]:
        exe = shutil.which(self.executable) or self.executable
        argv = [exe, "--log-level", "disabled"]
        if self.environment:
            argv += ["--environment", self.environment]
        return [*argv, "state", *args]

    def _call(self, code: str, *args: str) -> str | StateError:
        context = {"state_id": self.state_id, "project": str(self.project_dir)}
        try:
            rc, out, err = self._run(self._argv(*args), self.project_dir)
        except (OSError, subprocess.SubprocessError) as exc:
            return StateError(code, f"cannot run meltano: {exc}", context)
        if rc != 0:
            reason = (err.strip() or out.strip() or f"exit code {rc}").splitlines()[-1]
            return StateError(code, f"meltano state {args[0]} failed: {reason}", context)
        return out

    def _get(self) -> dict[str, Any] | StateError:
        out = self._call("state.load_failed", "get", self.state_id)
        if isinstance(out, StateError):
            return out
        text = out.strip().splitlines()[-1] if out.strip() else "{}"
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            return StateError(
                "state.corrupt", "meltano state get did not print JSON", {"state_id": self.state_id}
            )
        if not isinstance(doc, dict):
            return StateError("state.corrupt", "the state is not an object", {})
        singer = doc.get("singer_state") or {}
        return singer if isinstance(singer, dict) else {}

    def _set(self, singer_state: dict[str, Any]) -> StateError | None:
        body = orjson.dumps({"singer_state": singer_state}).decode()
        out = self._call("state.save_failed", "set", "--force", self.state_id, body)
        return out if isinstance(out, StateError) else None

    # -- mapping ---------------------------------------------------------------------------------

    def _checkpoint(self, key: StateKey, bookmark: Any) -> Checkpoint | None:
        if not isinstance(bookmark, dict):
            return None
        if key.pipeline == self.full_pipeline:
            full = bookmark.get(FULL_KEY)
            return Checkpoint.from_json(full) if isinstance(full, dict) else None
        if bookmark.get("replication_key", REPLICATION_KEY) != REPLICATION_KEY:
            return None
        value = bookmark.get("replication_key_value")
        if not isinstance(value, str):
            return None
        mod_ts = datetime.fromisoformat(value)
        if mod_ts.tzinfo is None:
            mod_ts = mod_ts.replace(tzinfo=UTC)
        return Checkpoint(SyncMode.INCREMENTAL, position=Position(mod_ts.astimezone(UTC), 0))

    def _apply(self, key: StateKey, bookmark: dict[str, Any], checkpoint: Checkpoint) -> None:
        if key.pipeline == self.full_pipeline:
            bookmark[FULL_KEY] = checkpoint.to_json()
        elif checkpoint.position is not None:
            bookmark["replication_key"] = REPLICATION_KEY
            bookmark["replication_key_value"] = checkpoint.position.mod_ts.isoformat()

    # -- port ------------------------------------------------------------------------------------

    def _guarded(self, work: Callable[[], Any]) -> IOResult[Any, StateError]:
        with self._mutex:
            try:
                result = work()
            except (ValueError, KeyError, TypeError) as exc:
                context = {"state_id": self.state_id}
                return IOFailure(StateError("state.corrupt", f"bad bookmark: {exc}", context))
        return IOFailure(result) if isinstance(result, StateError) else IOSuccess(result)

    def load(self, key: StateKey) -> IOResult[Checkpoint | None, StateError]:
        def work() -> Checkpoint | StateError | None:
            singer = self._get()
            if isinstance(singer, StateError):
                return singer
            return self._checkpoint(key, (singer.get("bookmarks") or {}).get(key.entity))

        return self._guarded(work)

    def all(self) -> IOResult[dict[StateKey, Checkpoint], StateError]:
        def work() -> dict[StateKey, Checkpoint] | StateError:
            singer = self._get()
            if isinstance(singer, StateError):
                return singer
            found: dict[StateKey, Checkpoint] = {}
            for entity, bookmark in (singer.get("bookmarks") or {}).items():
                for pipeline in (self.full_pipeline, self.incremental_pipeline):
                    checkpoint = self._checkpoint(StateKey(pipeline, entity), bookmark)
                    if checkpoint is not None:
                        found[StateKey(pipeline, entity)] = checkpoint
            return found

        return self._guarded(work)

    def save(self, key: StateKey, checkpoint: Checkpoint) -> IOResult[None, StateError]:
        # ``meltano state merge`` deep-merges: only this entity's bookmark keys change, other
        # entities' bookmarks (and anything a tap keeps beside ours) stay; one CLI call.
        def work() -> StateError | None:
            bookmark: dict[str, Any] = {}
            self._apply(key, bookmark, checkpoint)
            if not bookmark:
                return None
            body = orjson.dumps({"singer_state": {"bookmarks": {key.entity: bookmark}}}).decode()
            out = self._call("state.save_failed", "merge", self.state_id, body)
            return out if isinstance(out, StateError) else None

        return self._guarded(work)

    def reset(self, key: StateKey) -> IOResult[None, StateError]:
        def work() -> StateError | None:
            singer = self._get()
            if isinstance(singer, StateError):
                return singer
            bookmark = (singer.get("bookmarks") or {}).get(key.entity)
            if not isinstance(bookmark, dict):
                return None
            if key.pipeline == self.full_pipeline:
                bookmark.pop(FULL_KEY, None)
            else:
                for name in ("replication_key", "replication_key_value"):
                    bookmark.pop(name, None)
            return self._set(singer)

        return self._guarded(work)

    def lock(self, key: StateKey, owner: str) -> IOResult[Lease, StateError]:
        folder = self.project_dir / ".meltano" / "run" / "gruponos"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return IOFailure(StateError("state.lock_failed", str(exc), {"lock": str(folder)}))
        name = lock_file_name(self.state_id.replace(":", "_"), key.pipeline, key.entity)
        return take_file_lock(folder / name, owner)
