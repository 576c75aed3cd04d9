"""The HTTP server (stdlib, HTTP/1.1 keep-alive) and :class:`WmsSimulator`, its public face."""

from __future__ import annotations

import contextlib
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import orjson

from gruponos.simulator.api import Response, WmsApi, error_response
from gruponos.simulator.auth import TOKEN_PATH, Authenticator, Principal
from gruponos.simulator.config import FaultKind, SimulatorConfig
from gruponos.simulator.faults import FaultInjector
from gruponos.simulator.world import World

_GATEWAY_HTML = "<html><head><title>{0}</title></head><body><h1>{0}</h1></body></html>"
_SIMPLE_FAULTS: dict[FaultKind, tuple[int, str, str]] = {
    FaultKind.RATE_LIMIT: (429, "TOO_MANY_REQUESTS", "Request was throttled."),
    FaultKind.SERVER_ERROR: (500, "INTERNAL_ERROR", "An unexpected error occurred."),
    FaultKind.UNAVAILABLE: (503, "SERVICE_UNAVAILABLE", "Service temporarily unavailable."),
    FaultKind.CONFLICT: (409, "CONFLICT", "Record changed, try again."),
}
_HTML_FAULTS = {
    FaultKind.BAD_GATEWAY: (502, "502 Bad Gateway"),
    FaultKind.GATEWAY_TIMEOUT: (504, "504 Gateway Time-out"),
}


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # joined on close, so no thread outlives the simulator
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: WmsSimulator) -> None:
        self.sim = sim
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or go away mid-response are routine here; anything else is a bug.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "WmsSimulator/1.0"
    timeout = 120  # an idle keep-alive connection is dropped after this
    server: _Server
    # (path, query, origin, world generation, response) of the page rendered ahead
    read_ahead: tuple[str, str, str, int, Response] | None = None
    in_flight = False  # this connection's request is counted in the simulator's in_flight

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm and the
        # client's delayed ACK stall every small keep-alive response by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self.server.sim.dispatch(self, "GET")

    def do_POST(self) -> None:
        self.server.sim.dispatch(self, "POST")

    def do_PUT(self) -> None:
        self.server.sim.dispatch(self, "PUT")

    def do_DELETE(self) -> None:
        self.server.sim.dispatch(self, "DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a benchmark must not pay for access logs."""

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send(
        self, response: Response, body: bytes | None = None, length: int | None = None
    ) -> None:
        data = response.body if body is None else body
        self.server.sim.answered(self)  # before the first byte: see WmsSimulator.in_flight
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(data) if length is None else length))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def reset(self, response: Response) -> None:
        """Headers and half the body, then an abortive close (TCP RST)."""
        self.send(response, response.body[: len(response.body) // 2], len(response.body))
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # drop the makefile reference so close() really closes the socket
        self.connection.close()


class WmsSimulator:
    """A stand-in Oracle WMS Cloud (lgfapi v10) on a real socket.

    >>> with WmsSimulator(SimulatorConfig(records=100)) as sim:  # doctest: +SKIP
    ...     httpx.get(f"{sim.api_url}/entity/allocation/", auth=("wms_user", "wms_password"))
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.world = World(self.config)
        self.api = WmsApi(self.world, self.config)
        self.auth = Authenticator(self.config)
        self.faults = FaultInjector(
            self.config.fault_rate, self.config.fault_kinds, self.config.fault_seed
        )
        self.requests = 0
        self.read_ahead_hits = 0
        #: Requests being answered right now, and the most at once since the server started
        #: (tests of a client-side request cap read them: the server's own view). A request
        #: counts from its arrival until its answer starts going out: a client that has read the
        #: whole answer may send its next request before this thread has run again, so counting
        #: until the write returned would see two requests of one client slot at once.
        self.in_flight = 0
        self.max_in_flight = 0
        self._in_flight_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> WmsSimulator:
        with self._in_flight_lock:
            self.in_flight = self.max_in_flight = 0
        self._server = _Server((self.config.host, self.config.port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="wms-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with server.connections_lock:
            for conn in list(server.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)  # wakes handlers waiting on keep-alive
        server.server_close()
        if self._thread is not None:
            self._thread.join()

    def serve_forever(self, ready: Callable[[WmsSimulator], None] | None = None) -> None:
        """Run in the foreground until interrupted (the CLI); ``ready`` is called once started."""
        self.start()
        try:
            if ready is not None:
                ready(self)
            while True:
                time.sleep(3600)
        finally:
            self.stop()

    def __enter__(self) -> WmsSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            msg = "the simulator is not running"
            raise RuntimeError(msg)
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://host:port/<env>``, the "base" of the WMS API guide."""
        return f"{self.origin}/{self.config.env}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/wms/lgfapi/v10"

    @property
    def token_url(self) -> str:
        return f"{self.origin}{TOKEN_PATH}"

    # -- control and ground truth (for tests, demos and benchmarks) --------------------------

    def force_fault(self, kind: FaultKind, count: int = 1) -> None:
        """The next ``count`` list/detail requests fail with ``kind``."""
        self.faults.force(kind, count)

    def expire_tokens(self) -> None:
        self.auth.expire_all()

    def advance_clock(self, seconds: float) -> None:
        self.world.advance_clock(seconds)

    def touch(self, entity: str, n: int = 1) -> list[int]:
        return self.world.touch(entity, n)

    def insert(self, entity: str, n: int = 1) -> list[int]:
        return self.world.insert(entity, n)

    def delete(self, entity: str, n: int = 1) -> list[int]:
        return self.world.delete(entity, n)

    def truth(self, entity: str) -> dict[int, datetime]:
        """Live id -> mod_ts (aware, UTC) right now."""
        return self.world.truth(entity)

    def deleted_ids(self, entity: str) -> set[int]:
        return self.world.deleted_ids(entity)

    def get_record(self, entity: str, ident: int) -> dict[str, Any] | None:
        """The record exactly as the API serves it now (None when deleted or unknown)."""
        record = self.world.record(entity, ident, self.api.root(self.origin))
        # Rendered records share pooled relation dicts; hand out a private copy.
        return None if record is None else dict(orjson.loads(orjson.dumps(record)))

    # -- request handling --------------------------------------------------------------------

    def dispatch(self, handler: _Handler, method: str) -> None:
        with self._in_flight_lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        handler.in_flight = True
        try:
            self._dispatch(handler, method)
        finally:
            self.answered(handler)  # if nothing was sent (the handler failed)

    def answered(self, handler: _Handler) -> None:
        """``handler``'s request no longer counts as in flight (once per request)."""
        if handler.in_flight:
            handler.in_flight = False
            with self._in_flight_lock:
                self.in_flight -= 1

    def _dispatch(self, handler: _Handler, method: str) -> None:
        self.requests += 1
        body = handler.read_body()
        url = urlsplit(handler.path)
        if url.path.rstrip("/") == TOKEN_PATH:
            if method != "POST":
                handler.send(error_response(405, "METHOD_NOT_ALLOWED", "Method not allowed."))
                return
            handler.send(self.auth.issue(body, handler.headers.get("Authorization")))
            return
        prefix = f"/{self.config.env}/wms/lgfapi/"
        version, _, rest = url.path.removeprefix(prefix).partition("/")
        if not url.path.startswith(prefix) or version not in ("v9", "v10"):
            handler.send(error_response(404, "NOT_FOUND", "Not found.", {"path": url.path}))
            return
        principal = self.auth.authenticate(handler.headers.get("Authorization"))
        if isinstance(principal, Response):
            handler.send(principal)
            return
        if method != "GET":
            handler.send(error_response(405, "METHOD_NOT_ALLOWED", "Method not allowed."))
            return
        origin = f"http://{handler.headers.get('Host') or f'{self.config.host}:{self.port}'}"
        parts = [p for p in rest.split("/") if p]
        is_data = len(parts) in (2, 3) and parts[0] == "entity" and parts[-1] != "describe"
        fault = self.faults.next_fault() if is_data else None
        if is_data and self.config.latency_seconds:
            time.sleep(self.config.latency_seconds)  # latency mode: a WMS far away

        def serve() -> Response:
            cached, handler.read_ahead = handler.read_ahead, None
            if cached is not None and cached[:4] == (
                url.path,
                url.query,
                origin,
                self.world.generation,
            ):
                self.read_ahead_hits += 1
                return cached[4]
            return self.api.handle(rest, url.query, origin)

        if fault is not None:
            self._fault(handler, fault, principal, serve)
            return
        response = serve()
        handler.send(response)
        if response.next_link and self.config.read_ahead and self.config.change_rate == 0:
            self._read_ahead(handler, response.next_link, prefix + version + "/", origin)

    def _read_ahead(self, handler: _Handler, link: str, api_prefix: str, origin: str) -> None:
        """Render the next sequenced page now, while the client parses this one. Used only if
        the client asks for exactly that link and nothing changed in between."""
        nxt = urlsplit(link)
        generation = self.world.generation
        response = self.api.handle(nxt.path.removeprefix(api_prefix), nxt.query, origin)
        handler.read_ahead = (nxt.path, nxt.query, origin, generation, response)

    def _fault(
        self,
        handler: _Handler,
        kind: FaultKind,
        principal: Principal,
        serve: Callable[[], Response],
    ) -> None:
        cfg = self.config
        retry = {"Retry-After": str(cfg.retry_after_seconds)}
        if kind in _SIMPLE_FAULTS:
            status, code, message = _SIMPLE_FAULTS[kind]
            headers = retry if status in (429, 503) else {}
            handler.send(error_response(status, code, message, {}, headers))
        elif kind in _HTML_FAULTS:
            status, title = _HTML_FAULTS[kind]
            html = _GATEWAY_HTML.format(title).encode()
            handler.send(Response(status, html, {}, "text/html"))
        elif kind is FaultKind.SLOW:
            time.sleep(cfg.slow_seconds)
            handler.send(serve())
        elif kind is FaultKind.RESET:
            handler.reset(serve())
        elif kind is FaultKind.TRUNCATED:
            response = serve()
            handler.send(response, response.body[: max(1, len(response.body) * 2 // 3)])
        elif principal.token is not None:  # TOKEN_EXPIRED: only a bearer token can expire
            self.auth.revoke(principal.token)
            handler.send(self.auth.token_expired())
        else:
            handler.send(serve())
