"""Parallel id windows: how ids are split, how their reads are merged, how progress is stored."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gruponos.application.prefetch import Ended, Merged
from gruponos.domain.checkpoints import Checkpoint, FullWindow, Position, SyncMode, split_ids


def _holder(window: FullWindow, rid: int) -> bool:
    return (window.after_id is None or rid > window.after_id) and (
        window.until_id is None or rid < window.until_id
    )


@settings(max_examples=300)
@given(
    low=st.integers(min_value=-(10**6), max_value=10**6),
    span=st.integers(min_value=0, max_value=10**5),
    parts=st.integers(min_value=1, max_value=9),
    min_span=st.integers(min_value=1, max_value=5000),
    probe=st.integers(min_value=-(10**6) - 10, max_value=2 * 10**6),
)
def test_every_id_belongs_to_exactly_one_window(
    low: int, span: int, parts: int, min_span: int, probe: int
) -> None:
    windows = split_ids(low, low + span, parts, min_span=min_span)
    assert 1 <= len(windows) <= parts
    if len(windows) > 1:
        assert all((w.until_id or 0) - (w.after_id or 0) - 1 >= min_span for w in windows[1:-1])
    for rid in (probe, low, low + span, low + span // 2):
        assert sum(_holder(w, rid) for w in windows) == 1
    assert windows[0].after_id is None and windows[-1].until_id is None


def test_a_checkpoint_keeps_its_windows_through_json() -> None:
    checkpoint = Checkpoint(
        SyncMode.FULL,
        generation="run-1",
        last_id=70,
        high_water=Position(datetime(2024, 1, 1, tzinfo=UTC), 99),
        windows=(FullWindow(None, 26), FullWindow(40, 51), FullWindow(70, None)),
    )
    assert Checkpoint.from_json(checkpoint.to_json()) == checkpoint
    assert checkpoint.remaining() == checkpoint.windows


def test_a_checkpoint_without_windows_resumes_after_its_last_id() -> None:
    old = Checkpoint.from_json({"mode": "full", "generation": "g", "last_id": 5})
    assert old.remaining() == (FullWindow(after_id=5),)


class _Closing:
    """An iterator that records whether it was closed, and in which thread it ran."""

    def __init__(self, items: list[int], fail_at: int | None = None) -> None:
        self.items = items
        self.fail_at = fail_at
        self.closed = False
        self.threads: set[str] = set()

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        self.threads.add(threading.current_thread().name)
        if self.fail_at is not None and not self.items[: self.fail_at]:
            raise RuntimeError("boom")
        if not self.items:
            raise StopIteration
        if self.fail_at is not None:
            self.fail_at -= 1
        return self.items.pop(0)

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_merged_keeps_each_iterators_order_and_ends_each_once(depth: int) -> None:
    sources = [_Closing(list(range(k * 100, k * 100 + n))) for k, n in enumerate([5, 0, 7])]
    got: dict[int, list[int]] = {0: [], 1: [], 2: []}
    ended: list[int] = []
    with Merged(sources, depth) as items:
        for index, item in items:
            if isinstance(item, Ended):
                assert item.index == index
                ended.append(index)
            else:
                assert index not in ended  # nothing of an iterator after its end
                got[index].append(item)
    assert got == {0: list(range(5)), 1: [], 2: list(range(200, 207))}
    assert sorted(ended) == [0, 1, 2]
    assert all(s.closed for s in sources)
    threaded = {name for s in sources for name in s.threads}
    assert (threaded == {"MainThread"}) == (depth == 0)


def test_merged_serial_mode_interleaves_the_iterators() -> None:
    sources = [_Closing([1, 2]), _Closing([10, 20])]
    with Merged(sources, 0) as items:
        order = [item for _, item in items if not isinstance(item, Ended)]
    assert order == [1, 10, 2, 20]


@pytest.mark.parametrize("depth", [0, 2])
def test_an_iterators_exception_reaches_the_caller_and_every_iterator_is_closed(
    depth: int,
) -> None:
    sources = [_Closing(list(range(1000))), _Closing([1, 2, 3], fail_at=1)]
    with pytest.raises(RuntimeError, match="boom"), Merged(sources, depth) as items:
        for _ in items:
            pass
    assert all(s.closed for s in sources)


def test_leaving_early_stops_every_reader() -> None:
    sources = [_Closing(list(range(10_000))) for _ in range(3)]
    merged = Merged(sources, 1)
    with merged as items:
        next(items)
    assert all(s.closed for s in sources)
    assert not any(t.is_alive() for t in threading.enumerate() if "gruponos-reader" in t.name)
    assert sum(len(s.items) for s in sources) > 0  # bounded: they did not read everything


def test_readers_start_one_after_another_while_the_caller_never_waits_long() -> None:
    sources = [_Closing([k * 10 + i for i in range(3)]) for k in range(3)]
    with Merged(sources, 2, patience=3600) as items:
        order = [item for _, item in items if not isinstance(item, Ended)]
    assert order == [0, 1, 2, 10, 11, 12, 20, 21, 22]


class _Gated(_Closing):
    """Its items after the first ``free`` ones wait for ``gate``: a slow source."""

    def __init__(self, items: list[int], gate: threading.Event, free: int = 0) -> None:
        super().__init__(items)
        self.gate = gate
        self.free = free

    def __next__(self) -> int:
        if self.free:
            self.free -= 1
        elif not self.gate.wait(timeout=30):
            raise TimeoutError("the gate never opened")
        return super().__next__()


def test_a_waiting_caller_starts_every_reader_so_requests_overlap() -> None:
    gate = threading.Event()
    # the first item flows at once; then every source is slow until all four readers run
    sources = [_Gated([k, k + 100], gate, free=1 if k == 0 else 0) for k in range(4)]
    merged = Merged(sources, 1, patience=0.001)

    def open_when_all_started() -> None:
        for _ in range(10_000):  # at most ~10 s: then open anyway and let the test fail
            if merged.started == 4:
                break
            gate.wait(timeout=0.001)
        gate.set()

    opener = threading.Thread(target=open_when_all_started)
    with merged as items:
        opener.start()
        got = sorted(item for _, item in items if not isinstance(item, Ended))
    opener.join()
    assert merged.started == 4
    assert got == [0, 1, 2, 3, 100, 101, 102, 103]


def test_the_wait_for_the_first_item_starts_no_other_reader() -> None:
    gate = threading.Event()
    sources = [_Gated([k], gate) for k in range(3)]
    merged = Merged(sources, 1, patience=0.001)
    with merged as items:
        opener = threading.Timer(0.05, gate.set)  # the first page is slow to come
        opener.start()
        first = next(items)
        started_at_first = merged.started
        rest = list(items)
    opener.join()
    assert first == (0, 0)
    assert started_at_first == 1
    assert sorted(i for _, i in rest if not isinstance(i, Ended)) == [1, 2]


class _ManualClock:
    """A clock the test moves: the caller's time spent on items."""

    def __init__(self) -> None:
        self.seconds = 1_000_000.0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.seconds, UTC)


