"""What a data-quality check found: completeness and consistency of what is loaded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Finding:
    """What one check found on one entity (``count`` 0: clean)."""

    check: str
    entity: str
    count: int
    summary: str

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "entity": self.entity,
            "count": self.count,
            "summary": self.summary,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        return cls(
            str(data["check"]), str(data["entity"]), int(data["count"]), str(data["summary"])
        )
