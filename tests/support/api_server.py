"""An ASGI app served by uvicorn on a loopback port in a thread, for tests over real HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (a free port); yields its base URL; stops it afterwards
    (lifespan shutdown included)."""
    # host/port rather than a socket of our own: uvicorn then sets TCP_NODELAY on the
    # connections (with a given socket, every keep-alive response waited 40 ms for an ACK).
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, lifespan="on", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the API server did not start")
            threading.Event().wait(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
