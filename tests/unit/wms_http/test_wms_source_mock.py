"""HttpxWmsSource over httpx.MockTransport: paging, loops, envelopes, retries, auth, secrets.

``ScriptedWms`` is a scripted lgfapi: canned replies per URL, every request recorded.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import orjson
from returns.io import IOResult
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io
from structlog.testing import capture_logs

from gruponos.adapters.wms_http import (
    DEFAULT_SCOPE,
    BasicAuthConfig,
    HttpxWmsSource,
    OAuth2Config,
    OAuth2Grant,
    PageMode,
    WmsClientConfig,
)
from gruponos.adapters.wms_http.auth import TokenProvider
from gruponos.application.errors import WmsError
from gruponos.application.ports import Page
from gruponos.domain.checkpoints import FullWindow, IncrementalWindow, ReadWindow

T = TypeVar("T")

BASE = "https://wms.test/prod"
ROOT = BASE + "/wms/lgfapi/v10/"
TOKEN_URL = "https://idcs.test/oauth2/v1/token"
PASSWORD = "basic-pw-0xSECRET"

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def page(
    records: list[dict[str, Any]], next_page: str | None = None, **extra: Any
) -> httpx.Response:
    return httpx.Response(
        200, content=orjson.dumps({"results": records, "next_page": next_page, **extra})
    )


def wms_error(
    status: int, code: str = "VALIDATION_ERROR", message: str = "Invalid input."
) -> httpx.Response:
    body = {"reference": "ref-1234", "code": code, "message": message, "details": {}}
    return httpx.Response(status, content=orjson.dumps(body))


def rec(ident: int) -> dict[str, Any]:
    return {"id": ident, "mod_ts": f"2024-01-01T00:00:{ident % 60:02d}.000000-03:00"}


@dataclass
class ScriptedWms:
    """Replies for a path (``"entity/allocation/"`` relative to ``ROOT``, or an absolute URL)
    are served in order; the last one repeats."""

    replies: dict[str, deque[Reply]] = field(default_factory=lambda: defaultdict(deque))
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, path: str, *replies: Reply) -> ScriptedWms:
        key = path if path.startswith("http") else ROOT + path
        self.replies[key].extend(replies)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = str(request.url)
        queue = self.replies.get(key) or self.replies.get(str(request.url.copy_with(query=None)))
        if not queue:
            return wms_error(404, "NOT_FOUND", f"no script for {key}")
        reply = queue.popleft() if len(queue) > 1 else queue[0]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, httpx.Response):
            return reply(request)
        return reply

    def urls(self, prefix: str = ROOT) -> list[str]:
        return [str(r.url) for r in self.requests if str(r.url).startswith(prefix)]


def make_config(**changes: Any) -> WmsClientConfig:
    values: dict[str, Any] = {
        "base_url": BASE,
        "auth": BasicAuthConfig("integ", PASSWORD),
        "max_attempts": 4,
        "backoff_base": 0.01,
        "backoff_cap": 0.05,
    }
    values.update(changes)
    return WmsClientConfig(**values)


@contextmanager
def mock_source(
    wms: ScriptedWms, delays: list[float] | None = None, **changes: Any
) -> Iterator[HttpxWmsSource]:
    sleeps = delays if delays is not None else []
    with HttpxWmsSource(
        make_config(**changes),
        sleep=sleeps.append,
        transport=httpx.MockTransport(wms),
        random=lambda: 0.5,
    ) as source:
        yield source


def query(request: httpx.Request) -> Mapping[str, str]:
    return dict(request.url.params.items())


def read_all(
    source: HttpxWmsSource, entity: str, window: ReadWindow
) -> tuple[list[Page], WmsError | None]:
    """Every page of a read, and the error that ended it (None when it ended normally)."""
    pages: list[Page] = []
    for item in source.read(entity, window):
        if not is_successful(item):
            return pages, failure_of(item)
        pages.append(success_of(item))
    return pages, None


def success_of(result: IOResult[T, WmsError]) -> T:
    return unsafe_perform_io(result.unwrap())


def failure_of(result: IOResult[Any, WmsError]) -> WmsError:
    return unsafe_perform_io(result.failure())


LIST = ROOT + "entity/allocation/"


def test_sequenced_read_follows_next_page_urls_verbatim() -> None:
    next_url = LIST + "?ordering=id&page_mode=sequenced&page_size=2&cursor=cD0y"
    wms = ScriptedWms().on("entity/allocation/", page([rec(1), rec(2)], next_url))
    wms.on(next_url, page([rec(3)], None))
    with mock_source(wms, page_size=2) as source:
        pages, error = read_all(source, "allocation", FullWindow())
    assert error is None
    assert [r["id"] for p in pages for r in p.records] == [1, 2, 3]
    assert [p.number for p in pages] == [1, 2]
    assert [p.retries for p in pages] == [0, 0]
    first, second = wms.requests
    assert query(first) == {"ordering": "id", "page_mode": "sequenced", "page_size": "2"}
    assert str(second.url) == next_url


def test_paged_mode_is_an_option() -> None:
    wms = ScriptedWms().on("entity/allocation/", page([rec(1)], None, result_count=1))
    with mock_source(wms, page_mode=PageMode.PAGED) as source:
        pages, error = read_all(source, "allocation", IncrementalWindow(None))
    assert error is None
    assert len(pages) == 1
    assert query(wms.requests[0])["page_mode"] == "paged"


def test_a_404_on_the_first_page_is_an_empty_stream() -> None:
    wms = ScriptedWms().on("entity/allocation/", wms_error(404, "NOT_FOUND", "Not found."))
    with mock_source(wms) as source:
        pages, error = read_all(source, "allocation", FullWindow(after_id=10**9))
    assert (pages, error) == ([], None)
    assert len(wms.requests) == 1


def test_a_404_on_a_later_page_ends_the_stream() -> None:
    next_url = LIST + "?cursor=x"
    wms = ScriptedWms().on("entity/allocation/", page([rec(1)], next_url))
    wms.on(next_url, wms_error(404, "NOT_FOUND", "Not found."))
    with mock_source(wms) as source:
        pages, error = read_all(source, "allocation", FullWindow())
    assert error is None
    assert [p.number for p in pages] == [1]


def test_a_next_page_that_repeats_an_earlier_url_is_a_paging_loop() -> None:
    a, b = LIST + "?cursor=a", LIST + "?cursor=b"
    wms = ScriptedWms().on("entity/allocation/", page([rec(1)], a))
    wms.on(a, page([rec(2)], b))
    wms.on(b, page([rec(3)], a))  # back to a: would loop forever
    with mock_source(wms) as source:
        pages, error = read_all(source, "allocation", FullWindow())
    assert error is not None
    assert error.code == "wms.paging_loop"
    assert error.context["page"] == 3
    assert len(pages) == 3
    assert len(wms.requests) == 3


def test_a_next_page_equal_to_the_current_url_is_a_paging_loop() -> None:
    a = LIST + "?page=2&page_mode=paged"
    wms = ScriptedWms().on("entity/allocation/", page([rec(1)], a)).on(a, page([rec(2)], a))
    with mock_source(wms) as source:
        _, error = read_all(source, "allocation", FullWindow())
    assert error is not None
    assert error.code == "wms.paging_loop"
    assert len(wms.requests) == 2


def test_a_next_page_back_to_the_first_request_is_a_loop_whatever_the_parameter_order() -> None:
    first = LIST + "?page_size=1000&page_mode=sequenced&ordering=id"
    wms = ScriptedWms().on("entity/allocation/", page([rec(1)], first))
    with mock_source(wms) as source:
        _, error = read_all(source, "allocation", FullWindow())
    assert error is not None
    assert error.code == "wms.paging_loop"
    assert len(wms.requests) == 1


def test_empty_pages_that_keep_announcing_a_next_page_end_as_a_loop() -> None:
    counter = iter(range(1000))

    def endless(request: httpx.Request) -> httpx.Response:
        return page([], f"{LIST}?cursor=c{next(counter)}")

    wms = ScriptedWms().on("entity/allocation/", endless)
    for n in range(1000):
        wms.on(f"{LIST}?cursor=c{n}", endless)
    with mock_source(wms) as source:
        _, error = read_all(source, "allocation", FullWindow())
    assert error is not None
    assert error.code == "wms.paging_loop"
    assert len(wms.requests) == 3


def test_a_next_page_on_another_origin_is_refused_before_any_request() -> None:
    evil = "https://evil.example/prod/wms/lgfapi/v10/entity/allocation/?cursor=a"
    wms = ScriptedWms().on("entity/allocation/", page([rec(1)], evil))
    with mock_source(wms) as source:
        pages, error = read_all(source, "allocation", FullWindow())
    assert len(pages) == 1
    assert error is not None
    assert error.code == "wms.foreign_next_page"
    assert all(r.url.host == "wms.test" for r in wms.requests)


def test_a_page_whose_envelope_is_wrong_is_malformed_without_retrying() -> None:
    bad = httpx.Response(200, content=orjson.dumps({"results": {"id": 1}, "next_page": None}))
    wms = ScriptedWms().on("entity/allocation/", bad)
    with mock_source(wms) as source:
        _, error = read_all(source, "allocation", FullWindow())
    assert error is not None
    assert error.code == "wms.malformed_response"
    assert error.context["entity"] == "allocation"
    assert len(wms.requests) == 1


def test_hostile_entity_names_and_naive_windows_are_errors_without_requests() -> None:
    from datetime import datetime  # noqa: PLC0415 - only this test needs a naive datetime

    wms = ScriptedWms()
    with mock_source(wms) as source:
        _, bad_entity = read_all(source, "../admin", FullWindow())
        naive = datetime(2024, 1, 1)
        _, bad_window = read_all(source, "allocation", IncrementalWindow(naive))
        described = source.describe("x/y")
    assert bad_entity is not None
    assert bad_entity.code == "wms.bad_entity"
    assert bad_window is not None
    assert bad_window.code == "wms.bad_window"
    assert failure_of(described).code == "wms.bad_entity"
    assert wms.requests == []


DESCRIBE: dict[str, Any] = {
    "parameters": ["id", "mod_ts", "status_id"],
    "fields": {
        "id": {"type": "pk"},
        "mod_ts": {"type": "datetime"},
        "alloc_qty": {"type": "decimal"},
        "order_dtl_id": {"type": "relation"},
    },
}


def test_describe_builds_the_schema() -> None:
    wms = ScriptedWms().on(
        "entity/allocation/describe/", httpx.Response(200, content=orjson.dumps(DESCRIBE))
    )
    with mock_source(wms) as source:
        schema = success_of(source.describe("allocation"))
    assert schema.entity == "allocation"
    assert {"id", "mod_ts", "alloc_qty", "order_dtl_id"} == schema.field_names
    assert "status_id" in schema.filterable


def test_describe_of_an_unknown_entity_is_not_found() -> None:
    wms = ScriptedWms().on("entity/nope/describe/", wms_error(404, "NOT_FOUND", "Not found."))
    with mock_source(wms) as source:
        error = failure_of(source.describe("nope"))
    assert error.code == "wms.not_found"
    assert error.status == 404
    assert error.context["entity"] == "nope"
    assert error.context["reference"] == "ref-1234"


def test_describe_without_the_keys_is_a_bad_describe() -> None:
    body = orjson.dumps({"fields": {"x": {"type": "varchar"}}})
    wms = ScriptedWms().on("entity/allocation/describe/", httpx.Response(200, content=body))
    with mock_source(wms) as source:
        error = failure_of(source.describe("allocation"))
    assert error.code == "wms.bad_describe"
    assert error.context["cause"] == "schema.missing_key"


def test_list_entities_check_count_and_fetch_one() -> None:
    index = {"allocation": ROOT + "entity/allocation/", "order_hdr": ROOT + "entity/order_hdr/"}
    wms = ScriptedWms().on("entity/", httpx.Response(200, content=orjson.dumps(index)))
    wms.on("entity/allocation/", page([rec(1)], LIST + "?page=2", result_count=1234))
    wms.on("entity/order_hdr/", wms_error(404, "NOT_FOUND", "No records match the query."))
    wms.on("entity/allocation/7/", httpx.Response(200, content=orjson.dumps(rec(7))))
    wms.on("entity/allocation/8/", wms_error(404, "NOT_FOUND", "Not found."))
    with mock_source(wms) as source:
        assert success_of(source.list_entities()) == ("allocation", "order_hdr")
        assert success_of(source.check()) is None
        assert success_of(source.count("allocation", FullWindow(after_id=5))) == 1234
        assert success_of(source.count("order_hdr")) == 0
        assert success_of(source.fetch_one("allocation", 7)) == rec(7)
        assert success_of(source.fetch_one("allocation", 8)) is None
    counted = next(r for r in wms.requests if r.url.params.get("id__gt") == "5")
    assert query(counted)["page_size"] == "1"
    assert query(counted)["page_mode"] == "paged"


def test_fields_and_extra_filters_reach_the_request() -> None:
    wms = ScriptedWms().on("entity/allocation/", page([rec(1)]))
    with mock_source(
        wms, fields=("alloc_qty",), extra_filters={"facility_id__code": "FAC 1&2"}
    ) as source:
        read_all(source, "allocation", FullWindow())
    params = query(wms.requests[0])
    assert params["fields"] == "id,mod_ts,alloc_qty"
    assert params["facility_id__code"] == "FAC 1&2"


# -- retries ----------------------------------------------------------------------------------


def test_retry_after_in_seconds_and_as_an_http_date_is_honoured_and_counted() -> None:
    from datetime import UTC, datetime, timedelta  # noqa: PLC0415
    from email.utils import format_datetime  # noqa: PLC0415

    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    wms = ScriptedWms().on(
        "entity/allocation/",
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(503, headers={"Retry-After": later}, content=b"{}"),
        httpx.Response(429, headers={"Retry-After": "99999"}),
        page([rec(1)]),
    )
    delays: list[float] = []
    with mock_source(wms, delays, retry_after_cap=60.0) as source:
        pages, error = read_all(source, "allocation", FullWindow())
    assert error is None
    assert pages[0].retries == 3
    assert delays[0] == 7.0
    assert 28.0 <= delays[1] <= 30.0
    assert delays[2] == 60.0  # capped


def test_transient_statuses_and_network_errors_are_retried_with_jittered_backoff() -> None:
    wms = ScriptedWms().on(
        "entity/allocation/",
        httpx.Response(500),
        httpx.Response(502, content=b"<html>bad gateway</html>"),
        httpx.Response(504),
        httpx.Response(409, content=orjson.dumps({"code": "CONFLICT"})),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
        httpx.Response(200, content=b'{"results": [{"id": 1'),  # truncated
        page([rec(1)]),
    )
    delays: list[float] = []
    with mock_source(wms, delays, max_attempts=9, backoff_base=0.01, backoff_cap=0.02) as source:
        pages, error = read_all(source, "allocation", FullWindow())
    assert error is None
    assert pages[0].retries == 8
    # full jitter with the injected draw 0.5: half of min(cap, base * 2**(attempt-1))
    assert delays == [0.005, 0.01] + [0.01] * 6


def test_exhausted_retries_are_a_typed_error_after_the_configured_attempts() -> None:
    wms = ScriptedWms().on("entity/allocation/", wms_error(500, "INTERNAL_ERROR", "Boom."))
    delays: list[float] = []
    with mock_source(wms, delays, max_attempts=3) as source:
        pages, error = read_all(source, "allocation", FullWindow())
    assert pages == []
    assert error is not None
    assert error.code == "wms.retries_exhausted"
    assert (error.status, error.attempts) == (500, 3)
    assert error.context["wms_code"] == "INTERNAL_ERROR"
    assert error.context["reference"] == "ref-1234"
    assert error.context["entity"] == "allocation"
    assert len(wms.requests) == 3
    assert len(delays) == 2


def test_a_body_that_stays_unreadable_is_a_malformed_response() -> None:
    wms = ScriptedWms().on("entity/allocation/", httpx.Response(200, content=b'{"results": ['))
    with mock_source(wms, max_attempts=2) as source:
        _, error = read_all(source, "allocation", FullWindow())
    assert error is not None
    assert error.code == "wms.malformed_response"
    assert error.attempts == 2


def test_client_errors_are_not_retried_and_carry_the_wms_error_body() -> None:
    cases = [
        (400, "wms.bad_request"),
        (401, "wms.unauthorized"),
        (403, "wms.forbidden"),
        (405, "wms.http_error"),
    ]
    for status, code in cases:
        wms = ScriptedWms().on("entity/allocation/", wms_error(status, message="Invalid input."))
        with mock_source(wms) as source:
            _, error = read_all(source, "allocation", FullWindow())
        assert error is not None
        assert (error.code, error.status, error.attempts) == (code, status, 1)
        assert error.context["wms_code"] == "VALIDATION_ERROR"
        assert error.context["wms_message"] == "Invalid input."
        assert error.context["reference"] == "ref-1234"
        assert error.context["url"].startswith(LIST + "?")
        assert len(wms.requests) == 1


def test_concurrent_requests_never_exceed_max_concurrency() -> None:
    import threading  # noqa: PLC0415
    import time  # noqa: PLC0415

    lock = threading.Lock()
    in_flight = peak = 0

    def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.02)
        with lock:
            in_flight -= 1
        return page([rec(1)])

    wms = ScriptedWms().on("entity/allocation/", slow)
    with mock_source(wms, max_concurrency=2) as source:
        threads = [
            threading.Thread(target=read_all, args=(source, "allocation", FullWindow()))
            for _ in range(6)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(wms.requests) == 6
    assert peak == 2


# -- OAuth2 and secrets -----------------------------------------------------------------------

CLIENT_SECRET = "client-secret-0xSECRET"
USER_PASSWORD = "user-password-0xSECRET"


@dataclass
class FakeIdcs:
    """A token endpoint issuing ``tok-N`` tokens, and an API accepting only the valid ones."""

    client_secret: str = CLIENT_SECRET
    valid: set[str] = field(default_factory=set)
    issued: list[str] = field(default_factory=list)
    forms: list[dict[str, str]] = field(default_factory=list)

    def token(self, request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()).items())
        self.forms.append(form)
        expected = httpx.BasicAuth("cid", self.client_secret)._auth_header
        if request.headers.get("Authorization") != expected:
            return httpx.Response(401, content=orjson.dumps({"error": "invalid_client"}))
        token = f"tok-{len(self.issued) + 1}-0xSECRET"
        self.issued.append(token)
        self.valid.add(token)
        return httpx.Response(
            200, content=orjson.dumps({"access_token": token, "expires_in": 3600})
        )

    def api(self, reply: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
        def handler(request: httpx.Request) -> httpx.Response:
            bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if bearer not in self.valid:
                return wms_error(401, "NOT_AUTHENTICATED", "The access token is invalid.")
            return reply

        return handler


def oauth(grant: OAuth2Grant = OAuth2Grant.CLIENT_CREDENTIALS) -> OAuth2Config:
    return OAuth2Config(
        TOKEN_URL, "cid", CLIENT_SECRET, grant, username="integ", password=USER_PASSWORD
    )


def test_oauth_token_is_cached_and_refreshed_once_on_a_401() -> None:
    idcs = FakeIdcs()
    next_url = LIST + "?cursor=b"
    wms = ScriptedWms().on(TOKEN_URL, idcs.token)
    wms.on("entity/allocation/", idcs.api(page([rec(1)], next_url)))
    wms.on(next_url, idcs.api(page([rec(2)])))
    with mock_source(wms, auth=oauth()) as source:
        first = next(iter(source.read("allocation", FullWindow())))
        assert is_successful(first)
        idcs.valid.clear()  # every token expires mid-run
        pages, error = read_all(source, "allocation", FullWindow())
    assert error is None
    assert [r["id"] for p in pages for r in p.records] == [1, 2]
    assert len(idcs.issued) == 2  # one at start, one refresh after the 401
    assert idcs.forms[0] == {"grant_type": "client_credentials", "scope": DEFAULT_SCOPE}


def test_oauth_password_grant_sends_the_resource_owner() -> None:
    idcs = FakeIdcs()
    wms = ScriptedWms().on(TOKEN_URL, idcs.token)
    wms.on("entity/allocation/", idcs.api(page([rec(1)])))
    with mock_source(wms, auth=oauth(OAuth2Grant.PASSWORD)) as source:
        _, error = read_all(source, "allocation", FullWindow())
    assert error is None
    assert idcs.forms[0]["grant_type"] == "password"
    assert idcs.forms[0]["username"] == "integ"
    assert idcs.forms[0]["password"] == USER_PASSWORD


def test_a_token_rejected_twice_is_unauthorized() -> None:
    idcs = FakeIdcs()
    wms = ScriptedWms().on(TOKEN_URL, idcs.token)
    wms.on("entity/allocation/", wms_error(401, "NOT_AUTHENTICATED", "Nope."))
    with mock_source(wms, auth=oauth()) as source:
        _, error = read_all(source, "allocation", FullWindow())
    assert error is not None
    assert (error.code, error.status) == ("wms.unauthorized", 401)
    assert len(idcs.issued) == 2


def test_token_endpoint_refusal_and_hiccups() -> None:
    refused = ScriptedWms().on(TOKEN_URL, FakeIdcs(client_secret="other").token)
    with mock_source(refused, auth=oauth()) as source:
        error = failure_of(source.check())
    assert (error.code, error.status) == ("wms.unauthorized", 401)
    assert error.context["token_error"] == "invalid_client"
    idcs = FakeIdcs()
    flaky = ScriptedWms().on(TOKEN_URL, httpx.Response(503), httpx.ConnectError("x"), idcs.token)
    flaky.on("entity/", idcs.api(httpx.Response(200, content=b"{}")))
    with mock_source(flaky, auth=oauth()) as source:
        assert is_successful(source.check())


def test_the_token_is_refreshed_before_it_expires() -> None:
    idcs = FakeIdcs()
    now = [0.0]
    client = httpx.Client(transport=httpx.MockTransport(idcs.token))
    with client:
        provider = TokenProvider(oauth(), client, clock=lambda: now[0])
        first = provider.token()
        now[0] = 3600 - 61  # still inside the lifetime minus the 60 s margin
        assert provider.token() == first
        now[0] = 3600 - 59
        assert provider.token() != first
        second = provider.token()
        provider.invalidate(first)  # a stale token does not throw away the fresh one
        assert provider.token() == second
        assert len(idcs.issued) == 2
        assert "0xSECRET" not in repr(provider)


def test_no_secret_reaches_logs_errors_or_reprs() -> None:
    idcs = FakeIdcs()
    failures: list[WmsError] = []
    texts: list[str] = []
    with capture_logs() as logs:
        wrong = ScriptedWms().on("entity/allocation/", wms_error(401, "NOT_AUTHENTICATED", "No."))
        with mock_source(wrong, auth=BasicAuthConfig("integ", "wrong-0xSECRET")) as source:
            failures.append(read_all(source, "allocation", FullWindow())[1] or _missing())
            texts.append(repr(source))
        flaky = ScriptedWms().on(TOKEN_URL, idcs.token)
        flaky.on("entity/allocation/", idcs.api(httpx.Response(500)))
        with mock_source(flaky, auth=oauth(OAuth2Grant.PASSWORD), max_attempts=3) as source:
            failures.append(read_all(source, "allocation", FullWindow())[1] or _missing())
        refused = ScriptedWms().on(TOKEN_URL, FakeIdcs(client_secret="x").token)
        with mock_source(refused, auth=oauth()) as source:
            failures.append(failure_of(source.describe("allocation")))
        texts.append(repr(make_config(auth=oauth(OAuth2Grant.PASSWORD))))
    assert [f.code for f in failures] == [
        "wms.unauthorized",
        "wms.retries_exhausted",
        "wms.unauthorized",
    ]
    assert any(entry["event"] == "wms.retry" for entry in logs)
    texts += [repr(entry) for entry in logs]
    texts += [f"{f} {f!r} {f.context}" for f in failures]
    for text in texts:
        assert "0xSECRET" not in text, text
    for token in idcs.issued:
        assert all(token not in text for text in texts)


def _missing() -> WmsError:
    raise AssertionError("expected the read to fail")


def test_concurrent_callers_share_one_token_fetch() -> None:
    import threading  # noqa: PLC0415
    import time  # noqa: PLC0415

    idcs = FakeIdcs()

    def slow_token(request: httpx.Request) -> httpx.Response:
        time.sleep(0.02)
        return idcs.token(request)

    with httpx.Client(transport=httpx.MockTransport(slow_token)) as client:
        provider = TokenProvider(oauth(), client)
        tokens: list[str] = []
        threads = [
            threading.Thread(target=lambda: tokens.append(provider.token())) for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(idcs.issued) == 1
    assert set(tokens) == set(idcs.issued)


def test_id_bounds_ask_one_row_each_way_with_the_configured_filters() -> None:
    def first(request: httpx.Request) -> httpx.Response:
        return page([rec(3)] if query(request)["ordering"] == "id" else [rec(97)])

    wms = ScriptedWms().on("entity/allocation/", first)
    with mock_source(wms, extra_filters={"facility_id__code": "FAC1"}) as source:
        assert unsafe_perform_io(source.id_bounds("allocation").unwrap()).value == (3, 97)
    asked = [query(r) for r in wms.requests]
    assert [q["ordering"] for q in asked] == ["id", "-id"]
    assert all(q["page_size"] == "1" and q["facility_id__code"] == "FAC1" for q in asked)


def test_id_bounds_refuse_an_id_that_is_not_an_integer() -> None:
    wms = ScriptedWms().on("entity/allocation/", page([{"id": "7"}]))
    with mock_source(wms) as source:
        result = source.id_bounds("allocation")
    assert not is_successful(result)
    assert unsafe_perform_io(result.failure()).code == "wms.malformed_response"
