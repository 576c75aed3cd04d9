"""HttpxWmsSource against the WMS simulator over real HTTP: auth, paging, 404s, every fault kind.

Each test compares what the client read (ids and ``mod_ts`` instants) with the simulator's ground
truth, or checks the typed error after the configured attempts. Backoff uses an injected sleep
that records the delays, so no test waits for real.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io
from structlog.testing import capture_logs

from gruponos.adapters.wms_http import (
    AuthConfig,
    BasicAuthConfig,
    HttpxWmsSource,
    OAuth2Config,
    OAuth2Grant,
    PageMode,
    WmsClientConfig,
)
from gruponos.application.errors import WmsError
from gruponos.application.prefetch import Ended, Merged
from gruponos.domain.checkpoints import FullWindow, IncrementalWindow, ReadWindow, split_ids
from gruponos.simulator import FaultKind, SimulatorConfig, WmsSimulator

ENTITY = "allocation"
RECORDS = 250
PAGE_SIZE = 100  # three pages


@dataclass
class Read:
    """Everything a read produced."""

    records: dict[int, datetime] = field(default_factory=dict)
    pages: int = 0
    retries: int = 0
    duplicates: int = 0
    error: WmsError | None = None


@contextmanager
def simulator(**changes: Any) -> Iterator[WmsSimulator]:
    config = SimulatorConfig(**{"records": RECORDS, "slow_seconds": 0.5, **changes})
    with WmsSimulator(config) as sim:
        yield sim


def basic(sim: WmsSimulator, password: str | None = None) -> BasicAuthConfig:
    return BasicAuthConfig(sim.config.username, password or sim.config.password)


def oauth(sim: WmsSimulator, grant: OAuth2Grant = OAuth2Grant.CLIENT_CREDENTIALS) -> OAuth2Config:
    cfg = sim.config
    return OAuth2Config(
        sim.token_url,
        cfg.client_id,
        cfg.client_secret,
        grant,
        username=cfg.username,
        password=cfg.password,
    )


@contextmanager
def client(
    sim: WmsSimulator,
    auth: AuthConfig | None = None,
    delays: list[float] | None = None,
    **changes: Any,
) -> Iterator[HttpxWmsSource]:
    values: dict[str, Any] = {
        "base_url": sim.base_url,
        "auth": auth or basic(sim),
        "page_size": PAGE_SIZE,
        "max_attempts": 4,
        "read_timeout": 5.0,
        **changes,
    }
    sleeps = delays if delays is not None else []
    with HttpxWmsSource(WmsClientConfig(**values), sleep=sleeps.append) as source:
        yield source


def read(source: HttpxWmsSource, window: ReadWindow, entity: str = ENTITY) -> Read:
    out = Read()
    for item in source.read(entity, window):
        if not is_successful(item):
            out.error = unsafe_perform_io(item.failure())
            break
        page = unsafe_perform_io(item.unwrap())
        out.pages += 1
        out.retries += page.retries
        for record in page.records:
            out.duplicates += record["id"] in out.records
            out.records[record["id"]] = datetime.fromisoformat(record["mod_ts"])
    return out


def assert_complete(result: Read, truth: dict[int, datetime]) -> None:
    assert result.error is None, result.error
    assert result.duplicates == 0
    assert result.records.keys() == truth.keys()
    assert all(result.records[i] == truth[i] for i in truth)  # same instants


# -- auth and paging --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [PageMode.SEQUENCED, PageMode.PAGED])
def test_full_read_with_basic_auth_is_complete_in_both_paging_modes(mode: PageMode) -> None:
    with simulator() as sim, client(sim, page_mode=mode) as source:
        result = read(source, FullWindow())
        assert_complete(result, sim.truth(ENTITY))
        assert result.pages == 3


@pytest.mark.parametrize("grant", [OAuth2Grant.CLIENT_CREDENTIALS, OAuth2Grant.PASSWORD])
def test_full_read_with_oauth_is_complete(grant: OAuth2Grant) -> None:
    with simulator() as sim, client(sim, oauth(sim, grant)) as source:
        assert_complete(read(source, FullWindow()), sim.truth(ENTITY))
        assert sim.auth.issued == 1  # the token is cached across pages


def test_a_read_continues_after_every_token_expires_mid_run() -> None:
    with simulator() as sim, client(sim, oauth(sim)) as source:
        out = Read()
        for n, item in enumerate(source.read(ENTITY, FullWindow()), start=1):
            for record in unsafe_perform_io(item.unwrap()).records:
                out.records[record["id"]] = datetime.fromisoformat(record["mod_ts"])
            if n == 1:
                sim.expire_tokens()
        assert_complete(out, sim.truth(ENTITY))
        assert sim.auth.issued == 2


def test_incremental_read_from_a_lower_bound_with_an_offset() -> None:
    with simulator() as sim, client(sim) as source:
        truth = sim.truth(ENTITY)
        median = sorted(truth.values())[len(truth) // 2]
        since = median.astimezone(datetime.now().astimezone().tzinfo) - timedelta(seconds=1)
        expected = {i: ts for i, ts in truth.items() if ts >= since}
        assert_complete(read(source, IncrementalWindow(since)), expected)


def test_an_incremental_sequenced_read_skips_nothing_while_the_data_change() -> None:
    # every list request touches, inserts or deletes about two rows before it is answered
    with simulator(change_rate=2.0, change_seed=3) as sim, client(sim, page_size=50) as source:
        result = read(source, IncrementalWindow(None))
        truth = sim.truth(ENTITY)
    assert result.error is None
    assert result.duplicates > 0  # rows touched after being read come again, later
    assert truth.keys() <= result.records.keys()  # deleted rows may have been read before
    assert all(result.records[i] == truth[i] for i in truth)  # the latest version of each


def test_full_read_after_an_id() -> None:
    with simulator() as sim, client(sim) as source:
        truth = sim.truth(ENTITY)
        after = sorted(truth)[100]
        expected = {i: ts for i, ts in truth.items() if i > after}
        assert_complete(read(source, FullWindow(after_id=after)), expected)


def test_split_id_windows_read_concurrently_cover_every_record_once() -> None:
    with simulator() as sim, client(sim, page_size=40) as source:
        truth = sim.truth(ENTITY)
        bounds = unsafe_perform_io(source.id_bounds(ENTITY).unwrap()).value
        assert bounds == (min(truth), max(truth))
        windows = split_ids(*bounds, parts=4)
        assert len(windows) == 4
        reads = [source.read(ENTITY, w) for w in windows]
        seen: list[int] = []
        with Merged(reads, depth=2) as pages:  # four threads on one pooled client
            for index, item in pages:
                if isinstance(item, Ended):
                    continue
                ids = [r["id"] for r in unsafe_perform_io(item.unwrap()).records]
                window = windows[index]
                assert all(
                    (window.after_id is None or i > window.after_id)
                    and (window.until_id is None or i < window.until_id)
                    for i in ids
                )
                seen += ids
        assert sorted(seen) == sorted(truth)


def test_id_bounds_of_an_empty_filter_are_none() -> None:
    with simulator() as sim, client(sim, extra_filters={"status_id": "-1"}) as source:
        assert unsafe_perform_io(source.id_bounds(ENTITY).unwrap()).value is None


def test_an_empty_filter_result_is_an_empty_stream() -> None:
    with simulator() as sim, client(sim) as source:
        beyond = read(source, FullWindow(after_id=max(sim.truth(ENTITY))))
        future = read(source, IncrementalWindow(datetime.now().astimezone() + timedelta(days=3650)))
    for result in (beyond, future):
        assert (result.records, result.pages, result.error) == ({}, 0, None)


def test_the_other_port_methods() -> None:
    with simulator() as sim, client(sim) as source:
        assert unsafe_perform_io(source.list_entities().unwrap()) == (
            "allocation",
            "order_dtl",
            "order_hdr",
        )
        schema = unsafe_perform_io(source.describe("order_hdr").unwrap())
        assert {"id", "mod_ts", "order_nbr"} <= schema.field_names
        missing = unsafe_perform_io(source.describe("no_such_entity").failure())
        assert (missing.code, missing.status) == ("wms.not_found", 404)
        assert missing.context["wms_code"] == "NOT_FOUND"
        assert is_successful(source.check())
        assert unsafe_perform_io(source.count(ENTITY).unwrap()) == len(sim.truth(ENTITY))
        some_id = min(sim.truth(ENTITY))
        record = unsafe_perform_io(source.fetch_one(ENTITY, some_id).unwrap())
        assert record == sim.get_record(ENTITY, some_id)
        assert unsafe_perform_io(source.fetch_one(ENTITY, 10**9).unwrap()) is None


def test_latest_is_the_newest_position_and_moves_with_changes() -> None:
    with simulator() as sim, client(sim) as source:
        newest = max((ts, rid) for rid, ts in sim.truth(ENTITY).items())
        latest = unsafe_perform_io(source.latest(ENTITY).unwrap()).value
        assert latest is not None
        assert (latest.mod_ts, latest.id) == newest
        (touched,) = sim.touch(ENTITY, 1)
        moved = unsafe_perform_io(source.latest(ENTITY).unwrap()).value
        assert moved is not None
        assert moved.id == touched
        assert moved > latest


def test_latest_of_an_empty_filter_is_none() -> None:
    with simulator() as sim, client(sim, extra_filters={"status_id": "-1"}) as source:
        assert unsafe_perform_io(source.latest(ENTITY).unwrap()).value is None


# -- faults -----------------------------------------------------------------------------------

TRANSIENT = [
    FaultKind.RATE_LIMIT,
    FaultKind.SERVER_ERROR,
    FaultKind.BAD_GATEWAY,
    FaultKind.UNAVAILABLE,
    FaultKind.GATEWAY_TIMEOUT,
    FaultKind.CONFLICT,
    FaultKind.SLOW,
    FaultKind.RESET,
    FaultKind.TRUNCATED,
]


@pytest.mark.parametrize("kind", TRANSIENT, ids=lambda k: k.value)
def test_data_arrive_complete_through_every_transient_fault(kind: FaultKind) -> None:
    delays: list[float] = []
    with simulator() as sim, client(sim, delays=delays, read_timeout=0.25) as source:
        sim.force_fault(kind, 2)
        with capture_logs() as logs:
            result = read(source, FullWindow())
        assert_complete(result, sim.truth(ENTITY))
        assert result.retries == 2
        assert sim.faults.injected[kind] == 2
    retries = [entry for entry in logs if entry["event"] == "wms.retry"]
    assert len(retries) == 2
    assert all(entry["entity"] == ENTITY for entry in retries)
    assert len(delays) == 2
    if kind in (FaultKind.RATE_LIMIT, FaultKind.UNAVAILABLE):  # they send Retry-After: 1
        assert delays == [1.0, 1.0]


def test_retry_after_is_capped() -> None:
    delays: list[float] = []
    with (
        simulator(retry_after_seconds=600) as sim,
        client(sim, delays=delays, retry_after_cap=2.5) as source,
    ):
        sim.force_fault(FaultKind.RATE_LIMIT, 3)
        assert_complete(read(source, FullWindow()), sim.truth(ENTITY))
    assert delays == [2.5, 2.5, 2.5]


def test_an_expired_token_fault_is_survived_by_a_refresh() -> None:
    with simulator() as sim, client(sim, oauth(sim)) as source:
        sim.force_fault(FaultKind.TOKEN_EXPIRED)
        out = Read()
        for n, item in enumerate(source.read(ENTITY, FullWindow()), start=1):
            page = unsafe_perform_io(item.unwrap())
            out.retries += page.retries
            for record in page.records:
                out.records[record["id"]] = datetime.fromisoformat(record["mod_ts"])
            if n == 1:
                sim.force_fault(FaultKind.TOKEN_EXPIRED)
        assert_complete(out, sim.truth(ENTITY))
        assert sim.faults.injected[FaultKind.TOKEN_EXPIRED] == 2
        assert sim.auth.issued == 3
        assert out.retries == 2  # each 401 answered by a refresh counts as a retried request


def test_a_fresh_token_refused_again_is_unauthorized_after_one_refresh() -> None:
    with simulator() as sim, client(sim, oauth(sim)) as source:
        sim.force_fault(FaultKind.TOKEN_EXPIRED, 2)
        error = read(source, FullWindow()).error
        assert sim.auth.issued == 2
    assert error is not None
    assert (error.code, error.status) == ("wms.unauthorized", 401)


def test_random_faults_of_every_kind_still_deliver_everything() -> None:
    kinds = frozenset(FaultKind) - {FaultKind.SLOW}  # slow is covered above; keep this fast
    with (
        simulator(records=600, fault_rate=0.3, fault_kinds=kinds, fault_seed=7) as sim,
        client(sim, oauth(sim), max_attempts=8, page_size=50) as source,
    ):
        result = read(source, IncrementalWindow(None))
        assert_complete(result, sim.truth(ENTITY))
        assert sum(sim.faults.injected.values()) > 0


@pytest.mark.parametrize(
    ("kind", "code", "status"),
    [
        (FaultKind.SERVER_ERROR, "wms.retries_exhausted", 500),
        (FaultKind.RESET, "wms.retries_exhausted", None),
        (FaultKind.TRUNCATED, "wms.malformed_response", 200),
    ],
    ids=["500", "reset", "truncated"],
)
def test_a_fault_that_persists_is_a_typed_error_after_the_configured_attempts(
    kind: FaultKind, code: str, status: int | None
) -> None:
    delays: list[float] = []
    with simulator() as sim, client(sim, delays=delays, max_attempts=3) as source:
        sim.force_fault(kind, 3)
        result = read(source, FullWindow())
        assert sim.faults.injected[kind] == 3
        base_url = sim.base_url
    assert result.pages == 0
    assert result.error is not None
    assert (result.error.code, result.error.status, result.error.attempts) == (code, status, 3)
    assert result.error.context["entity"] == ENTITY
    assert result.error.context["url"].startswith(base_url)
    assert len(delays) == 2
    if kind is FaultKind.SERVER_ERROR:
        assert result.error.context["wms_code"] == "INTERNAL_ERROR"
        assert result.error.context["reference"]


def test_wrong_credentials_fail_typed_and_leak_nothing() -> None:
    texts: list[str] = []
    with simulator() as sim, capture_logs() as logs:
        with client(sim, basic(sim, "wrong-password-0xSECRET")) as source:
            denied = read(source, FullWindow()).error
        bad_secret = OAuth2Config(sim.token_url, sim.config.client_id, "bad-secret-0xSECRET")
        with client(sim, bad_secret) as source:
            refused = unsafe_perform_io(source.check().failure())
        with client(sim, delays=[], max_attempts=2) as source:
            sim.force_fault(FaultKind.SERVER_ERROR, 2)
            exhausted = read(source, FullWindow()).error
        secrets = [sim.config.password, sim.config.client_secret, "0xSECRET"]
    assert denied is not None
    assert (denied.code, denied.status, denied.context["wms_code"]) == (
        "wms.unauthorized",
        401,
        "NOT_AUTHENTICATED",
    )
    assert (refused.code, refused.context["token_error"]) == ("wms.unauthorized", "invalid_client")
    assert exhausted is not None
    assert exhausted.code == "wms.retries_exhausted"
    texts += [f"{e} {e!r} {e.context}" for e in (denied, refused, exhausted)]
    texts += [repr(entry) for entry in logs]
    for text in texts:
        for secret in secrets:
            assert secret not in text
