"""Checkpoints in a local JSON file, and run locks as OS file locks.

The file is replaced atomically (temporary file in the same directory, ``fsync``, ``os.replace``),
so a crash leaves either the old or the new state, never half of one. Locks use ``fcntl.flock`` on
a lock file: the kernel releases them when the holder's process dies. The holder removes the file
when it releases the lock, so no lock file outlives its run (a killed holder's file is taken, and
then removed, by the next run).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

from returns.io import IOFailure, IOResult, IOSuccess

from gruponos.application.errors import StateError
from gruponos.application.ports import Lease
from gruponos.domain.checkpoints import Checkpoint, StateKey

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_LOCK_ATTEMPTS = 20


def lock_file_name(base: str, pipeline: str, entity: str) -> str:
    """``<base>.<pipeline>.<entity>.lock`` with every unsafe character replaced."""
    return f"{base}.{_UNSAFE.sub('_', pipeline)}.{_UNSAFE.sub('_', entity)}.lock"


class FileLease:
    """A held ``flock``; closing the file (or the process dying) releases it."""

    def __init__(self, handle: IO[str], path: Path) -> None:
        self._handle: IO[str] | None = handle
        self._path = path
        self._mutex = threading.Lock()

    def release(self) -> None:
        with self._mutex:
            if self._handle is not None:
                # Removed while still locked: whoever opened this file meanwhile finds, once it
                # holds the lock, that the path no longer names it, and starts again.
                with contextlib.suppress(OSError):
                    self._path.unlink()
                with contextlib.suppress(OSError):
                    fcntl.flock(self._handle, fcntl.LOCK_UN)
                self._handle.close()
                self._handle = None


def _names(handle: IO[str], path: Path) -> bool:
    """Whether ``path`` still names the open file (a releasing holder removes it)."""
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(handle.fileno())
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def take_file_lock(path: Path, owner: str) -> IOResult[Lease, StateError]:
    """Lock ``path`` exclusively without waiting; on contention name the holder. The file is
    removed when the lease is released."""
    context = {"lock": str(path)}
    for _ in range(_LOCK_ATTEMPTS):
        try:
            handle = path.open("a+", encoding="utf-8")
        except OSError as exc:
            message = f"cannot open lock file: {exc}"
            return IOFailure(StateError("state.lock_failed", message, context))
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            message = f"the run lock is held by {holder}"
            return IOFailure(StateError("state.locked", message, context))
        except OSError as exc:
            handle.close()
            return IOFailure(StateError("state.lock_failed", f"cannot lock: {exc}", context))
        if not _names(handle, path):  # locked a file its holder removed on release: again
            handle.close()
            continue
        handle.seek(0)
        handle.truncate()
        handle.write(f"{owner} (pid {os.getpid()})")
        handle.flush()
        return IOSuccess(FileLease(handle, path))
    message = "the lock file kept being replaced while taking it"
    return IOFailure(StateError("state.lock_failed", message, context))


class FileStateStore:
    """:class:`~gruponos.application.ports.StateStore` in a JSON file (a sync saves each
    checkpoint after its batch commits: see :class:`~gruponos.application.commit.SaveAfterCommit`).

    >>> store = FileStateStore(Path(tempfile.mkdtemp()) / "state.json")
    >>> store.load(StateKey("full", "order_hdr"))
    <IOResult: <Success: None>>
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._mutex = threading.Lock()

    def _read(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the state file does not hold a JSON object")
        return data

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, sort_keys=True, indent=2)
                out.flush()
                os.fsync(out.fileno())
            Path(tmp).replace(self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        with contextlib.suppress(OSError):  # make the rename durable where the OS allows it
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def _all(self) -> dict[StateKey, Checkpoint]:
        out: dict[StateKey, Checkpoint] = {}
        for pipeline, entities in self._read().items():
            for entity, doc in entities.items():
                out[StateKey(pipeline, entity)] = Checkpoint.from_json(doc)
        return out

    def _guard(self, code: str, work: Any) -> IOResult[Any, StateError]:
        with self._mutex:
            try:
                return IOSuccess(work())
            except OSError as exc:
                return IOFailure(StateError(code, str(exc), {"path": str(self.path)}))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                message = f"the state file is not valid: {exc}"
                return IOFailure(StateError("state.corrupt", message, {"path": str(self.path)}))

    def load(self, key: StateKey) -> IOResult[Checkpoint | None, StateError]:
        return self._guard("state.load_failed", lambda: self._all().get(key))

    def all(self) -> IOResult[dict[StateKey, Checkpoint], StateError]:
        return self._guard("state.load_failed", self._all)

    def save(self, key: StateKey, checkpoint: Checkpoint) -> IOResult[None, StateError]:
        def work() -> None:
            data = self._read()
            data.setdefault(key.pipeline, {})[key.entity] = checkpoint.to_json()
            self._write(data)

        return self._guard("state.save_failed", work)

    def reset(self, key: StateKey) -> IOResult[None, StateError]:
        def work() -> None:
            data = self._read()
            if data.get(key.pipeline, {}).pop(key.entity, None) is not None:
                self._write(data)

        return self._guard("state.save_failed", work)

    def lock(self, key: StateKey, owner: str) -> IOResult[Lease, StateError]:
        # A first run locks before its first save: the folder may not exist yet.
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            context = {"path": str(self.path)}
            message = f"cannot create the state folder: {exc.strerror}"
            return IOFailure(StateError("state.lock_failed", message, context))
        lock = self.path.with_name(lock_file_name(self.path.name, key.pipeline, key.entity))
        return take_file_lock(lock, owner)
