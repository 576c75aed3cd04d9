"""State store adapters: a local JSON file (the SQL sinks keep theirs in-sink)."""

from gruponos.adapters.state.file import FileLease, FileStateStore, take_file_lock

__all__ = ["FileLease", "FileStateStore", "take_file_lock"]
