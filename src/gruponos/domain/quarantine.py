"""Quarantined records and how a replay reads them back.

A record lands in quarantine for one of two reasons, and its stored payload says which:

- **validation**: the normalizer rejected the record as the API sent it; the payload is that raw
  record (a JSON object with ``id`` and ``mod_ts`` when the API sent them). A replay normalizes it
  again with the entity's current schema: once the cause is fixed (a wider ``max_length``, a
  type describe now reports, a default time zone configured), it loads.
- **database**: the record was valid but a value did not fit its column (too long for the column,
  a character the database refuses); the payload is the normalized row
  (``{"values": ..., "extra": ...}``), not the raw record. A replay cannot normalize that again;
  the next full sync reads the record from the WMS anyway.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class QuarantineKind(StrEnum):
    """Why a record is in quarantine, as told by its payload."""

    VALIDATION = "validation"
    DATABASE = "database"
    UNREADABLE = "unreadable"  # the payload is not JSON (kept as repr text): nothing to replay


@dataclass(frozen=True, slots=True)
class QuarantinedRecord:
    """One row of the quarantine: ``seq`` orders the rows and names one for release."""

    seq: int
    entity: str
    record_id: str | None
    payload: str | None
    reason: str
    run_id: str | None
    quarantined_at: datetime

    @property
    def kind(self) -> QuarantineKind:
        return replay_input(self.payload)[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "entity": self.entity,
            "record_id": self.record_id,
            "kind": self.kind.value,
            "reason": self.reason,
            "run_id": self.run_id,
            "quarantined_at": self.quarantined_at.isoformat(),
            "payload": self.payload,
        }


def replay_input(payload: str | None) -> tuple[QuarantineKind, Any]:
    """The kind of a quarantine payload and, for a validation reject, the raw record to
    normalize again (any JSON value: the normalizer rejects what is not an object)."""
    if payload is None:
        return QuarantineKind.UNREADABLE, None
    try:
        raw = json.loads(payload)
    except ValueError:
        return QuarantineKind.UNREADABLE, None
    if isinstance(raw, dict) and set(raw) == {"values", "extra"}:
        return QuarantineKind.DATABASE, None
    return QuarantineKind.VALIDATION, raw


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """What a replay did for one entity."""

    entity: str
    examined: int = 0
    loaded: int = 0  # normalized again and written (inserted, replaced, or older than stored)
    still_invalid: int = 0  # rejected again by the current schema: kept in quarantine
    not_replayable: int = 0  # database rejects and unreadable payloads: kept in quarantine
    error: str | None = None
    #: The reason of the first few records rejected again, for the operator.
    reasons: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "examined": self.examined,
            "loaded": self.loaded,
            "still_invalid": self.still_invalid,
            "not_replayable": self.not_replayable,
            "error": self.error,
            "reasons": list(self.reasons),
        }
