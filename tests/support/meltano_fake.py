"""A stand-in for the ``meltano`` CLI's ``state get/set/merge``, over a dict of state ids."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson


class FakeMeltano:
    """``meltano state get/set/merge`` over a dict, recording every call (a ``Runner``)."""

    def __init__(self) -> None:
        self.states: dict[str, dict[str, Any]] = {}
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], cwd: Path) -> tuple[int, str, str]:
        args = list(argv)
        self.calls.append(args)
        verb = args[args.index("state") + 1]
        if verb == "get":
            return 0, orjson.dumps(self.states.get(args[-1], {})).decode() + "\n", ""
        state_id, body = args[-2], orjson.loads(args[-1])
        if verb == "set":
            self.states[state_id] = body
        elif verb == "merge":  # Meltano deep-merges the new state into the stored one
            merged = self.states.setdefault(state_id, {"singer_state": {}})
            _merge(body, merged)
        return 0, "", ""


def _merge(src: dict[str, Any], dest: dict[str, Any]) -> None:
    for key, value in src.items():
        if isinstance(value, dict):
            _merge(value, dest.setdefault(key, {}))
        else:
            dest[key] = value