def test_a_caller_busier_than_its_source_starts_no_other_reader() -> None:
    """Waiting for a page is no reason for another reader when the caller spends longer on the
    pages it gets (it, not the source, sets the pace: issue 21, loopback no slower)."""
    gate = threading.Event()
    sources = [_Gated([0, 1], gate, free=1), *(_Closing([k]) for k in (10, 20, 30))]
    clock = _ManualClock()
    merged = Merged(sources, 1, patience=0.001, now=clock.now)
    started_when: dict[int, int] = {}
    with merged as items:
        opener = threading.Timer(0.05, gate.set)  # the second item is slow to come
        opener.start()
        for _, item in items:
            if isinstance(item, Ended):
                continue
            started_when[item] = merged.started
            clock.seconds += 1000  # the caller works on each item far longer than it waits
    opener.join()
    assert started_when[0] == started_when[1] == 1  # ~50 waits of 1 ms did not start a reader
    assert sorted(started_when) == [0, 1, 10, 20, 30]


def test_with_a_clock_a_caller_that_mostly_waits_starts_every_reader() -> None:
    gate = threading.Event()
    sources = [_Gated([k, k + 100], gate, free=1 if k == 0 else 0) for k in range(4)]
    clock = _ManualClock()  # never moved: the caller spends no time on items
    merged = Merged(sources, 1, patience=0.001, now=clock.now)

    def open_when_all_started() -> None:
        for _ in range(10_000):  # at most ~10 s: then open anyway and let the test fail
            if merged.started == 4:
                break
            gate.wait(timeout=0.001)
        gate.set()

    opener = threading.Thread(target=open_when_all_started)
    with merged as items:
        opener.start()
        got = sorted(item for _, item in items if not isinstance(item, Ended))
    opener.join()
    assert merged.started == 4
    assert got == [0, 1, 2, 3, 100, 101, 102, 103]
