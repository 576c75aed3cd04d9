"""The extraction behind tap-gruponos, through the in-memory WMS and a recording output."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from returns.io import IOFailure, IOResult, IOSuccess
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.memory import InMemoryWms, ManualClock
from gruponos.application.errors import SinkError
from gruponos.application.extract import ExtractEntities, ExtractOptions, TapReport
from gruponos.application.ports import ExtractedPage
from gruponos.domain.checkpoints import Checkpoint, Position, SyncMode
from gruponos.domain.schema import EntitySchema
from support.records import allocation, allocation_schema


@dataclass
class RecordingOutput:
    """Implements ``ExtractOutput``: keeps every call in order; can fail the n-th page."""

    events: list[tuple[str, Any]] = field(default_factory=list)
    fail_on_page: int | None = None

    def begin(self, schema: EntitySchema) -> IOResult[None, SinkError]:
        self.events.append(("begin", schema.entity))
        return IOSuccess(None)

    def page(self, page: ExtractedPage) -> IOResult[None, SinkError]:
        self.events.append(("page", page))
        if self.fail_on_page == len(self.pages()):
            return IOFailure(SinkError("singer.output_failed", "broken pipe", {}))
        return IOSuccess(None)

    def checkpoint(self, entity: str, checkpoint: Checkpoint) -> IOResult[None, SinkError]:
        self.events.append(("checkpoint", checkpoint))
        return IOSuccess(None)

    def end(
        self, entity: str, *, records: int, rejected: int, pages: int
    ) -> IOResult[None, SinkError]:
        self.events.append(("end", (entity, records, rejected, pages)))
        return IOSuccess(None)

    def pages(self) -> list[ExtractedPage]:
        return [e[1] for e in self.events if e[0] == "page"]


def _ts(second: int) -> str:
    return (datetime(2020, 11, 20, 11, tzinfo=UTC) + timedelta(seconds=second)).isoformat()


def _wms(bad: set[int], count: int = 5, page_size: int = 2) -> InMemoryWms:
    wms = InMemoryWms({"allocation": allocation_schema()}, page_size=page_size)
    for i in range(1, count + 1):
        wms.put("allocation", allocation(i, _ts(i), **({"alloc_qty": "lots"} if i in bad else {})))
    return wms


def _run(
    wms: InMemoryWms,
    output: RecordingOutput,
    *,
    incremental: bool = True,
    start: dict[str, Checkpoint] | None = None,
    **options: Any,
) -> IOResult[TapReport, Any]:
    use_case = ExtractEntities(
        wms, ManualClock(), ExtractOptions(incremental=incremental, **options)
    )
    return use_case.run(["allocation"], start or {}, output)


def test_rejects_go_out_with_their_page_and_the_checkpoint_follows_the_page() -> None:
    output = RecordingOutput()
    report = unsafe_perform_io(_run(_wms({2, 5}), output).unwrap())

    kinds = [kind for kind, _ in output.events]
    assert kinds == ["begin", "page", "checkpoint", "page", "checkpoint", "page", "end"]
    pages = output.pages()
    assert [[r.id for r in p.records] for p in pages] == [[1], [3, 4], []]
    assert [[r.record_id for r in p.rejected] for p in pages] == [[2], [], [5]]
    assert "alloc_qty" in pages[0].rejected[0].reason
    assert pages[0].rejected[0].payload["alloc_qty"] == "lots"  # kept as the WMS sent it
    checkpoints = [c for kind, c in output.events if kind == "checkpoint"]
    assert [c.position.id for c in checkpoints] == [1, 4]
    (stream,) = report.streams
    assert (stream.records, stream.rejected, stream.pages) == (3, 2, 3)
    assert stream.bookmark == datetime.fromisoformat(_ts(4)).isoformat()
    assert output.events[-1] == ("end", ("allocation", 3, 2, 3))
    assert report.over_reject_ratio(0.3) == ("allocation",)
    assert report.over_reject_ratio(0.5) == ()


def test_full_mode_reads_everything_and_moves_no_checkpoint() -> None:
    output = RecordingOutput()
    start = {"allocation": Checkpoint(SyncMode.INCREMENTAL, Position(datetime.now(UTC), 9))}
    report = unsafe_perform_io(_run(_wms(set()), output, incremental=False, start=start).unwrap())
    assert [kind for kind, _ in output.events].count("checkpoint") == 0
    assert report.streams[0].records == 5
    assert report.streams[0].bookmark is None


def test_incremental_reads_from_the_checkpoint_less_the_overlap() -> None:
    checkpoint = Checkpoint(SyncMode.INCREMENTAL, Position(datetime.fromisoformat(_ts(4)), 4))
    output = RecordingOutput()
    _run(
        _wms(set()),
        output,
        start={"allocation": checkpoint},
        overlap=timedelta(seconds=1),
    )
    assert sorted(r.id for p in output.pages() for r in p.records) == [3, 4, 5]


def test_without_a_checkpoint_the_start_date_bounds_the_read() -> None:
    output = RecordingOutput()
    _run(_wms(set()), output, start_date=datetime.fromisoformat(_ts(4)))
    assert sorted(r.id for p in output.pages() for r in p.records) == [4, 5]


def test_the_first_failure_stops_the_run_with_its_error() -> None:
    wms = _wms(set())
    wms.fail_at_page = 2
    output = RecordingOutput()
    failed = _run(wms, output)
    assert unsafe_perform_io(failed.failure()).code == "wms.retries_exhausted"
    assert [kind for kind, _ in output.events] == ["begin", "page", "checkpoint"]

    output = RecordingOutput(fail_on_page=1)
    failed = _run(_wms(set()), output)
    assert unsafe_perform_io(failed.failure()).code == "singer.output_failed"
    assert [kind for kind, _ in output.events] == ["begin", "page"]  # no checkpoint past it


def test_discover_describes_every_entity_or_names_the_unknown_one() -> None:
    use_case = ExtractEntities(_wms(set()), ManualClock(), ExtractOptions())
    (schema,) = unsafe_perform_io(use_case.discover(["allocation"]).unwrap())
    assert schema.entity == "allocation"
    unknown = use_case.discover(["allocation", "nope"])
    assert not is_successful(unknown)
    assert unsafe_perform_io(unknown.failure()).context == {"entity": "nope"}


@settings(max_examples=200, deadline=None)
@given(
    bad=st.sets(st.integers(1, 12)),
    count=st.integers(0, 12),
    page_size=st.integers(1, 5),
)
def test_no_record_is_lost_and_no_checkpoint_passes_an_unsent_record(
    bad: set[int], count: int, page_size: int
) -> None:
    output = RecordingOutput()
    report = unsafe_perform_io(_run(_wms(bad, count, page_size), output).unwrap())
    sent: set[int] = set()
    for kind, item in output.events:
        if kind == "page":
            sent |= {r.id for r in item.records} | {int(r.record_id) for r in item.rejected}
        elif kind == "checkpoint":
            # Everything at or before the checkpoint's position went out before it.
            behind = {i for i in range(1, count + 1) if i <= item.position.id}
            assert behind <= sent
    assert sent == set(range(1, count + 1))
    (stream,) = report.streams
    assert stream.records + stream.rejected == count
    assert stream.rejected == len(bad & set(range(1, count + 1)))
