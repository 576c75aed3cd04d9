"""The quarantine replay driven through the in-memory adapters."""

from __future__ import annotations

import json
from dataclasses import replace

from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.memory import InMemoryDatabase, InMemoryQuarantine, InMemorySink, InMemoryWms
from gruponos.application.replay import ReplayQuarantine
from gruponos.domain.batches import Batch, Rejected
from gruponos.domain.normalize import RecordNormalizer
from gruponos.domain.quarantine import QuarantineKind, ReplayReport
from gruponos.domain.schema import FieldType, SourceField, build_schema
from support.records import ALLOCATION_FIELDS, allocation, allocation_schema

OLD_TS = "2020-11-20T11:00:00+00:00"
NEW_TS = "2020-11-20T12:00:00+00:00"


def _quarantined(db: InMemoryDatabase, *raws: dict[str, object], reason: str = "old") -> None:
    for raw in raws:
        db.quarantine.append(
            ("run-1", Rejected("allocation", str(raw["id"]), json.dumps(raw), reason))
        )


def _replay(db: InMemoryDatabase, *, dry_run: bool = False) -> ReplayReport:
    wms = InMemoryWms({"allocation": allocation_schema()})
    use_case = ReplayQuarantine(
        wms, InMemorySink(db), InMemoryQuarantine(db), lambda: "replay-1", batch_size=2,
        dry_run=dry_run,
    )  # fmt: skip
    result = use_case.run(["allocation"])
    assert is_successful(result)
    (report,) = unsafe_perform_io(result.unwrap())
    return report


def test_replay_loads_what_passes_now_and_keeps_the_rest() -> None:
    db = InMemoryDatabase()
    fine = [allocation(i) for i in (1, 2, 3)]
    still_bad = allocation(4, alloc_qty="lots")
    _quarantined(db, *fine, still_bad)
    db.quarantine.append(
        ("run-1", Rejected("allocation", "5", '{"values": {}, "extra": null}', "db"))
    )
    db.quarantine.append(("run-1", Rejected("order_hdr", "9", json.dumps(allocation(9)), "x")))

    report = _replay(db)

    assert (report.examined, report.loaded, report.still_invalid, report.not_replayable) == (
        5, 3, 1, 1,
    )  # fmt: skip
    assert report.reasons and report.reasons[0].startswith("4: ")
    assert sorted(db.live("allocation")) == [1, 2, 3]
    left = unsafe_perform_io(InMemoryQuarantine(db).newest(None, 10).unwrap())
    assert sorted((r.entity, r.record_id) for r in left) == [
        ("allocation", "4"), ("allocation", "5"), ("order_hdr", "9"),
    ]  # fmt: skip
    assert {r.record_id: r.kind for r in left}["5"] is QuarantineKind.DATABASE
    assert _replay(db).loaded == 0  # released records are not replayed twice


def test_a_replayed_version_never_replaces_a_newer_row() -> None:
    db = InMemoryDatabase()
    normalizer = RecordNormalizer(allocation_schema())
    newer = normalizer.normalize(allocation(1, mod_ts=NEW_TS, alloc_qty="9")).unwrap()
    sink = InMemorySink(db)
    sink.prepare(allocation_schema())
    assert is_successful(sink.write(Batch("allocation", "run-2", (newer,))))
    _quarantined(db, allocation(1, mod_ts=OLD_TS, alloc_qty="1"))

    report = _replay(db)

    assert report.loaded == 1  # normalized again and handed to the monotonic upsert ...
    assert db.live("allocation")[1] == newer  # ... which keeps the newer row
    assert unsafe_perform_io(InMemoryQuarantine(db).newest(None, 10).unwrap()) == ()


def test_a_dry_run_writes_and_releases_nothing() -> None:
    db = InMemoryDatabase()
    _quarantined(db, allocation(1), allocation(2))
    assert _replay(db, dry_run=True).loaded == 2
    assert db.live("allocation") == {}
    assert len(unsafe_perform_io(InMemoryQuarantine(db).pending("allocation", 0, 9).unwrap())) == 2


def test_the_current_schema_decides_not_the_one_that_quarantined() -> None:
    # Quarantined while pick_locn_str allowed 20 characters; describe now allows 40.
    db = InMemoryDatabase()
    _quarantined(db, allocation(1, pick_locn_str="L" * 30))
    wider = [
        replace(f, max_length=40) if f.name == "pick_locn_str" else f for f in ALLOCATION_FIELDS
    ]
    wms = InMemoryWms({"allocation": build_schema("allocation", wider).unwrap()})
    use_case = ReplayQuarantine(wms, InMemorySink(db), InMemoryQuarantine(db), lambda: "r")
    (report,) = unsafe_perform_io(use_case.run(["allocation"]).unwrap())
    assert report.loaded == 1
    assert db.live("allocation")[1].values["PICK_LOCN_STR"] == "L" * 30
    assert SourceField("pick_locn_str", FieldType.VARCHAR, max_length=20) in ALLOCATION_FIELDS


def test_an_entity_the_source_cannot_describe_fails_the_replay_with_the_reports() -> None:
    db = InMemoryDatabase()
    wms = InMemoryWms({"allocation": allocation_schema()})
    use_case = ReplayQuarantine(wms, InMemorySink(db), InMemoryQuarantine(db), lambda: "r")
    result = use_case.run(["allocation", "no_such_entity"])
    assert not is_successful(result)
    error = unsafe_perform_io(result.failure())
    reports = error.context["reports"]
    assert [r.entity for r in reports] == ["allocation", "no_such_entity"]
    assert reports[0].error is None and reports[1].error
