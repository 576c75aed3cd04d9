"""Which records a table can take as they are: one version per id, an ``id`` and a ``mod_ts`` that
place the row, and the text a quarantine row keeps of the others. The SQL sinks and the in-memory
sink apply the same rules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from gruponos.adapters.sql.dialect import all_instants, kinds_of, show_value, timestamp_reason
from gruponos.adapters.sql.rows import int_text, to_json
from gruponos.domain.records import NormalizedRecord


def newest_per_id(records: Iterable[NormalizedRecord]) -> list[NormalizedRecord]:
    """One record per id: the newest ``mod_ts``; among equals, the later one (as replayed)."""
    best: dict[int, NormalizedRecord] = {}
    for record in records:
        current = best.get(record.id)
        if current is None or record.mod_ts >= current.mod_ts:
            best[record.id] = record
    return list(best.values())


def payload_of(record: NormalizedRecord) -> str:
    """The record as JSON for quarantine (ASCII, so even invalid Unicode is kept, escaped)."""
    return to_json(
        {"values": record.values, "extra": record.extra}, ensure_ascii=True, sort_keys=True
    )


def key_reason(record: NormalizedRecord) -> str | None:
    """Why the record's own ``id`` or ``mod_ts`` cannot place it in a table (``None``: fine)."""
    if type(record.id) is not int:
        return f"record id is not an integer: {show_value(record.id)}"
    if type(record.mod_ts) is not datetime:
        return f"record mod_ts is not a timestamp: {show_value(record.mod_ts)}"
    why = timestamp_reason(record.mod_ts)
    return None if why is None else f"record mod_ts: {why}"


def placeable(
    records: Sequence[NormalizedRecord],
) -> tuple[Sequence[NormalizedRecord], list[tuple[NormalizedRecord, str]]]:
    """The records whose ``id`` and ``mod_ts`` can place them in a table, and the others with
    the reason (checked for the whole batch at once when all are fine, as they usually are)."""
    ids, stamps = [r.id for r in records], [r.mod_ts for r in records]
    if kinds_of(ids) <= {int} and kinds_of(stamps) <= {datetime} and all_instants(stamps):
        return records, []
    fine: list[NormalizedRecord] = []
    unfit: list[tuple[NormalizedRecord, str]] = []
    for record in records:
        why = key_reason(record)
        if why is None:
            fine.append(record)
        else:
            unfit.append((record, why))
    return fine, unfit


def storable_text(value: object, limit: int | None = None) -> str:
    """Text every database takes: lone surrogates and NUL escaped, at most ``limit`` characters."""
    text = int_text(value) if type(value) is int else str(value)
    if not text.isascii():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    text = text.replace("\x00", "\\x00")
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."
