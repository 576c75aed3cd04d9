"""Upgrades keep the state (docs/deployment.md, "Upgrades"): a checkpoint is the JSON of
``Checkpoint.to_json()``, with no version number; its fields only ever get added, each with a
default, so a newer gruponos reads what an older one wrote, and an older one skips the fields it
does not know. These documents are what 0.1.0 writes; a change that breaks reading them breaks
upgrades in place and must come with a migration."""

from __future__ import annotations

from datetime import UTC, datetime

from gruponos.domain.checkpoints import Checkpoint, FullWindow, Position, SyncMode

#: Written by gruponos 0.1.0 for an incremental bookmark and an unfinished parallel full pass.
INCREMENTAL_0_1_0 = {
    "mode": "incremental",
    "mod_ts": "2026-11-30T23:59:58.123456+00:00",
    "id": 4711,
    "generation": None,
    "last_id": None,
    "complete": False,
    "high_water": None,
    "windows": [],
}
FULL_0_1_0 = {
    "mode": "full",
    "mod_ts": None,
    "id": None,
    "generation": "20261201T020000Z-1a2b3c4d",
    "last_id": 150000,
    "complete": False,
    "high_water": {"mod_ts": "2026-12-01T02:00:00+00:00", "id": 299999},
    "windows": [[150000, 200000]],
}


def test_what_0_1_0_wrote_reads_back_the_same() -> None:
    incremental = Checkpoint.from_json(INCREMENTAL_0_1_0)
    assert incremental.mode is SyncMode.INCREMENTAL
    assert incremental.position == Position(datetime(2026, 11, 30, 23, 59, 58, 123456, UTC), 4711)
    assert incremental.to_json() == INCREMENTAL_0_1_0
    full = Checkpoint.from_json(FULL_0_1_0)
    assert (full.generation, full.last_id, full.complete) == (
        "20261201T020000Z-1a2b3c4d",
        150000,
        False,
    )
    assert full.remaining() == (FullWindow(after_id=150000, until_id=200000),)
    assert full.to_json() == FULL_0_1_0


def test_the_oldest_form_reads_with_defaults_for_the_fields_added_since() -> None:
    oldest = Checkpoint.from_json(
        {"mode": "incremental", "mod_ts": "2026-01-01T00:00:00+00:00", "id": 1}
    )
    assert oldest.windows == ()
    assert oldest.high_water is None
    assert oldest.complete is False


def test_a_field_from_a_newer_version_is_skipped() -> None:
    newer = {**INCREMENTAL_0_1_0, "a_field_of_a_later_version": {"x": 1}}
    assert Checkpoint.from_json(newer) == Checkpoint.from_json(INCREMENTAL_0_1_0)
